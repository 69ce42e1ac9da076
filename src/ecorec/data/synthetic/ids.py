"""Fixed-width string ids built straight into Arrow buffers.

Formatting millions of ids in Python (``f"u{n:07d}"``) costs about a microsecond each; building
the bytes of a fixed-width id with numpy (four digits per lookup) and handing the buffers to
Arrow costs a few nanoseconds, which is what lets the generator pass 200k events/s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ecorec.data.synthetic.spec import PlatformSpec

# Row n holds the four ASCII digits of n: one gather writes four digits.
DIGITS4 = np.array([list(f"{n:04d}".encode()) for n in range(10_000)], dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class IdFormat:
    """A prefix followed by a zero-padded number, e.g. ``u0000123``.

    The width grows past ``width`` when ``count`` needs it, so ids stay unique and sort in
    number order for any size.
    """

    prefix: str
    width: int

    @classmethod
    def sized(cls, prefix: str, width: int, count: int) -> IdFormat:
        """Return the format for ``count`` ids, at least ``width`` digits wide."""
        return cls(prefix, max(width, len(str(max(count - 1, 0)))))

    def one(self, number: int) -> str:
        """Return the id of ``number``."""
        return f"{self.prefix}{number:0{self.width}d}"

    def many(self, numbers: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
        """Return the ids of ``numbers`` as Arrow strings; null where ``valid`` is false."""
        return format_ids(self.prefix, self.width, numbers, valid)


def format_ids(
    prefix: str, width: int, numbers: np.ndarray, valid: np.ndarray | None = None
) -> pa.Array:
    """Build ``prefix + zero-padded number`` strings as one Arrow string array.

    Args:
        prefix: ASCII text before the digits.
        width: digits per id; numbers must be below ``10**width``.
        numbers: non-negative integers.
        valid: optional mask; rows where it is false become null (their number is ignored).

    Returns:
        A ``pa.string()`` array of ``len(numbers)`` rows.

    """
    n = len(numbers)
    rows = np.asarray(numbers, dtype=np.int64)
    if valid is not None:
        rows = rows[valid]
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    size = len(head) + width
    data = np.empty((len(rows), size), dtype=np.uint8)
    data[:, : len(head)] = head
    rest = rows.copy()
    end = size
    while end > len(head):
        start = max(end - 4, len(head))
        rest, low = np.divmod(rest, 10_000)
        data[:, start:end] = DIGITS4[low][:, 4 - (end - start) :]
        end = start
    if valid is None:
        offsets = np.arange(0, (n + 1) * size, size, dtype=np.int32)
        buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        return pa.Array.from_buffers(pa.string(), n, buffers, null_count=0)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(valid * np.int32(size), out=offsets[1:])
    bitmap = np.packbits(valid, bitorder="little")
    buffers = [pa.py_buffer(bitmap), pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), n, buffers, null_count=n - len(rows))


def id_formats(spec: PlatformSpec) -> dict[str, IdFormat]:
    """Return the id formats of every entity kind, e.g. ``u0000123``, ``i0000042``, ``c00007``."""
    return {
        "user": IdFormat.sized("u", 7, spec.users),
        "item": IdFormat.sized("i", 7, spec.items),
        "creator": IdFormat.sized("c", 5, spec.creators),
        "advertiser": IdFormat.sized("adv", 4, spec.advertisers),
        "ad": IdFormat.sized("ad", 5, spec.ads),
    }
