"""The contract every nearline transport keeps, and the error it raises when it cannot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ecorec.core.events import Event

#: What a consumer does with a batch; raising means "not handled, deliver again later".
Handler = Callable[[list[Event]], None]


class StreamUnavailable(RuntimeError):  # noqa: N818 (the name the service contract uses)
    """The transport cannot take events now (server down, timeout, handler failing).

    The caller keeps the events (the relay leaves them in the outbox) and tries again later.
    """


class EventStream(Protocol):
    """A transport that carries events from the outbox to the nearline consumer."""

    def publish(self, events: Sequence[Event]) -> None:
        """Hand ``events`` over; when this returns the transport is responsible for them.

        Raises:
            StreamUnavailable: nothing can be guaranteed about these events; publish again.

        """
        ...

    def caught_up(self) -> bool:
        """Whether every published event has been handled (for flushes and tests)."""
        ...

    def close(self) -> None:
        """Stop workers and release connections; idempotent."""
        ...
