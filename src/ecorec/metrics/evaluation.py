"""Offline evaluation of recall: every channel and the fused candidate set on one split.

The evaluator trains each configured channel on the train part only, then asks it for
candidates exactly as the Pipeline would — one :class:`Request` and the user's
:class:`Profile` (training history, newest last) per user — and scores the lists with the
protocol's masks (see :mod:`ecorec.metrics.protocols`). The fused set is what ``Merge`` makes
of all applicable channels' outputs for the same requests: quotas from the configuration, or
an equal share of :data:`FUSED_SIZE`, dedupe in channel order, a quota a channel cannot fill
for a user handed to the others (see :mod:`ecorec.metrics.fused`), scored in merge order.

A channel that cannot apply to the data (``train`` raises ``ValueError``: content without
metadata, novice creators without creators, curated without pools) is reported as skipped
with its reason; one that fails at request time for a user counts a failure and returns
nothing for that user, as the Pipeline would serve the others.

Example:
    >>> from ecorec.data.datasets.base import Dataset, interactions_table
    >>> table = interactions_table(["a"] * 10 + ["b"] * 10, [str(i) for i in range(20)])
    >>> result = evaluate_recall(Dataset("toy", table), channels=["popular"])
    >>> sorted(result["channels"]), result["fused"]["channels"]
    (['popular'], ['popular'])

"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ecorec.core.config import ConfigError, EcorecConfig
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.datasets import Dataset
from ecorec.factory import CHANNELS
from ecorec.metrics.fused import FUSED_SIZE, backfilled, fused_codes, fused_quotas
from ecorec.metrics.protocols import DEFAULT_SEED, K_MAX, EvalSplit, prepare_split
from ecorec.recall.merge import Merge

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``: ``stage`` is ``train:<channel>`` or ``evaluate``.
ProgressFn = Callable[[str, int, int], None]


def fused_candidates(
    request: Request, masked: set[str], outputs: dict[str, list[Candidate]], quotas: dict[str, int]
) -> list[Candidate]:
    """The pipeline's ``Merge`` of ``outputs`` under ``quotas``, backfilled to the set size."""
    profile = Profile(request.user_id, seen=masked)

    def once(current: dict[str, int]) -> tuple[list[Candidate], Counter[str]]:
        merge = Merge({"quota": current, "default_quota": 0, "max_candidates": FUSED_SIZE})
        merged = merge(request, profile, outputs)
        return merged, Counter(c.channel for c in merged)

    return backfilled(once, quotas)


def check_channels(names: Sequence[str]) -> None:
    """Refuse an empty list or a name :data:`ecorec.factory.CHANNELS` does not know."""
    if not names:
        raise ValueError("name at least one recall channel to evaluate")
    unknown = [name for name in names if name not in CHANNELS]
    if unknown:
        raise ConfigError(
            f"unknown recall channel(s) {', '.join(unknown)}; known: {', '.join(CHANNELS)}"
        )


class RecallEvaluator:
    """Train channels on a split's train part and score them and their fusion.

    Args:
        split: the prepared split (see :func:`~ecorec.metrics.protocols.prepare_split`).
        channels: names from :data:`ecorec.factory.CHANNELS`, in merge priority order.
        config: where channel parameters and quotas come from (``[pipeline.recall]``).
        part: ``test`` (the reported figures) or ``valid`` (for tuning).

    Example:
        >>> from ecorec.data.datasets.base import Dataset, interactions_table
        >>> from ecorec.metrics.protocols import prepare_split
        >>> table = interactions_table(["a"] * 10, [str(i) for i in range(10)])
        >>> evaluator = RecallEvaluator(prepare_split(Dataset("toy", table)), ["popular"])
        >>> evaluator.train()
        >>> evaluator.evaluate()["channels"]["popular"]["recall@10"]
        0.0

    """

    def __init__(
        self,
        split: EvalSplit,
        channels: Sequence[str],
        config: EcorecConfig | None = None,
        part: str = "test",
    ) -> None:
        check_channels(channels)
        self.split = split
        self.names = list(dict.fromkeys(channels))
        self.config = config or EcorecConfig()
        self.part = part
        self.trained: dict[str, Any] = {}
        self.skipped: dict[str, dict[str, str]] = {}
        self.seconds: dict[str, dict[str, float]] = {}
        self.failures: dict[str, int] = {}
        self.outputs: dict[str, dict[str, np.ndarray]] = {}
        self._unknown: dict[str, int] = {}
        self._masked_cache: dict[str, dict[str, dict[str, np.ndarray]]] = {}

    def _build(self, name: str) -> Any:
        params = self.config.pipeline.recall.params(name)
        cls = CHANNELS[name]
        # masking the valid items must never shorten a list below K: ask for enough
        if "n" in cls.Config.model_fields:
            wanted = K_MAX + self.split.max_masked_extra(self.part)
            params["n"] = max(int(params.get("n", cls.Config.model_fields["n"].default)), wanted)
        try:
            return cls(params)
        except ValueError as exc:
            raise ConfigError(f"parameters of recall channel {name!r}: {exc}") from None

    def train(self, progress: ProgressFn | None = None) -> None:
        """Train every channel on the train part; note the ones that do not apply."""
        data = self.split.training_data()
        for done, name in enumerate(self.names):
            if progress is not None:
                progress(f"train:{name}", done, len(self.names))
            channel = self._build(name)
            started = time.perf_counter()
            try:
                channel.train(data)
            except ValueError as exc:  # the data lacks what the channel needs
                self.skipped[name] = {"skipped": str(exc)}
                continue
            except Exception as exc:  # a broken channel must not cost the others their figures
                log.exception("recall channel %s failed to train", name)
                self.skipped[name] = {"failed": f"{type(exc).__name__}: {exc}"}
                continue
            self.seconds[name] = {"train": round(time.perf_counter() - started, 3), "eval": 0.0}
            self.trained[name] = channel

    def quotas(self) -> dict[str, int]:
        """Quotas of the fused set over the channels that trained."""
        return fused_quotas(list(self.trained), self.config.pipeline.recall.quota)

    def _code(self, item_id: str) -> int:
        """Catalog index of ``item_id``; ids outside the catalog get their own negative code."""
        code = self.split.item_index.get(item_id)
        if code is None:
            code = self._unknown.setdefault(item_id, -2 - len(self._unknown))
        return code

    def _call(self, name: str, request: Request, user: str) -> list[Candidate]:
        started = time.perf_counter()
        try:
            return list(self.trained[name](request, self.split.profile(user)))
        except Exception:  # counted and skipped, as the Pipeline does
            log.exception("recall channel %s failed for user %s", name, user)
            self.failures[name] += 1
            return []
        finally:
            self.seconds[name]["eval"] += time.perf_counter() - started

    def evaluate(self, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Ask every trained channel for each user's candidates; score channels and fusion.

        Each channel's answers are kept in :attr:`outputs` (item codes, answer order), so the
        fused set can be rebuilt under other quotas by :meth:`fused_lists` without asking the
        channels again.

        Args:
            progress: called with 1 after each user.

        """
        users = self.split.users(self.part)
        # keep the other part's users too: quota tuning on valid reads their outputs
        everyone = list(dict.fromkeys([*users, *self.split.users("valid")]))
        lists: dict[str, dict[str, list[str]]] = {name: {} for name in self.trained}
        fused: dict[str, list[str]] = {}
        self.failures = dict.fromkeys(self.trained, 0)
        self.outputs = {name: {} for name in self.trained}
        self._masked_cache = {}
        quotas = self.quotas()
        scored = set(users)
        merge_seconds = 0.0
        for user in everyone:
            masked = self.split.masked(user, self.part)
            request = Request(user, n=K_MAX, request_id=f"eval-{user}", ts=self.split.now)
            outputs = {name: self._call(name, request, user) for name in self.trained}
            for name, candidates in outputs.items():
                self.outputs[name][user] = np.fromiter(
                    (self._code(c.item_id) for c in candidates), np.int64, len(candidates)
                )
                ids = [c.item_id for c in candidates if c.item_id not in masked]
                lists[name][user] = ids[:K_MAX]
            if user not in scored:
                continue
            started = time.perf_counter()
            # merge filters what the protocol masks (train, + valid on test) through ``seen``
            fused[user] = [c.item_id for c in fused_candidates(request, masked, outputs, quotas)]
            merge_seconds += time.perf_counter() - started
            if progress is not None:
                progress(1)
        channels: dict[str, dict[str, Any]] = {}
        for name in self.names:
            if name in self.skipped:
                channels[name] = dict(self.skipped[name])
                continue
            channels[name] = self._score(lists[name], users)
            if self.failures[name]:
                channels[name]["failures"] = self.failures[name]
            self.seconds[name]["eval"] = round(self.seconds[name]["eval"], 3)
        fused_metrics: dict[str, Any] = self._score(fused, users) if self.trained else {}
        fused_metrics["channels"] = list(self.trained)
        fused_metrics["quota"] = quotas
        seconds: dict[str, Any] = {**self.seconds, "merge": round(merge_seconds, 3)}
        return {
            "protocol": self.split.protocol,
            "data": self.split.data,
            "part": self.part,
            "split": self.split.summary(),
            "channels": channels,
            "fused": fused_metrics,
            "seconds": seconds,
        }

    def fused_lists(
        self, quotas: Mapping[str, int], part: str | None = None, backfill: bool = True
    ) -> np.ndarray:
        """``(users, K_MAX)`` fused item indices of ``part``'s users under ``quotas``.

        Rebuilt from :attr:`outputs` with :func:`~ecorec.metrics.fused.fused_codes`, the same
        merge and backfill as :meth:`evaluate` (negative codes, outside the catalog, are
        padding for scoring). Call :meth:`evaluate` first.
        """
        part = part or self.part
        ranked = self.masked_outputs(part)
        out = np.full((len(ranked), K_MAX), -1, dtype=np.int64)
        for row, by_channel in enumerate(ranked.values()):
            merged = fused_codes(by_channel, quotas, backfill=backfill)[:K_MAX]
            out[row, : len(merged)] = merged
        out[out < 0] = -1
        return out

    def masked_outputs(self, part: str) -> dict[str, dict[str, np.ndarray]]:
        """Per ``part`` user (in scoring order), each channel's codes minus the part's mask."""
        if part in self._masked_cache:
            return self._masked_cache[part]
        out: dict[str, dict[str, np.ndarray]] = {}
        for user in self.split.users(part):
            mask = np.fromiter(
                (self.split.item_index[i] for i in self.split.masked(user, part)), np.int64
            )
            out[user] = {}
            for name, by_user in self.outputs.items():
                codes = by_user.get(user, np.empty(0, np.int64))
                out[user][name] = codes[~np.isin(codes, mask)] if len(mask) else codes
        self._masked_cache[part] = out
        return out

    def _score(self, lists: Mapping[str, Sequence[str]], users: list[str]) -> dict[str, Any]:
        recommended = self.split.indices(lists, users, K_MAX)
        out: dict[str, Any] = dict(self.split.score(recommended, self.part, users))
        out["mean_candidates"] = round(float((recommended >= 0).sum(axis=1).mean()), 2)
        return out


def default_channels(config: EcorecConfig | None = None, explicit: bool = False) -> list[str]:
    """The channels to evaluate: the configuration's when ``explicit``, else every registered."""
    if explicit and config is not None:
        return list(config.pipeline.recall.channels)
    return list(CHANNELS)


def evaluate_recall(
    data: str | Dataset,
    protocol: str = "recbole-811",
    channels: Sequence[str] | None = None,
    seed: int = DEFAULT_SEED,
    config: EcorecConfig | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run a recall evaluation end to end: load, split, train, score.

    Args:
        data: a path (RecBole folder, MovieLens ratings file, CSV/Parquet) or a dataset.
        protocol: one of :data:`~ecorec.metrics.protocols.PROTOCOLS`.
        channels: channel names; default every registered channel.
        seed: the split's seed.
        config: channel parameters and quotas (``[pipeline.recall]``).
        progress: ``progress(stage, done, total)`` as training and evaluation advance.

    Returns:
        ``{"protocol", "data", "split", "channels": {name: metrics | {"skipped": reason}},
        "fused", "seconds"}``.

    """
    started = time.perf_counter()
    split = prepare_split(data, protocol, seed)
    evaluator = RecallEvaluator(split, channels or default_channels(config), config)
    evaluator.train(progress)
    total = len(split.users())
    counter = {"done": 0}

    def advance(n: int) -> None:
        counter["done"] += n
        if progress is not None:
            progress("evaluate", counter["done"], total)

    result = evaluator.evaluate(advance)
    result["seconds"]["total"] = round(time.perf_counter() - started, 3)
    return result


#: Metrics of the printed table, with short headers that fit an 80-column terminal.
TABLE_COLUMNS = {
    "recall@10": "R@10",
    "ndcg@10": "N@10",
    "mrr@10": "M@10",
    "hit@10": "H@10",
    "recall@50": "R@50",
    "recall@200": "R@200",
    "coverage": "cover",
    "long_tail_share": "tail",
}


def metric_table(result: Mapping[str, Any]) -> tuple[list[str], list[list[str]], list[str]]:
    """Headers, rows (channels, then the fused set) and notes of a result, for printing."""
    rows, notes = [], []
    for name, values in [*result["channels"].items(), ("fused", result["fused"])]:
        reason = values.get("skipped") or values.get("failed")
        if reason:
            notes.append(f"{name}: skipped ({reason})")
            continue
        rows.append([name, *[f"{values.get(m, float('nan')):.3f}" for m in TABLE_COLUMNS]])
    return ["channel", *TABLE_COLUMNS.values()], rows, notes
