"""Id lists cut to fit one SQL ``IN (...)``.

SQLite builds before 3.32 bind at most 999 parameters per statement; 900 ids leave room for the
statement's other parameters on every backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: Ids per ``IN (...)`` list.
SQL_IN_CHUNK = 900


def sql_chunks(values: Sequence[T], size: int = SQL_IN_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``values``, each at most ``size`` long."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
