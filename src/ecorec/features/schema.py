"""The shape of ranking features: named fields, their kinds, and a table of tensors.

One :class:`Schema` describes what a ranking model reads, whatever built the rows (the
ctr-temporal protocol on a dataset, the EventLog offline, a Profile online), so models are
written once against field *kinds*, never against a dataset's column names:

* ``sparse``: one id per row, ``int64 (B,)``;
* ``multi``: a bag of ids (MovieLens genres, tags), ``int64 (B, max_len)``;
* ``sequence``: the user's behaviour, oldest first, ``int64 (B, max_len)``; ``embed`` names
  the field whose embedding table it shares (the item ids of a history share ``item_id``'s);
* ``dense``: one float, ``float32 (B,)``.

Ids are vocabulary codes: :data:`PAD` (0) pads bags and sequences and is ignored by pooling
and attention; :data:`OOV` (1) stands for anything unseen in training, so a new user or item
scores through a learned out-of-vocabulary vector instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import torch

#: Code of padding in ``multi`` and ``sequence`` fields (never a real value).
PAD = 0
#: Code of any value not seen in training.
OOV = 1


class FieldKind(StrEnum):
    """How a field's values are shaped (see the module docstring)."""

    SPARSE = "sparse"
    MULTI = "multi"
    SEQUENCE = "sequence"
    DENSE = "dense"


@dataclass(frozen=True)
class Field:
    """One input of a ranking model.

    Attributes:
        name: the key in a batch.
        kind: its :class:`FieldKind`.
        vocab_size: codes including :data:`PAD` and :data:`OOV` (0 for dense fields).
        max_len: width of ``multi`` and ``sequence`` fields (1 otherwise).
        embed: the field whose embedding table this one shares (``None``: its own).
        group: the feature group (``user``, ``item``, ``creator``, ``context``, ``behaviour``).

    """

    name: str
    kind: FieldKind
    vocab_size: int = 0
    max_len: int = 1
    embed: str | None = None
    group: str = ""

    def __post_init__(self) -> None:
        if self.kind is not FieldKind.DENSE and self.embed is None and self.vocab_size < 2:
            raise ValueError(f"field {self.name!r}: vocab_size must count PAD and OOV (>= 2)")
        if self.kind in (FieldKind.MULTI, FieldKind.SEQUENCE) and self.max_len < 1:
            raise ValueError(f"field {self.name!r}: max_len must be >= 1")


@dataclass(frozen=True)
class Schema:
    """The fields a model reads and the objectives it predicts.

    Attributes:
        fields: every input field, in a fixed order.
        objectives: the labels, first one primary (early stopping watches its AUC).
        target: the sparse field of the candidate item (attention queries come from it).
        sequence: the behaviour sequence field (``None`` when the data has none).

    """

    fields: tuple[Field, ...]
    objectives: tuple[str, ...] = ("click",)
    target: str = "item_id"
    sequence: str | None = None

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate field names in schema: {names}")
        if not self.objectives:
            raise ValueError("a schema needs at least one objective")
        by_name = dict(zip(names, self.fields, strict=True))
        for f in self.fields:
            if f.embed is not None and f.embed not in by_name:
                raise ValueError(f"field {f.name!r} shares the table of unknown {f.embed!r}")
        if self.sequence is not None:
            seq = by_name.get(self.sequence)
            if seq is None or seq.kind is not FieldKind.SEQUENCE:
                raise ValueError(f"sequence field {self.sequence!r} is not a sequence field")

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def of_kind(self, *kinds: FieldKind) -> list[Field]:
        """The fields of the given kinds, in schema order."""
        return [f for f in self.fields if f.kind in kinds]

    def table_of(self, name: str) -> Field:
        """The field owning the embedding table ``name`` reads (itself unless shared)."""
        f = self[name]
        return self[f.embed] if f.embed is not None else f

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (saved next to a model's weights)."""
        return {
            "fields": [
                {
                    "name": f.name,
                    "kind": str(f.kind),
                    "vocab_size": f.vocab_size,
                    "max_len": f.max_len,
                    "embed": f.embed,
                    "group": f.group,
                }
                for f in self.fields
            ],
            "objectives": list(self.objectives),
            "target": self.target,
            "sequence": self.sequence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Schema:
        """Inverse of :meth:`to_dict`."""
        raw = data["fields"]
        assert isinstance(raw, list)
        fields = tuple(Field(**{**f, "kind": FieldKind(f["kind"])}) for f in raw)
        objectives = data.get("objectives", ("click",))
        assert isinstance(objectives, list | tuple)
        return cls(
            fields=fields,
            objectives=tuple(str(o) for o in objectives),
            target=str(data.get("target", "item_id")),
            sequence=None if data.get("sequence") is None else str(data["sequence"]),
        )


#: A mini-batch: field name -> tensor (shapes per :class:`FieldKind`).
Batch = dict[str, torch.Tensor]


@dataclass
class TensorTable:
    """Rows of features and labels, column-wise, ready to slice into batches.

    Attributes:
        features: field name -> tensor with the row dimension first.
        labels: objective -> ``float32 (N,)`` in [0, 1] (NaN: unknown for this row, ignored by
            the loss; ESMM's conversion is known only where there was a click).
        users: the user id of each row (GAUC groups by it).

    """

    features: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]
    users: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    def __post_init__(self) -> None:
        sizes = {len(t) for t in [*self.features.values(), *self.labels.values()]}
        if len(self.users):
            sizes.add(len(self.users))
        if len(sizes) > 1:
            raise ValueError(f"columns of different lengths in a tensor table: {sorted(sizes)}")

    def __len__(self) -> int:
        for t in self.features.values():
            return len(t)
        return 0

    def take(self, rows: torch.Tensor | np.ndarray) -> TensorTable:
        """The rows at ``rows`` (an index array), as a new table."""
        index = torch.as_tensor(rows, dtype=torch.long)
        return TensorTable(
            {k: v[index] for k, v in self.features.items()},
            {k: v[index] for k, v in self.labels.items()},
            self.users[index.numpy()] if len(self.users) else self.users,
        )

    def batches(
        self, size: int, shuffle: bool = False, generator: torch.Generator | None = None
    ) -> Iterator[tuple[Batch, dict[str, torch.Tensor]]]:
        """``(features, labels)`` mini-batches of ``size`` rows (the last may be smaller).

        Slicing whole columns avoids a DataLoader's per-row collation, which dominates the
        cost of small CTR models on CPU.
        """
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else None
        for start in range(0, n, size):
            if order is None:
                sl: slice | torch.Tensor = slice(start, start + size)
            else:
                sl = order[start : start + size]
            yield (
                {k: v[sl] for k, v in self.features.items()},
                {k: v[sl] for k, v in self.labels.items()},
            )
