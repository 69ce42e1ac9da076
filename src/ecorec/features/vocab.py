"""Vocabularies: raw feature values to the integer codes an embedding table reads.

A vocabulary is fitted on training rows only, so validation and test rows see exactly what a
served model sees: a value first met after training (a new user, a new item, a new zip area)
maps to :data:`~ecorec.features.schema.OOV` and scores through the learned out-of-vocabulary
vector instead of failing. Codes are dense, start at 2 (after PAD and OOV) and follow the
sorted order of the values, so the same training data always gives the same codes whatever
order its rows came in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ecorec.features.schema import OOV, PAD

#: Code of the first real value (0 and 1 are PAD and OOV).
FIRST_CODE = 2


def as_strings(values: Any) -> np.ndarray:
    """``values`` as a numpy unicode array, with ``None`` (and nulls) as ``""``.

    Accepts lists, numpy arrays and pyarrow arrays; numbers become their ``str``.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":  # the common case first
        return values
    if isinstance(values, pa.ChunkedArray | pa.Array):
        filled = pc.fill_null(values.cast(pa.string()), "")
        return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=str)
    array = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=object)
    if array.dtype == object and array.size:
        array = array.copy()
        array[np.array([v is None for v in array.tolist()], dtype=bool)] = ""
    return array.astype(str)


class Vocabulary:
    """A fitted mapping from string values to codes ``2..size-1``.

    Args:
        values: the known values, distinct and non-empty, in code order (code of
            ``values[i]`` is ``i + 2``); use :meth:`fit` to learn them from data.

    Example:
        >>> vocab = Vocabulary.fit(["b", "a", "b"])
        >>> vocab.encode(["a", "b", "z", None]).tolist()
        [2, 3, 1, 1]
        >>> vocab.size
        4

    """

    def __init__(self, values: Iterable[str]) -> None:
        self._values = np.asarray(list(values), dtype=str)
        if len(self._values) and (self._values == "").any():
            raise ValueError("a vocabulary cannot hold the empty value (it encodes as OOV)")
        order = np.argsort(self._values, kind="stable")
        sorted_values = self._values[order]
        if len(sorted_values) > 1 and (sorted_values[1:] == sorted_values[:-1]).any():
            raise ValueError("vocabulary values must be distinct")
        self._sorted = sorted_values
        self._codes = order.astype(np.int64) + FIRST_CODE

    @classmethod
    def fit(cls, values: Any) -> Vocabulary:
        """The vocabulary of the distinct non-empty ``values``, in sorted order."""
        unique = np.unique(as_strings(values))
        return cls(unique[unique != ""])

    @property
    def size(self) -> int:
        """Number of codes, PAD and OOV included (an embedding table's row count)."""
        return len(self._values) + FIRST_CODE

    @property
    def values(self) -> list[str]:
        """The known values in code order."""
        return [str(v) for v in self._values.tolist()]

    def __contains__(self, value: object) -> bool:
        return bool(self.encode([value])[0] != OOV)

    def encode(self, values: Any) -> np.ndarray:
        """``int64`` codes of ``values``; unknown, ``None`` and ``""`` give :data:`OOV`."""
        strings = as_strings(values)
        out = np.full(strings.shape, OOV, dtype=np.int64)
        if not len(self._sorted) or not strings.size:
            return out
        at = np.searchsorted(self._sorted, strings)
        inside = at < len(self._sorted)
        found = np.zeros(strings.shape, dtype=bool)
        found[inside] = self._sorted[at[inside]] == strings[inside]
        out[found] = self._codes[at[found]]
        return out

    def decode(self, codes: Any) -> list[str | None]:
        """The values of ``codes`` (``None`` for PAD, OOV and codes out of range)."""
        table = self._values
        return [
            str(table[c - FIRST_CODE]) if FIRST_CODE <= c < self.size else None
            for c in np.asarray(codes, dtype=np.int64).tolist()
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, saved next to a model's weights."""
        return {"pad": PAD, "oov": OOV, "values": self.values}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vocabulary:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: a dictionary written with other PAD/OOV codes or without values.

        """
        if data.get("pad", PAD) != PAD or data.get("oov", OOV) != OOV:
            raise ValueError(
                f"vocabulary saved with pad={data.get('pad')}, oov={data.get('oov')}; "
                f"this version uses pad={PAD}, oov={OOV}"
            )
        values = data.get("values")
        if not isinstance(values, list):
            raise ValueError("a saved vocabulary needs a 'values' list")
        return cls(str(v) for v in values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and np.array_equal(self._values, other._values)

    def __hash__(self) -> int:
        return hash(tuple(self.values))

    def __repr__(self) -> str:
        return f"Vocabulary(size={self.size})"
