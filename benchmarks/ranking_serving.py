"""Serving latency of the ranking models: one request scores 500 candidates in one forward pass.

The issue's goal: 500 candidates per request, p99 <= 5 ms for DeepFM and <= 10 ms for DIN with
a behaviour sequence of 50, in-process on 2 cores. On MovieLens-100K, protocol P3 (the schema
of ``benchmarks/ranking_ctr.py``), one request is one user's features and full history (50
real items, the worst case; users drawn from the rows whose history is full) repeated for
``--candidates`` distinct items with their own release year and genres. Each scorer runs one
batched forward pass in ``eval()`` under ``torch.inference_mode()``; feature encoding is not
timed there. The Pipeline's ranker (``ecorec ranker deepfm|din``: features built from the
profile and the catalog by the same code as training, then the forward pass, predictions and
fused scores written to 500 candidates) is timed on a synthetic platform in the same turns.

In the same process and on the same requests, so machine load hits all alike:

* ecorec's ``deepfm`` (whose default pools the history as a bag) and ``din``;
* the peer, DeepCTR-Torch 0.2.9's DeepFM (no history, as in ``ranking_ctr.py``) and DIN (its
  default attention unit, (64, 16) with Dice), when ``make bench-peers`` has installed it;
* a floor: logistic regression as one embedding-sum over every id of the row.

Weights are the models' seeded initial ones: latency does not depend on their values. Scorers
take turns (``--turns`` rounds of ``--requests / --turns`` each, after ``--warmup`` requests
each), so a drift in the shared machine's load is spread over all of them; percentiles pool
the rounds. The heap is frozen (``gc.freeze()``) after loading, as a serving process does.

    make bench-peers                                        # optional: DeepCTR-Torch
    .venv/bin/python benchmarks/ranking_serving.py          # threads 1 and 2, ~3 minutes
    .venv/bin/python benchmarks/ranking_serving.py --threads 2 --requests 500 --json
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from torch import nn

from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Creator, Item, User
from ecorec.core.profile import Profile
from ecorec.data.synthetic import PlatformSpec
from ecorec.data.synthetic.history import iter_event_tables
from ecorec.data.synthetic.population import iter_entities
from ecorec.factory import RANKERS
from ecorec.features.ctr import CTRSplit, build_ctr_split
from ecorec.features.entities import Entities
from ecorec.features.platform_split import build_platform_split
from ecorec.features.schema import Batch, FieldKind, Schema, TensorTable
from ecorec.ranking.models import build_model

ROOT = Path(__file__).resolve().parents[1]
ML100K = ROOT.parent / "shared" / "datasets" / "ml-100k"
PEERS = ROOT / ".bench-peers"
SHIMS = ROOT / "benchmarks" / "peer_shims"
EMBED, MLP = 16, (256, 128)  # as in ranking_ctr.py
#: The issue's p99 goals in milliseconds.
GOALS = {
    "ecorec deepfm": 5.0,
    "ecorec din": 10.0,
    "ecorec ranker deepfm": 5.0,
    "ecorec ranker din": 10.0,
}

Scorer = Callable[[], None]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summarize(ms: list[float]) -> dict[str, float]:
    """p50/p90/p99/mean/max of latencies in milliseconds."""
    a = np.asarray(ms)
    out = {f"p{q}": round(float(np.percentile(a, q)), 3) for q in (50, 90, 99)}
    out["mean"] = round(float(a.mean()), 3)
    out["max"] = round(float(a.max()), 3)
    out["n"] = len(ms)
    return out


def sample(score: Scorer, n: int) -> list[float]:
    """Wall-clock milliseconds of ``n`` calls of ``score``, one by one."""
    ms = []
    for _ in range(n):
        started = time.perf_counter()
        score()
        ms.append((time.perf_counter() - started) * 1000)
    return ms


def time_requests(score: Scorer, requests: int, warmup: int = 300) -> dict[str, float]:
    """Latency percentiles of any scorer: ``warmup`` untimed calls, then ``requests`` timed.

    ``score`` serves one request per call (it picks its own next request), so a new scorer,
    such as the Pipeline's ranker component with its feature encoding, is timed the same way.
    """
    sample(score, warmup)
    return summarize(sample(score, requests))


def time_in_turns(
    scorers: dict[str, Scorer], requests: int, warmup: int, turns: int
) -> dict[str, dict[str, float]]:
    """:func:`time_requests` for several scorers, taking turns so load drift hits all alike."""
    for score in scorers.values():
        sample(score, warmup)
    ms: dict[str, list[float]] = {name: [] for name in scorers}
    per_turn = max(1, requests // turns)
    for _ in range(turns):
        for name, score in scorers.items():
            ms[name] += sample(score, per_turn)
    return {name: summarize(values) for name, values in ms.items()}


def build_requests(split: CTRSplit, users: int, candidates: int, seed: int) -> list[Batch]:
    """``users`` requests: a user with a full history against ``candidates`` distinct items.

    User fields and the history come from one row of a user whose history is full; item fields
    (the target and every other ``item`` group field) from one row of each candidate item.
    """
    schema = split.schema
    assert schema.sequence is not None
    rows = TensorTable(
        {
            k: torch.cat([split.train.features[k], split.valid.features[k], split.test.features[k]])
            for k in split.train.features
        },
        {},
    )
    history = rows.features[schema.sequence]
    full = (history > 0).all(1).nonzero().ravel().numpy()
    rng = np.random.default_rng(seed)
    user_codes = rows.features["user_id"].numpy()
    # one row per user with a full history (the latest: its history is the user's last 50)
    _, last = np.unique(user_codes[full][::-1], return_index=True)
    user_rows = full[::-1][last]
    user_rows = rng.permutation(user_rows)[:users]
    items, item_rows = np.unique(rows.features[schema.target].numpy(), return_index=True)
    if len(items) < candidates:
        raise SystemExit(f"only {len(items)} distinct items, asked for {candidates} candidates")
    per_item = {f.name for f in schema.fields if f.group == "item" or f.name == schema.target}
    requests = []
    for r in user_rows:
        chosen = torch.from_numpy(rng.choice(item_rows, candidates, replace=False))
        batch = {}
        for name, column in rows.features.items():
            if name in per_item:
                batch[name] = column[chosen]
            else:  # user fields and the history: the same for every candidate
                batch[name] = column[r : r + 1].expand(candidates, *column.shape[1:]).contiguous()
        requests.append(batch)
    return requests


class EmbeddingSumLR(nn.Module):
    """The floor: logistic regression on one-hot ids, as one gather and one sum per row.

    Every id column (sparse fields, bag and history positions) reads its own block of one
    ``(rows, 1)`` table; PAD reads a zero row.
    """

    def __init__(self, schema: Schema) -> None:
        super().__init__()
        self.names = [f.name for f in schema.fields if f.kind is not FieldKind.DENSE]
        bases, rows = [], 1
        for f in schema.fields:
            if f.kind is not FieldKind.DENSE:
                vocab = schema.table_of(f.name).vocab_size
                bases += [rows - 1] * f.max_len
                rows += vocab - 1
        self.register_buffer("base", torch.tensor(bases), persistent=False)
        self.table = nn.Embedding(rows, 1, padding_idx=0)
        self.bias = nn.Parameter(torch.zeros(1))

    base: torch.Tensor

    def forward(self, batch: Batch) -> torch.Tensor:
        size = batch[self.names[0]].shape[0]
        ids = torch.cat([batch[n].view(size, -1) for n in self.names], 1)
        weights: torch.Tensor = self.table(torch.where(ids > 0, ids + self.base, 0))
        return weights.sum((1, 2)) + self.bias


def forward_scorer(model: Callable[[Any], Any], inputs: list[Any]) -> Scorer:
    """A scorer serving ``inputs`` in turn with one ``model(input)`` call each."""
    cycle = itertools.cycle(inputs)

    def score() -> None:
        with torch.inference_mode():
            model(next(cycle))

    return score


def ranker_scorers(candidates: int, users: int, seed: int) -> dict[str, Scorer]:
    """The Pipeline's ranker (features from profile + catalog, then the forward pass).

    On a synthetic platform (its vocabularies fitted on its impressions), each request user's
    profile holds 60 consumed items, so the 50-wide history is full; every request scores
    ``candidates`` distinct catalog items and writes predictions and fused scores.
    """
    spec = PlatformSpec(users=2000, items=5000, creators=200, advertisers=2, days=5, seed=seed)
    users_and_items = [e for block in iter_entities(spec) for e in block]
    entities = Entities.of(
        [e for e in users_and_items if isinstance(e, User)],
        [e for e in users_and_items if isinstance(e, Item)],
        [e for e in users_and_items if isinstance(e, Creator)],
    )
    split = build_platform_split(
        pa.concat_tables(iter_event_tables(spec)), entities, ratios=(0.9, 0.1)
    )
    rng = np.random.default_rng(seed)
    item_ids = np.asarray(list(entities.items))
    now = 2e9
    requests = []
    for user in rng.choice(np.asarray(list(entities.users)), users, replace=False).tolist():
        picked = rng.choice(item_ids, candidates + 60, replace=False).tolist()
        recent = [(item, now - 3600.0 * (60 - k)) for k, item in enumerate(picked[candidates:])]
        requests.append((Request(user, ts=now), Profile(user, recent=recent), picked[:candidates]))
    out: dict[str, Scorer] = {}
    for name in ("deepfm", "din"):
        ranker = RANKERS[name]({"embedding_dim": EMBED, "mlp": list(MLP)})
        ranker.features, ranker.entities = split.features, entities  # type: ignore[attr-defined]
        ranker.model = build_model(name, split.schema, {"embedding_dim": EMBED, "mlp": MLP}).eval()  # type: ignore[attr-defined]
        cycle = itertools.cycle(requests)

        def score(ranker: Any = ranker, cycle: Any = cycle) -> None:
            request, profile, ids = next(cycle)
            ranker(request, profile, [Candidate(i, 0.0, "bench") for i in ids])

        out[f"ecorec ranker {name}"] = score
    return out


def peer_scorers(split: CTRSplit, requests: list[Batch]) -> dict[str, Scorer]:
    """DeepCTR-Torch's DeepFM and DIN on the same rows, as its ``forward`` reads them."""
    sys.path[:0] = [str(PEERS), str(SHIMS), str(ROOT / "benchmarks")]
    from deepctr_torch.models import DIN, DeepFM

    from ranking_ctr import peer_columns, peer_inputs

    out = {}
    for name, din in (("deepfm", False), ("din", True)):
        columns = peer_columns(split, din)
        if din:
            model = DIN(columns, [split.schema.target], dnn_hidden_units=MLP, seed=2020)
        else:
            model = DeepFM(columns, columns, dnn_hidden_units=MLP, seed=2020)
        model.eval()
        inputs = []
        for batch in requests:
            x = peer_inputs(split, TensorTable(batch, {}), din)
            # what the peer's predict() concatenates before its forward, in its column order
            parts = [np.asarray(x[f]).reshape(len(x[f]), -1) for f in model.feature_index]
            inputs.append(torch.from_numpy(np.concatenate(parts, -1)).float())
        out[f"DeepCTR-Torch {name}"] = forward_scorer(model, inputs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K))
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per scorer")
    parser.add_argument("--warmup", type=int, default=300, help="untimed requests per scorer")
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--threads", default="1,2", help="torch thread counts, comma-separated")
    parser.add_argument("--users", type=int, default=100, help="distinct request users")
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peer", action="store_true", help="skip DeepCTR-Torch")
    parser.add_argument(
        "--no-ranker", action="store_true", help="skip the Pipeline ranker (features + forward)"
    )
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    split = build_ctr_split(args.data)
    requests = build_requests(split, args.users, args.candidates, args.seed)
    config = {"embedding_dim": EMBED, "mlp": MLP}
    scorers: dict[str, Scorer] = {
        "floor: embedding-sum LR": forward_scorer(EmbeddingSumLR(split.schema).eval(), requests),
    }
    for name in ("deepfm", "din"):
        model = build_model(name, split.schema, config).eval()
        scorers[f"ecorec {name}"] = forward_scorer(model, requests)
    if not args.no_ranker:
        scorers.update(ranker_scorers(args.candidates, min(args.users, 200), args.seed))
    notes = []
    if args.no_peer:
        notes.append("peer skipped (--no-peer)")
    elif not PEERS.exists():
        notes.append("peer skipped: DeepCTR-Torch not installed (`make bench-peers`)")
    else:
        scorers.update(peer_scorers(split, requests))
    for note in notes:
        log(note)
    gc.collect()
    gc.freeze()

    results: dict[str, dict[str, dict[str, float]]] = {}
    loads: dict[str, list[float]] = {}
    for count in args.threads.split(","):
        torch.set_num_threads(int(count))
        log(f"threads={count}: {len(scorers)} scorers x {args.requests} requests")
        load = os.getloadavg()[0]
        results[count] = time_in_turns(scorers, args.requests, args.warmup, args.turns)
        # other processes on the same cores are what moves these figures most
        loads[count] = [round(load, 2), round(os.getloadavg()[0], 2)]

    ratios: dict[str, dict[str, float]] = {}
    print(f"{len(requests)} users x {args.candidates} candidates, history 50 of 50 real items")
    for threads, timed in results.items():
        print(f"\ntorch threads = {threads} (1-min load average {loads[threads]} before/after)")
        print(
            f"{'scorer':<26} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'goal':>10}"
        )
        for label, t in timed.items():
            goal = GOALS.get(label)
            verdict = (
                f"{'met' if t['p99'] <= goal else 'MISSED'} {goal:g}" if goal is not None else ""
            )
            print(
                f"{label:<26} {t['p50']:>8.3f} {t['p90']:>8.3f} {t['p99']:>8.3f} "
                f"{t['mean']:>8.3f} {verdict:>10}"
            )
        floor = timed["floor: embedding-sum LR"]["p50"]
        for name in ("deepfm", "din"):
            ours, peer = timed[f"ecorec {name}"], timed.get(f"DeepCTR-Torch {name}")
            r = {"p50_over_floor_p50": round(ours["p50"] / floor, 2)}
            if peer is not None:
                r["p50_over_peer_p50"] = round(ours["p50"] / peer["p50"], 3)
                r["p99_over_peer_p99"] = round(ours["p99"] / peer["p99"], 3)
            ratios[f"{name}@{threads}"] = r
            print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in r.items()))
    if args.json:
        machine = {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        }
        setup = {
            k: getattr(args, k) for k in ("requests", "warmup", "candidates", "users", "turns")
        }
        document = {
            "benchmark": "ranking_serving",
            "setup": setup,
            "goals_p99_ms": GOALS,
            "results": results,
            "ratios": ratios,
            "load_average": loads,
            "notes": notes,
            "machine": machine,
        }
        print(json.dumps(document))


if __name__ == "__main__":
    main()
