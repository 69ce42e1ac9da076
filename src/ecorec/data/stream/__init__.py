"""The nearline stream: feedback events flow from a durable outbox to the nearline consumer.

``open_stream(url, handler)`` picks the transport by URL (``memory://`` or empty: an in-process
queue; ``nats://``: NATS JetStream); :class:`Relay` drains the outbox into it; :class:`Nearline`
is the facade the service holds.
"""

from __future__ import annotations

from ecorec.data.stream.base import EventStream, Handler, StreamUnavailable
from ecorec.data.stream.facade import ErasedUsers, Nearline, OutcomeListener, open_stream
from ecorec.data.stream.relay import Relay

__all__ = [
    "ErasedUsers",
    "EventStream",
    "Handler",
    "Nearline",
    "Relay",
    "OutcomeListener",
    "StreamUnavailable",
    "open_stream",
]
