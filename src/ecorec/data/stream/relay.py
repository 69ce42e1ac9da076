"""The relay: a thread that moves events from the durable outbox into the stream.

Rows leave the outbox only after the stream accepted them, oldest first, so an outage or a
crash delays events but never drops or reorders a batch. While the stream is unavailable the
relay backs off exponentially (bounded) instead of hammering a dead server; ``notify`` wakes it
when new events arrive, but does not cut a backoff short.
"""

from __future__ import annotations

import logging
import threading
import time

from ecorec.data.outbox import Outbox
from ecorec.data.stream.base import EventStream, StreamUnavailable

logger = logging.getLogger(__name__)


class Relay:
    """Drain ``outbox`` into ``stream`` in a daemon thread.

    Args:
        outbox: where the service put events.
        stream: where they go.
        batch: rows per publish.
        min_backoff: first wait after a failed publish, seconds.
        max_backoff: longest wait between attempts while the stream is down, seconds.
        poll: longest idle wait; rows put by another process are picked up within it.

    Example:
        >>> relay = Relay(outbox, stream).start()  # doctest: +SKIP
        >>> outbox.put(events); relay.notify()  # doctest: +SKIP
        >>> relay.flush(5.0)  # doctest: +SKIP
        True

    """

    def __init__(
        self,
        outbox: Outbox,
        stream: EventStream,
        batch: int = 256,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        poll: float = 1.0,
    ) -> None:
        if batch < 1 or not 0 < min_backoff <= max_backoff or poll <= 0:
            raise ValueError(
                "need batch >= 1, 0 < min_backoff <= max_backoff and poll > 0, got "
                f"{batch}, {min_backoff}, {max_backoff}, {poll}"
            )
        self.outbox = outbox
        self.stream = stream
        self.batch = batch
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.poll = poll
        self.healthy = True  #: whether the last publish attempt succeeded
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()  # set while the outbox was seen empty
        self._thread = threading.Thread(target=self._run, name="ecorec-relay", daemon=True)

    def start(self) -> Relay:
        """Start the relay thread; returns ``self``."""
        self._thread.start()
        return self

    def notify(self) -> None:
        """Say that the outbox has new rows (cheap; call after every ``put``)."""
        self._idle.clear()
        self._wake.set()

    def _run(self) -> None:
        backoff = self.min_backoff
        while not self._stop.is_set():
            try:
                rows = self.outbox.peek(self.batch)
            except Exception as err:  # outbox closed under us, disk error: retry later
                logger.error("relay cannot read the outbox: %r", err)
                self._stop.wait(self.max_backoff)
                continue
            if not rows:
                self._idle.set()
                self._wake.wait(self.poll)
                self._wake.clear()
                continue
            try:
                self.stream.publish([event for _, event in rows])
            except Exception as err:
                if not isinstance(err, StreamUnavailable):
                    logger.exception("stream publish failed unexpectedly")
                if self.healthy:
                    logger.warning(
                        "nearline stream unavailable, events wait in the outbox: %s", err
                    )
                self.healthy = False
                self.last_error = str(err)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            self.outbox.remove([row_id for row_id, _ in rows])
            if not self.healthy:
                logger.info("nearline stream is back; outbox draining")
            self.healthy = True
            self.last_error = None
            backoff = self.min_backoff

    def flush(self, timeout: float) -> bool:
        """Wait until the outbox is empty and the stream's consumer has caught up.

        Returns:
            ``True`` when both happened within ``timeout`` seconds, else ``False``.

        """
        deadline = time.monotonic() + timeout
        self.notify()
        delay = 0.005
        while True:
            if self.outbox.pending() == 0 and self._idle.is_set() and self.stream.caught_up():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (rows not yet published stay in the outbox); idempotent."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
