"""One pipeline call at a time, first come first served, and a bound on the wait.

One process runs one pipeline call at a time: the pipeline is Python holding the GIL, so
threads running it together only contend. Requests beyond what one core serves queue, and an
unbounded queue makes every request late (1M items, ~60 requests/s a core: 128 waiting
clients measured a p99 of 3 s, and a plain lock, being unfair, left some waiting 5 s).
:class:`PipelineQueue` hands out turns in arrival order and admits a request only while its
expected wait (the requests ahead of it times the recent duration of a call) is within
``budget_ms``; the others are answered at once by ``Pipeline.light`` (the non-personalised
channels and the merge's filters, no ranker, no ads), ``degraded`` with the fallback
``overload``. Not a 503: the user still gets a feed.

A call's duration is the CPU time of the thread that ran it, not wall time: light requests take
the GIL from the pipeline, and with wall time each refusal made calls look longer and caused
more refusals, until under 8 closed-loop clients 98% of slates were light and full slates fell
from ~35 to ~3 a second (1M items, measured). CPU time measures the queue's own work, so the
pipeline stays busy with full slates and only the excess is light; under contention a full
slate's wall-clock wait can exceed the budget by the share of the GIL the light ones take.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: weight of the newest call in the running mean of a call's duration
SMOOTHING = 0.1


class PipelineQueue:
    """Turns at the pipeline in arrival order, refused past an expected wait of ``budget_ms``.

    Args:
        budget_ms: the longest expected wait a request is admitted with; 0 admits every one.
        clock: the calling thread's CPU seconds (tests pass a fake clock).

    Example:
        >>> queue = PipelineQueue(budget_ms=0)
        >>> with queue.turn() as full:
        ...     full
        True

    """

    def __init__(self, budget_ms: float = 0.0, clock: Callable[[], float] = time.thread_time):
        if budget_ms < 0:
            raise ValueError(f"overload budget must be >= 0 ms, got {budget_ms}")
        self.budget_ms = budget_ms
        self.clock = clock
        #: running mean of a call's CPU time (ms), 0 until the first call ends
        self.call_ms = 0.0
        self._cond = threading.Condition()
        self._issued = 0  # tickets handed out
        self._done = 0  # turns finished: ticket ``_done`` runs now

    @property
    def queued(self) -> int:
        """Requests waiting for or running the pipeline now."""
        return self._issued - self._done

    def expected_wait_ms(self) -> float:
        """How long a request arriving now would wait for its turn."""
        return self.queued * self.call_ms

    @contextmanager
    def turn(self) -> Iterator[bool]:
        """Wait for this request's turn and yield True (the turn is held until the block ends).

        Yields False at once instead when the expected wait is over budget: the caller serves
        the light slate.
        """
        with self._cond:
            if self.budget_ms and self.queued and self.expected_wait_ms() > self.budget_ms:
                admitted = False
            else:
                admitted, ticket = True, self._issued
                self._issued += 1
                while self._done != ticket:
                    self._cond.wait()
        if not admitted:
            yield False
            return
        started = self.clock()
        try:
            yield True
        finally:
            ms = (self.clock() - started) * 1000
            with self._cond:
                self.call_ms = (
                    ms if not self.call_ms else self.call_ms + SMOOTHING * (ms - self.call_ms)
                )
                self._done += 1
                self._cond.notify_all()
