"""Past capacity, a cheap slate now rather than a full one too late.

One process runs one pipeline call at a time (``ServiceState.pipeline_lock``): the pipeline is
Python holding the GIL, so requests beyond what one core serves can only queue, and an unbounded
queue makes every request late (at 1M items, ~60 requests/s a core: 128 waiting clients measured
a p99 of 3 s). :class:`Admission` bounds the requests waiting for or running the full pipeline;
the ones past the bound are answered at once by ``Pipeline.light`` (the non-personalised
channels and the merge's filters, no ranker, no ads), ``degraded`` with the fallback
``overload``, which the fallback counter shows. Not a 503: the user still gets a feed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Admission:
    """Counts the requests admitted to the full pipeline; past ``limit`` the rest are not.

    Args:
        limit: requests that may wait for or run the pipeline at once; 0 admits every one.

    Example:
        >>> admission = Admission(1)
        >>> with admission.enter() as first, admission.enter() as second:
        ...     (first, second)
        (True, False)

    """

    def __init__(self, limit: int = 0) -> None:
        if limit < 0:
            raise ValueError(f"admission limit must be >= 0, got {limit}")
        self.limit = limit
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        """Requests waiting for or running the full pipeline now."""
        return self._admitted

    @contextmanager
    def enter(self) -> Iterator[bool]:
        """Yield whether this request takes the full path; it counts until the block ends."""
        with self._lock:
            full = self.limit == 0 or self._admitted < self.limit
            if full:
                self._admitted += 1
        try:
            yield full
        finally:
            if full:
                with self._lock:
                    self._admitted -= 1
