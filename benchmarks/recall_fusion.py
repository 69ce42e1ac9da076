"""How far can fusing recall channels raise candidate recall on MovieLens-100K (P1)?

The recall issue asks the fused set of 200 for Recall@200 >= 1.05 x the best single channel's.
This measures, on the recbole-811 split, what three fusions of the *same* channel outputs reach
on test, each fitted on the validation part only:

* ``merge``: the pipeline's quota merge, quotas as configured (channels in priority order);
* ``rrf``: reciprocal-rank fusion, ``sum_c 1 / (k0 + rank_c(i))``, k0 picked on valid;
* ``learned``: a gradient-boosted classifier (scikit-learn) over each item's rank in every
  channel, its training popularity and the user's history length, trained on the validation
  part's labels and scored on test users — a learned pre-ranker, the strongest fusion here;

and, for scale, the depth at which the best single channel alone reaches 1.05 x its own
Recall@200 (how many more slots the goal would be worth).

    .venv/bin/python benchmarks/recall_fusion.py          # about 4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from ecorec.core.config import EcorecConfig
from ecorec.metrics.evaluation import RecallEvaluator
from ecorec.metrics.protocols import DEFAULT_SEED, prepare_split

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
CHANNELS = "als,ease,lightgcn,item_cf,user_cf,popular,content,long_tail,explore"
DEPTH, SIZE = 600, 200


def recall_at(lists: dict[str, list[int]], relevant: dict[str, np.ndarray]) -> float:
    return float(np.mean([np.isin(relevant[u], lists[u][:SIZE]).mean() for u in lists]))


def rrf(by_channel: dict[str, np.ndarray], k0: float) -> list[int]:
    scores: dict[int, float] = {}
    for codes in by_channel.values():
        for rank, code in enumerate(codes[:DEPTH].tolist()):
            scores[code] = scores.get(code, 0.0) + 1.0 / (k0 + rank)
    return sorted(scores, key=scores.__getitem__, reverse=True)


def rank_features(
    outputs: dict[str, dict[str, np.ndarray]], names: list[str], counts: np.ndarray, history: Any
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per user: candidate codes and features (log rank per channel, popularity, history)."""
    out = {}
    for user, by_channel in outputs.items():
        ranks: dict[int, np.ndarray] = {}
        for col, name in enumerate(names):
            for rank, code in enumerate(by_channel[name][:DEPTH].tolist()):
                ranks.setdefault(code, np.full(len(names), DEPTH + 100.0))[col] = rank
        codes = np.fromiter(ranks, np.int64, len(ranks))
        x = np.column_stack(
            [
                np.log1p(np.stack(list(ranks.values()))),
                np.log1p(counts[codes]),
                np.full(len(codes), np.log1p(len(history[user]))),
            ]
        )
        out[user] = (codes, x)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K))
    parser.add_argument("--channels", default=CHANNELS)
    args = parser.parse_args()
    names = args.channels.split(",")
    config = EcorecConfig.model_validate(
        {"pipeline": {"recall": {"channels": names, **{c: {"n": DEPTH} for c in names}}}}
    )
    split = prepare_split(args.data, "recbole-811", DEFAULT_SEED)
    evaluator = RecallEvaluator(split, names, config)
    evaluator.train()
    result = evaluator.evaluate()
    names = list(evaluator.trained)
    single = {n: result["channels"][n]["recall@200"] for n in names}
    best = max(single, key=single.__getitem__)
    parts = {p: evaluator.masked_outputs(p) for p in ("valid", "test")}
    relevant = {p: split.relevant[p] for p in parts}
    report: dict[str, Any] = {
        "best_single": {best: single[best]},
        "merge": result["fused"]["recall@200"],
    }
    # RRF: k0 chosen on valid
    tuned = {
        k0: recall_at({u: rrf(b, k0) for u, b in parts["valid"].items()}, relevant["valid"])
        for k0 in (10, 60, 200)
    }
    k0 = max(tuned, key=tuned.__getitem__)
    report["rrf"] = recall_at({u: rrf(b, k0) for u, b in parts["test"].items()}, relevant["test"])
    report["rrf_k0"] = k0
    # learned pre-ranker: fit on valid labels, score test
    feats = {p: rank_features(parts[p], names, split.train_counts, split.history) for p in parts}
    x = np.concatenate([f for _, f in feats["valid"].values()])
    y = np.concatenate([np.isin(c, relevant["valid"][u]) for u, (c, _) in feats["valid"].items()])
    model = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=3000, random_state=0
    ).fit(x, y)
    learned = {
        u: c[np.argsort(-model.predict_proba(f)[:, 1])].tolist()
        for u, (c, f) in feats["test"].items()
    }
    report["learned"] = recall_at(learned, relevant["test"])
    # how deep the best channel must go to reach the goal on its own
    goal = 1.05 * single[best]
    depth = next(
        (
            d
            for d in range(SIZE, DEPTH + 1, 10)
            if np.mean(
                [np.isin(relevant["test"][u], b[best][:d]).mean() for u, b in parts["test"].items()]
            )
            >= goal
        ),
        None,
    )
    report["goal"] = round(goal, 4)
    report["best_single_depth_for_goal"] = depth
    for key in ("rrf", "learned", "merge"):
        report[f"{key}_ratio"] = round(report[key] / single[best], 4)
    print(json.dumps({"benchmark": "recall_fusion", **report}, default=float))


if __name__ == "__main__":
    main()
