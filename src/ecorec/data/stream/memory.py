"""The in-process stream: a queue and one worker thread that calls the handler.

Used when ``stream_url`` is empty or ``memory://``. Here the durable queue is the outbox, so
``publish`` returns only once the handler has processed the batch: the relay then removes the
rows, and a crash at any point leaves unhandled events in the outbox, never lost. The worker
thread still matters: handlers run one batch at a time, in order, whoever publishes.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from ecorec.core.events import Event
from ecorec.data.stream.base import Handler, StreamUnavailable

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    events: list[Event]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class MemoryStream:
    """An in-process :class:`~ecorec.data.stream.base.EventStream`.

    Args:
        handler: called with each published batch, in the worker thread.
        timeout: seconds ``publish`` waits for the handler before raising
            :class:`StreamUnavailable` (the batch may still be handled later: handlers must be
            idempotent, as for any at-least-once stream).

    Example:
        >>> seen = []
        >>> stream = MemoryStream(seen.extend).start()
        >>> from ecorec.core.events import Event, EventType
        >>> stream.publish([Event("e1", 1.0, "u1", EventType.CLICK, item_id="i1")])
        >>> [e.event_id for e in seen]
        ['e1']
        >>> stream.close()

    """

    def __init__(self, handler: Handler, timeout: float = 30.0) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.handler = handler
        self.timeout = timeout
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._busy = 0
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="ecorec-memory-stream", daemon=True)

    def start(self) -> MemoryStream:
        """Start the worker thread; returns ``self``."""
        self._thread.start()
        return self

    def publish(self, events: Sequence[Event]) -> None:
        """Run the handler on ``events`` (in the worker) and return when it succeeded.

        Raises:
            StreamUnavailable: the stream is closed, the handler raised, or it did not finish
                within ``timeout``.

        """
        if self._closed or not self._thread.is_alive():
            raise StreamUnavailable("in-process stream is closed or not started")
        if not events:
            return
        job = _Job(list(events))
        with self._lock:
            self._busy += 1
        self._queue.put(job)
        if not job.done.wait(self.timeout):
            raise StreamUnavailable(f"nearline handler did not finish within {self.timeout} s")
        if job.error is not None:
            raise StreamUnavailable(f"nearline handler failed: {job.error!r}") from job.error

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self.handler(job.events)
            except Exception as err:  # reported to the publisher, who keeps the events
                logger.warning("nearline handler failed on %d events: %r", len(job.events), err)
                job.error = err
            finally:
                with self._lock:
                    self._busy -= 1
                job.done.set()

    def caught_up(self) -> bool:
        """No batch is queued or being handled."""
        with self._lock:
            return self._busy == 0

    def close(self) -> None:
        """Finish the queued batches, then stop the worker; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(self.timeout)
