"""Protocol P3 (``ctr-temporal``): a rated dataset as CTR training, validation and test rows.

Each interaction becomes one row labelled ``click = rating >= threshold``. All rows are sorted
by timestamp (stable: ties keep file order) and cut 80/10/10, so every validation and test row
happened after every training row, as when a model trained yesterday serves today.

Features are what the data has: ``user_id``, ``item_id``, the user's age bucket, gender,
occupation and first zip character, the item's release year and genres, and ``history``, the
user's positively rated items strictly before the row's timestamp (point-in-time: a row never
sees itself, a tie partner of the same second, or anything later). History runs over the
whole timeline, so a test row sees the user's training-period positives, but every vocabulary
is fitted on training rows only: values first seen later encode as OOV, as they would online.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ecorec.core.entities import Item, User
from ecorec.data.datasets import Dataset, detect_format, load_dataset
from ecorec.features.schema import PAD, Field, FieldKind, Schema, TensorTable
from ecorec.features.vocab import Vocabulary, as_strings

#: Protocols :func:`build_ctr_split` knows.
PROTOCOLS = ("ctr-temporal",)
PARTS = ("train", "valid", "test")
#: Fewest interactions a split is built from (each part needs rows).
MIN_ROWS = 10
#: Lower edges of MovieLens-1M's age groups, and their labels.
AGE_EDGES = (18, 25, 35, 45, 50, 56)
AGE_BUCKETS = ("<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
#: Rows whose history is gathered at once (bounds the ``(rows, max_history)`` temporaries).
_HISTORY_CHUNK = 65536
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")


@dataclass
class CTRSplit:
    """Train/valid/test rows of one dataset under one CTR protocol.

    Attributes:
        schema: the fields every part carries (vocabulary sizes from the train part).
        train: the earliest rows; ``valid`` and ``test`` follow in time.
        vocabularies: field name -> its vocabulary, for every sparse and multi field (the
            ``history`` sequence uses ``item_id``'s); saved next to a model's weights.
        protocol: the protocol that built it.
        threshold: the rating at or above which a row is a positive.

    Example:
        >>> split = build_ctr_split("../shared/datasets/ml-100k")  # doctest: +SKIP
        >>> split.summary()["rows"]  # doctest: +SKIP
        {'train': 80000, 'valid': 10000, 'test': 10000}

    """

    schema: Schema
    train: TensorTable
    valid: TensorTable
    test: TensorTable
    vocabularies: dict[str, Vocabulary] = field(default_factory=dict)
    protocol: str = "ctr-temporal"
    threshold: float = 4.0

    def part(self, name: str) -> TensorTable:
        """The part called ``name`` (``train``, ``valid`` or ``test``)."""
        if name not in PARTS:
            raise ValueError(f"unknown part {name!r}; one of {', '.join(PARTS)}")
        table: TensorTable = getattr(self, name)
        return table

    def summary(self) -> dict[str, Any]:
        """Row counts, positive rates and vocabulary sizes, JSON-ready."""
        objective = self.schema.objectives[0]
        tables = {name: self.part(name) for name in PARTS}
        return {
            "protocol": self.protocol,
            "threshold": self.threshold,
            "rows": {name: len(t) for name, t in tables.items()},
            "positive_rate": {
                name: float(t.labels[objective].mean()) if len(t) else math.nan
                for name, t in tables.items()
            },
            "users": {name: len(set(t.users.tolist())) for name, t in tables.items()},
            "fields": [f.name for f in self.schema.fields],
            "vocab_sizes": {name: v.size for name, v in self.vocabularies.items()},
        }


def build_ctr_split(
    data: str | Path | Dataset,
    protocol: str = "ctr-temporal",
    threshold: float = 4.0,
    max_history: int = 50,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
) -> CTRSplit:
    """Load ``data`` and build its CTR rows by ``protocol``.

    Args:
        data: a dataset path (RecBole folder, MovieLens file, CSV, Parquet) or a loaded one.
        protocol: one of :data:`PROTOCOLS`.
        threshold: a row is positive when its rating is at least this.
        max_history: the most recent positives kept in ``history`` (its width).
        ratios: train/valid/test shares of the time-sorted rows (normalised to sum 1);
            a part ends at ``floor(n * cumulative share)``.

    Returns:
        The split with its schema and train-fitted vocabularies.

    Raises:
        ValueError: an unknown protocol, data without ratings or timestamps, fewer than
            :data:`MIN_ROWS` rows, or bad ``ratios``/``max_history``.

    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if max_history < 1:
        raise ValueError(f"max_history must be >= 1, got {max_history}")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    dataset = (
        data if isinstance(data, Dataset) else load_dataset(str(data), detect_format(str(data)))
    )
    users, items, ratings, stamps = _time_ordered(dataset)
    n_train, n_seen = _cuts(len(users), ratios)
    labels = (ratings >= threshold).astype(np.float32)

    user_index, user_codes = np.unique(users, return_inverse=True)
    item_index, item_codes = np.unique(items, return_inverse=True)
    columns = _Columns(n_train)
    columns.sparse("user_id", "user", user_index, user_codes)
    columns.sparse("item_id", "item", item_index, item_codes)
    for name, group, values, codes in _attribute_columns(
        dataset, user_index, user_codes, item_index, item_codes
    ):
        columns.sparse(name, group, values, codes)
    tags, width = _tags(dataset, item_index)
    if width:
        columns.multi("genres", "item", tags, item_codes, width)
    positives = labels == 1.0
    history = _history(user_codes, _ranks(stamps), columns.codes["item_id"], positives, max_history)
    item_vocab = columns.vocabularies["item_id"]
    columns.add(
        Field("history", FieldKind.SEQUENCE, item_vocab.size, max_history, "item_id", "behaviour"),
        history,
    )
    schema = Schema(tuple(columns.fields), ("click",), "item_id", "history")
    bounds = (slice(0, n_train), slice(n_train, n_seen), slice(n_seen, len(users)))
    user_ids = users.astype(object)
    train, valid, test = (
        TensorTable(
            {
                name: torch.from_numpy(np.ascontiguousarray(c[s]))
                for name, c in columns.codes.items()
            },
            {"click": torch.from_numpy(labels[s].copy())},
            user_ids[s],
        )
        for s in bounds
    )
    return CTRSplit(
        schema=schema,
        train=train,
        valid=valid,
        test=test,
        vocabularies=columns.vocabularies,
        protocol=protocol,
        threshold=float(threshold),
    )


def _time_ordered(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """User ids, item ids, ratings and timestamps sorted by time (ties in file order)."""
    table = dataset.interactions
    rating, stamp = table.column("rating"), table.column("timestamp")
    if table.num_rows and rating.null_count:
        raise ValueError(
            "ctr-temporal needs explicit ratings: label = rating >= threshold "
            f"({rating.null_count} of {table.num_rows} interactions have no rating)"
        )
    if table.num_rows and stamp.null_count:
        raise ValueError(
            "ctr-temporal needs timestamps: rows are split by time "
            f"({stamp.null_count} of {table.num_rows} interactions have no timestamp)"
        )
    if table.num_rows < MIN_ROWS:
        raise ValueError(
            f"ctr-temporal needs at least {MIN_ROWS} interactions, got {table.num_rows}"
        )
    stamps = stamp.to_numpy().astype(np.float64)
    order = np.argsort(stamps, kind="stable")
    users = as_strings(table.column("user_id"))[order]
    items = as_strings(table.column("item_id"))[order]
    return users, items, rating.to_numpy().astype(np.float64)[order], stamps[order]


def _cuts(n: int, ratios: Sequence[float]) -> tuple[int, int]:
    """Ends of the train and valid parts among ``n`` time-sorted rows."""
    shares = np.asarray(ratios, dtype=np.float64)
    if shares.shape != (3,) or not np.isfinite(shares).all() or (shares <= 0).any():
        raise ValueError(f"ratios must be three positive shares (train, valid, test), got {ratios}")
    cumulative = np.cumsum(shares) / shares.sum()
    # The epsilon keeps 0.8 * 100_000 at 80_000 whatever the float sum rounds to.
    n_train, n_seen = (int(math.floor(n * c + 1e-9)) for c in cumulative[:2])
    if not 0 < n_train < n_seen < n:
        raise ValueError(
            f"ratios {tuple(ratios)} leave an empty part of {n} interactions "
            f"(train {n_train}, valid {n_seen - n_train}, test {n - n_seen})"
        )
    return n_train, n_seen


class _Columns:
    """Encoded feature columns with their fields and train-fitted vocabularies."""

    def __init__(self, n_train: int) -> None:
        self.n_train = n_train
        self.fields: list[Field] = []
        self.codes: dict[str, np.ndarray] = {}
        self.vocabularies: dict[str, Vocabulary] = {}

    def add(self, spec: Field, codes: np.ndarray) -> None:
        self.fields.append(spec)
        self.codes[spec.name] = codes

    def sparse(self, name: str, group: str, values: np.ndarray, index: np.ndarray) -> None:
        """A field whose row ``r`` has ``values[index[r]]`` (values per unique user or item)."""
        vocab = Vocabulary.fit(values[np.unique(index[: self.n_train])])
        self.vocabularies[name] = vocab
        self.add(
            Field(name, FieldKind.SPARSE, vocab.size, group=group), vocab.encode(values)[index]
        )

    def multi(
        self, name: str, group: str, bags: list[tuple[str, ...]], index: np.ndarray, width: int
    ) -> None:
        """A bag field whose row ``r`` has ``bags[index[r]]``, right-padded to ``width``."""
        lengths = np.fromiter((len(b) for b in bags), np.int64, len(bags))
        flat = as_strings([v for b in bags for v in b])
        in_train = np.repeat(np.isin(np.arange(len(bags)), index[: self.n_train]), lengths)
        vocab = Vocabulary.fit(flat[in_train])
        matrix = np.full((len(bags), width), PAD, dtype=np.int64)
        rows = np.repeat(np.arange(len(bags)), lengths)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        matrix[rows, cols] = vocab.encode(flat)
        self.vocabularies[name] = vocab
        self.add(Field(name, FieldKind.MULTI, vocab.size, width, group=group), matrix[index])


def _attribute_columns(
    dataset: Dataset,
    user_index: np.ndarray,
    user_codes: np.ndarray,
    item_index: np.ndarray,
    item_codes: np.ndarray,
) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """``(name, group, values per unique id, row index)`` of each attribute the data has."""
    by_user = {u.user_id: u for u in dataset.users}
    by_item = {i.item_id: i for i in dataset.items}
    user_fields: list[tuple[str, Callable[[User], str]]] = [
        ("age", lambda u: _age_bucket(u.attrs.get("age"))),
        ("gender", lambda u: _text(u.attrs.get("gender"))),
        ("occupation", lambda u: _text(u.attrs.get("occupation"))),
        ("zip", lambda u: _text(u.attrs.get("zip_code", u.attrs.get("zip")))[:1]),
    ]
    out = []
    for name, read in user_fields:
        if any(read(u) for u in dataset.users):
            values = [read(by_user[u]) if u in by_user else "" for u in user_index.tolist()]
            out.append((name, "user", as_strings(values), user_codes))
    if any(_year(i) for i in dataset.items):
        values = [_year(by_item[i]) if i in by_item else "" for i in item_index.tolist()]
        out.append(("release_year", "item", as_strings(values), item_codes))
    return out


def _tags(dataset: Dataset, item_index: np.ndarray) -> tuple[list[tuple[str, ...]], int]:
    """Tags per unique item and the catalog's largest tag count (0: no tags at all)."""
    by_item = {i.item_id: tuple(t for t in i.tags if t) for i in dataset.items}
    width = max((len(t) for t in by_item.values()), default=0)
    return [by_item.get(i, ()) for i in item_index.tolist()], width


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _age_bucket(value: object) -> str:
    """MovieLens-1M's age group of an age in years (``""`` when not a number)."""
    try:
        age = float(_text(value))
    except ValueError:
        return ""
    if not math.isfinite(age):
        return ""
    return AGE_BUCKETS[int(np.searchsorted(AGE_EDGES, age, side="right"))]


def _year(item: Item) -> str:
    """The item's release year from ``release_year``/``year``/``release_date`` or its title."""
    for text in (
        item.attrs.get("release_year"),
        item.attrs.get("year"),
        item.attrs.get("release_date"),
        item.title,
    ):
        found = _YEAR.findall(_text(text))
        if found:
            return str(found[-1])
    return ""


def _ranks(stamps: np.ndarray) -> np.ndarray:
    """Dense rank of each sorted timestamp (equal timestamps share a rank)."""
    ranks = np.zeros(len(stamps), dtype=np.int64)
    if len(stamps) > 1:
        ranks[1:] = np.cumsum(stamps[1:] != stamps[:-1])
    return ranks


def _history(
    user_codes: np.ndarray,
    ranks: np.ndarray,
    item_codes: np.ndarray,
    positive: np.ndarray,
    max_history: int,
) -> np.ndarray:
    """Each row's user's last ``max_history`` positives strictly before it, oldest first.

    Rows are time-sorted. Keying every row by ``(user, time rank)`` and sorting the positives
    by that key lines each user's positives up in time order; a row's history then ends just
    before the first positive whose key is not smaller than its own (so a same-second positive
    is never included) and starts ``max_history`` earlier, or at the user's first positive.
    """
    n = len(user_codes)
    out = np.full((n, max_history), PAD, dtype=np.int64)
    positives = np.flatnonzero(positive)
    if not len(positives):
        return out
    n_ranks = int(ranks[-1]) + 1
    keys = user_codes.astype(np.int64) * n_ranks + ranks
    positives = positives[np.argsort(keys[positives], kind="stable")]
    sorted_keys, sorted_items = keys[positives], item_codes[positives]
    end = np.searchsorted(sorted_keys, keys, side="left")
    first = np.searchsorted(sorted_keys, user_codes.astype(np.int64) * n_ranks, side="left")
    begin = np.maximum(first, end - max_history)
    offsets = np.arange(max_history)
    last = len(sorted_items) - 1
    for start in range(0, n, _HISTORY_CHUNK):
        rows = slice(start, start + _HISTORY_CHUNK)
        at = begin[rows, None] + offsets
        filled = at < end[rows, None]
        out[rows] = np.where(filled, sorted_items[np.minimum(at, last)], PAD)
    return out
