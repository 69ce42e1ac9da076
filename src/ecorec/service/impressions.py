"""Impressions written in batches off the request path, to the EventLog and the nearline stream.

A slate's impressions are what off-policy evaluation, CTR training and the health metrics learn
from, and the nearline consumer needs them too: an explore slot's impression is the bandit
decision that a later click rewards. Writing them inside the request cost one fsync per slate
(the EventLog is durable), the largest share of the HTTP tail; here a writer thread gathers the
impressions of every slate served in the last ``flush_ms`` and writes them with one append and
one publish.

The trade: impressions are not acknowledged to anyone, so a crash loses at most the last
``flush_ms`` of them (the slates were served; what they logged is gone). Feedback events, which
a client is told are stored, never take this path. When the queue is over ``max_pending`` (the
store cannot keep up), the oldest waiting impressions are dropped and counted, so memory stays
bounded and serving never blocks on the log.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

from ecorec.core.events import Event
from ecorec.data.protocols import EventLog

log = logging.getLogger(__name__)


class ImpressionWriter:
    """Batches impressions into ``events.append`` and ``publish`` from a daemon thread.

    Args:
        events: the EventLog.
        publish: where the batch goes after it is stored (the nearline stream), or None.
        flush_ms: the longest an impression waits before its batch is written.
        max_pending: impressions kept waiting at most; older ones are dropped past it.
        on_failure: called with the number of impressions a failed or dropped write lost.

    """

    def __init__(
        self,
        events: EventLog,
        publish: Callable[[Sequence[Event]], None] | None = None,
        flush_ms: float = 50.0,
        max_pending: int = 200_000,
        on_failure: Callable[[int], None] | None = None,
    ) -> None:
        self.events = events
        self.publish = publish
        self.flush_s = flush_ms / 1000.0
        self.max_pending = max_pending
        self.on_failure = on_failure
        self._queue: deque[Event] = deque()
        self._wake = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="ecorec-impressions", daemon=True)
        self._thread.start()

    def put(self, impressions: Sequence[Event]) -> None:
        """Queue a slate's impressions; returns at once."""
        dropped = 0
        with self._wake:
            self._queue.extend(impressions)
            while len(self._queue) > self.max_pending:
                self._queue.popleft()
                dropped += 1
            self._wake.notify()
        if dropped:
            self._failed(dropped)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued impression is written; ``False`` on timeout."""
        with self._wake:
            self._wake.notify()
            return self._wake.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._queue or self._closed)
                if not self._queue and self._closed:
                    return
            self._wake_after_window()
            with self._wake:
                batch = list(self._queue)
                self._queue.clear()
                self._busy = True
            try:
                self._write(batch)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _wake_after_window(self) -> None:
        """Let a batch gather for ``flush_s`` unless the app is closing."""
        with self._wake:
            self._wake.wait_for(lambda: self._closed, self.flush_s)

    def _write(self, batch: list[Event]) -> None:
        try:
            self.events.append(batch)
        except Exception:
            log.exception("could not log %d impressions", len(batch))
            self._failed(len(batch))
            return
        if self.publish is not None:
            try:
                self.publish(batch)
            except Exception:  # stored; the stream's statistics miss them
                log.exception("could not queue %d impressions for the nearline stream", len(batch))

    def _failed(self, count: int) -> None:
        if self.on_failure is not None:
            self.on_failure(count)
