"""Per-key ranked item lists and the proportional draw the metadata channels share.

Popular (per category, per segment), long-tail and novice-creator recall all precompute, at
train time, one list of items per key (a category, a segment) sorted best first, and at request
time draw from a few of those lists in proportion to the user's interests. The lists are packed
in flat arrays (keys, offsets, items, scores) so that they save as ``.npy`` without pickle and
a request touches only the slices it reads: O(candidates), never O(items).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress
from pathlib import Path

import numpy as np


@dataclass
class RankedLists:
    """Lists of item indices, one per key, each sorted by score (best first).

    Attributes:
        keys: key names (numpy unicode array).
        offsets: list ``k`` is ``items[offsets[k]:offsets[k + 1]]``.
        items: indices into the caller's item-id array.
        scores: the score of each entry (what the list is sorted by).

    Example:
        >>> lists = RankedLists.build(["a", "b", "a"], np.array([0, 1, 2]), np.array([1., 5., 3.]))
        >>> lists.get("a")[0].tolist(), lists.get("zzz")[0].tolist()
        ([2, 0], [])

    """

    keys: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        self._index = {str(k): i for i, k in enumerate(self.keys.tolist())}
        self._entry_keys: np.ndarray | None = None

    @property
    def entry_keys(self) -> np.ndarray:
        """The list (position in ``keys``) of each entry, built on first use and kept.

        A request that selects entries across lists masks this array instead of looping over
        the keys. Built once per instance: the arrays are never changed in place.
        """
        if self._entry_keys is None:
            counts = np.diff(self.offsets)
            self._entry_keys = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return self._entry_keys

    @classmethod
    def build(
        cls,
        keys: Sequence[str] | np.ndarray,
        items: np.ndarray,
        scores: np.ndarray,
        limit: int | None = None,
    ) -> RankedLists:
        """Group ``items`` by ``keys`` (one key per entry; ``""`` = none), best score first.

        Ties are broken by item index so that the lists are deterministic; each list keeps at
        most ``limit`` entries.
        """
        key_array = np.asarray(keys, dtype=str)
        keep = key_array != ""
        key_array, items, scores = key_array[keep], items[keep], scores[keep]
        names, codes = np.unique(key_array, return_inverse=True)
        order = np.lexsort((items, -scores, codes))
        codes, items, scores = codes[order], items[order], scores[order]
        starts = np.searchsorted(codes, np.arange(len(names)), side="left")
        if limit is not None and len(codes):
            rank = np.arange(len(codes)) - starts[codes]
            kept = rank < limit
            codes, items, scores = codes[kept], items[kept], scores[kept]
        offsets = np.searchsorted(codes, np.arange(len(names) + 1), side="left")
        return cls(names, offsets.astype(np.int64), items.astype(np.int64), scores.astype(float))

    def get(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(items, scores)`` of ``key``'s list (empty arrays for an unknown key)."""
        k = self._index.get(key)
        if k is None:
            return self.items[:0], self.scores[:0]
        lo, hi = self.offsets[k], self.offsets[k + 1]
        return self.items[lo:hi], self.scores[lo:hi]

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def save(self, folder: Path, prefix: str) -> None:
        for part in ("keys", "offsets", "items", "scores"):
            np.save(folder / f"{prefix}_{part}.npy", getattr(self, part), allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, prefix: str) -> RankedLists:
        parts = [
            np.load(folder / f"{prefix}_{part}.npy", allow_pickle=False)
            for part in ("keys", "offsets", "items", "scores")
        ]
        return cls(*parts)

    @classmethod
    def empty(cls) -> RankedLists:
        return cls(
            np.empty(0, dtype=str), np.zeros(1, np.int64), np.empty(0, np.int64), np.empty(0)
        )


@dataclass(frozen=True)
class Source:
    """One list to draw from: item indices best first, how many to take, and the reason."""

    items: np.ndarray
    quota: int
    reason: str


def unskipped(
    item_ids: np.ndarray, rows: np.ndarray, skip: Collection[str], n: int
) -> tuple[list[str], list[int]]:
    """The first ``n`` items along ``rows`` that are not in ``skip``: ids and positions in ``rows``.

    ``rows`` (indices into ``item_ids``, each at most once) is converted to Python in slices
    sized by what is still missing, so a catalog-long ``rows`` costs about ``n`` conversions:
    a slice of ``missing + len(skip)`` entries always fills the quota, and the slice is capped
    at twice the missing count so a long ``skip`` (years of history) is not read in full.

    Example:
        >>> unskipped(np.array(["a", "b", "c"]), np.array([2, 1, 0]), {"b"}, 2)
        (['c', 'a'], [0, 2])

    """
    ids: list[str] = []
    at: list[int] = []
    start = 0
    while len(ids) < n and start < len(rows):
        missing = n - len(ids)
        stop = start + missing + min(len(skip), missing)
        chunk = item_ids[rows[start:stop]].tolist()
        if skip:
            keep = [item_id not in skip for item_id in chunk]
            ids += compress(chunk, keep)
            at += compress(range(start, start + len(chunk)), keep)
        else:
            ids += chunk
            at += range(start, start + len(chunk))
        start = stop
    return ids[:n], at[:n]


def draw(
    item_ids: np.ndarray,
    sources: Sequence[Source],
    skip: set[str],
    fallback: Source | None = None,
    accept: Callable[[int], bool] | None = None,
) -> list[tuple[int, str, float, str]]:
    """Take each source's quota of items, skipping ``skip`` and repeats, then fill from fallback.

    ``accept(index)``, when given, is a last request-time check (an item that aged out).

    Scores interleave the sources proportionally: the ``r``-th item of a source with quota
    ``q`` scores ``1 - r / q``, so any prefix of the output sorted by score keeps the sources'
    proportions (a merge quota smaller than ``n`` does not undo the user's interest mix).
    What a source cannot fill (list too short, everything seen) goes to ``fallback``, whose
    items take the scores of the vacant slots (best vacancy first), then its own slots.

    Returns:
        ``(index, item_id, score, reason)`` sorted by score descending (ties: source order).

    """
    out: list[tuple[int, str, float, str]] = []
    taken: set[int] = set()
    vacant: list[float] = []
    for source in sources:
        got = _take(item_ids, source, source.quota, skip, taken, out, accept)
        vacant += [1.0 - r / source.quota for r in range(got, source.quota)]
    if fallback is not None:
        vacant += [1.0 - r / fallback.quota for r in range(fallback.quota)]
        vacant.sort(reverse=True)
        source = Source(fallback.items, len(vacant), fallback.reason)
        start = len(out)
        _take(item_ids, source, len(vacant), skip, taken, out, accept)
        for k in range(start, len(out)):
            index, item_id, _, reason = out[k]
            out[k] = (index, item_id, vacant[k - start], reason)
    # a stable sort: equal scores keep the order they were taken in (source order)
    out.sort(key=lambda entry: -entry[2])
    return out


def _take(
    item_ids: np.ndarray,
    source: Source,
    quota: int,
    skip: set[str],
    taken: set[int],
    out: list[tuple[int, str, float, str]],
    accept: Callable[[int], bool] | None,
) -> int:
    """Append up to ``quota`` of ``source``'s items to ``out``; return how many were taken.

    The list is read in slices of twice the missing count (plus a few), so a short quota on a
    long list converts only the entries it can use.
    """
    got, start, items = 0, 0, source.items
    while got < quota and start < len(items):
        stop = start + 2 * (quota - got) + 8
        chunk = items[start:stop]
        start = stop
        for index, item_id in zip(chunk.tolist(), item_ids[chunk].tolist(), strict=True):
            if index in taken or item_id in skip or (accept is not None and not accept(index)):
                continue
            taken.add(index)
            out.append((index, item_id, 1.0 - got / quota, source.reason))
            got += 1
            if got >= quota:
                break
    return got


def allocate(weights: Mapping[str, float], n: int) -> dict[str, int]:
    """Split ``n`` slots in proportion to positive ``weights`` (largest remainder, exact sum).

    Example:
        >>> allocate({"music": 2.0, "news": 1.0}, 10)
        {'music': 7, 'news': 3}

    """
    positive = {k: w for k, w in weights.items() if w > 0 and math.isfinite(w)}
    total = sum(positive.values())
    if total <= 0 or n <= 0:
        return {}
    exact = {k: n * w / total for k, w in positive.items()}
    quotas = {k: int(math.floor(v)) for k, v in exact.items()}
    left = n - sum(quotas.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - quotas[k]), k))[:left]:
        quotas[k] += 1
    return {k: q for k, q in quotas.items() if q > 0}


def interest_weights(
    interests: Mapping[str, float], declared: object = None, top: int = 10
) -> dict[str, float]:
    """The user's positive interests (category -> weight), strongest ``top`` only.

    ``declared`` is a cold-start survey (``request.context["interests"]``: a list of
    categories, or a category -> weight mapping); its entries are added with weight 1 so a
    user with no history is still matched.
    """
    weights = {k: float(w) for k, w in interests.items() if w > 0 and math.isfinite(w)}
    if isinstance(declared, Mapping):
        for key, value in declared.items():
            if isinstance(value, int | float) and value > 0:
                weights[str(key)] = weights.get(str(key), 0.0) + float(value)
    elif isinstance(declared, list | tuple | set | frozenset):
        for key in declared:
            weights[str(key)] = weights.get(str(key), 0.0) + 1.0
    best = sorted(weights, key=lambda k: (-weights[k], k))[:top]
    return {k: weights[k] for k in best}


def request_rng(seed: int, user_id: str, request_id: str) -> np.random.Generator:
    """A generator seeded by ``(seed, user_id, request_id)``: the same request replays the same.

    Example:
        >>> a = request_rng(1, "u", "r").random()
        >>> b = request_rng(1, "u", "r").random()
        >>> a == b
        True

    """
    digest = hashlib.blake2b(f"{seed}\x1f{user_id}\x1f{request_id}".encode(), digest_size=8)
    return np.random.default_rng(int.from_bytes(digest.digest(), "little"))


def draw_by_interest(
    item_ids: np.ndarray,
    by_category: RankedLists,
    overall: np.ndarray,
    interests: Mapping[str, float],
    n: int,
    skip: set[str],
    label: str,
    accept: Callable[[int], bool] | None = None,
) -> list[tuple[int, str, float, str]]:
    """Draw ``n`` items from the category lists in proportion to ``interests``, then ``overall``.

    The shared request path of the channels that match pre-ranked lists to interests: the
    categories the user likes (and that have a list) split ``n``; what they cannot fill, and
    everything for a user without interests, comes from ``overall`` in its order. Reasons are
    ``<label>:category:<category>`` and ``<label>:quality``.
    """
    known = {c: w for c, w in interests.items() if c in by_category}
    sources = [
        Source(by_category.get(category)[0], quota, f"{label}:category:{category}")
        for category, quota in allocate(known, n).items()
    ]
    rest = n - sum(s.quota for s in sources)
    return draw(item_ids, sources, skip, Source(overall, rest, f"{label}:quality"), accept)
