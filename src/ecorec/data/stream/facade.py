"""The one object the service holds for the nearline path: outbox + relay + stream + stats.

``publish`` is what the events route calls after the EventLog stored a batch: a single SQLite
transaction into the outbox, then a wake-up of the relay, so the request never waits for NATS.
The consumer side (in-process worker or JetStream pull consumer) applies batches to
:class:`~ecorec.data.nearline.NearlineStats` and tells an optional listener about each bandit
reward it newly counted, so the live explore policy learns without a second pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from ecorec.core.events import Event
from ecorec.data.nearline import NearlineStats
from ecorec.data.nearline_schema import CreatorOf
from ecorec.data.outbox import Outbox
from ecorec.data.stream.base import EventStream, Handler
from ecorec.data.stream.relay import Relay

logger = logging.getLogger(__name__)

#: ``on_outcome(policy, arm, reward)``: called once per new bandit outcome, in order (see
#: :data:`~ecorec.data.nearline_schema.BanditOutcome`: 0.0 a new decision, 1.0 its click).
OutcomeListener = Callable[[str, str, float], None]
#: ``deleted_among(user_ids) -> erased ids`` (e.g. ``DeletionLog.deleted_among``).
ErasedUsers = Callable[[Iterable[str]], set[str]]


def open_stream(url: str, handler: Handler | None) -> EventStream:
    """Open and start the transport named by ``url``.

    Args:
        url: ``""`` or ``memory://`` for the in-process queue, ``nats://host:port[?stream=NAME&
            subject=SUBJ&durable=NAME]`` for NATS JetStream.
        handler: what the consumer calls with each batch (required in memory; ``None`` makes a
            publish-only JetStream client).

    Raises:
        ValueError: an unknown scheme or malformed URL.

    """
    if url in ("", "memory://", "memory:"):
        from ecorec.data.stream.memory import MemoryStream

        if handler is None:
            raise ValueError("the in-process stream needs a handler: nothing else would consume")
        return MemoryStream(handler).start()
    if url.startswith("nats://"):
        from ecorec.data.stream.nats import JetStreamStream

        return JetStreamStream(url, handler).start()
    raise ValueError(f"unknown stream URL {url!r}: use nats://host:4222 or memory://")


class Nearline:
    """Durable publishing of feedback events into the nearline stream, and its consumer.

    Args:
        outbox: the durable local outbox.
        stats: where the consumer applies events.
        creator_of: item id -> creator id, for events without ``creator_id`` (e.g. an
            ``ItemLookup.creator`` bound method; called from the consumer thread).
        on_outcome: listener for new bandit outcomes (decisions and their rewards), e.g. the
            live explore policy; its errors are logged, never retried (the outcomes are
            already counted in ``stats``).
        deleted_among: names the erased users of a batch; their events still in the outbox or
            the stream when they were erased are dropped instead of recreating personal rows.

    Example:
        >>> stats = NearlineStats("sqlite:///nearline.db")  # doctest: +SKIP
        >>> nearline = Nearline.open("", "outbox.db", stats)  # doctest: +SKIP
        >>> nearline.publish(events)  # after the EventLog stored them  # doctest: +SKIP
        >>> nearline.close()  # doctest: +SKIP

    """

    def __init__(
        self,
        outbox: Outbox,
        stats: NearlineStats,
        creator_of: CreatorOf | None = None,
        on_outcome: OutcomeListener | None = None,
        deleted_among: ErasedUsers | None = None,
    ) -> None:
        self.outbox = outbox
        self.deleted_among = deleted_among
        self.stats = stats
        self.creator_of = creator_of
        self.on_outcome = on_outcome
        self.stream: EventStream | None = None
        self.relay: Relay | None = None

    @classmethod
    def open(
        cls,
        stream_url: str,
        outbox_path: str | Path,
        stats: NearlineStats,
        creator_of: CreatorOf | None = None,
        on_outcome: OutcomeListener | None = None,
        deleted_among: ErasedUsers | None = None,
    ) -> Nearline:
        """Build the outbox, start the stream and the relay.

        Events left in the outbox by a previous run are published first.
        """
        nearline = cls(Outbox(outbox_path), stats, creator_of, on_outcome, deleted_among)
        return nearline.start(stream_url)

    def start(self, stream_url: str) -> Self:
        """Open the stream named by ``stream_url`` and start relaying; returns ``self``."""
        if self.relay is not None:
            raise RuntimeError("nearline is already started")
        self.stream = open_stream(stream_url, self.handle)
        self.relay = Relay(self.outbox, self.stream).start()
        return self

    def handle(self, events: list[Event]) -> None:
        """Apply one delivered batch to the stats and tell the outcome listener.

        Raises:
            Exception: whatever the stats store raised; the stream redelivers the batch.

        """
        if self.deleted_among is not None:
            erased = self.deleted_among({e.user_id for e in events})
            events = [e for e in events if e.user_id not in erased]
        result = self.stats.apply(events, self.creator_of)
        if self.on_outcome is None:
            return
        for policy, arm, reward in result.outcomes:
            try:
                self.on_outcome(policy, arm, reward)
            except Exception:
                logger.exception("bandit outcome listener failed for %s/%s", policy, arm)

    def publish(self, events: Sequence[Event]) -> None:
        """Put ``events`` in the outbox (durable when this returns) and wake the relay."""
        self.outbox.put(events)
        if self.relay is not None:
            self.relay.notify()

    @property
    def degraded(self) -> bool:
        """The stream was unreachable at the last attempt; events wait in the outbox."""
        return self.relay is not None and not self.relay.healthy

    @property
    def pending(self) -> int:
        """Events in the outbox not yet accepted by the stream."""
        return self.outbox.pending()

    def flush(self, timeout: float) -> bool:
        """Wait until every published event has been applied; ``False`` on timeout."""
        if self.relay is None:
            raise RuntimeError("nearline is not started")
        return self.relay.flush(timeout)

    def close(self) -> None:
        """Stop the relay and the stream, close the outbox; the stats store stays open."""
        if self.relay is not None:
            self.relay.close()
        if self.stream is not None:
            self.stream.close()
        self.outbox.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
