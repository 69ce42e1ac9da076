"""The NATS JetStream stream: deduplicated publishes, a durable pull consumer, explicit acks.

``publish`` sends each event with the ``Nats-Msg-Id`` header set to its ``event_id``, so the
server drops a re-sent event inside the stream's duplicate window, and waits for every PubAck
(the stream stored it on disk) before returning. A durable pull consumer with
``AckPolicy.EXPLICIT`` fetches batches, hands them to the handler, and acks each message only
after the handler succeeded; a failing handler naks them for redelivery. Beyond the duplicate
window, the handler's own processed-ids table keeps the whole path idempotent.

nats-py is asyncio and the rest of ecorec is threads, so one event loop runs in a daemon
thread and the public methods bridge into it with ``asyncio.run_coroutine_threadsafe``, each
with a timeout: a down server makes ``publish`` raise :class:`StreamUnavailable` within
``timeout`` seconds instead of hanging a request. The client does not reconnect by itself
(``allow_reconnect=False``): when the connection drops, the next call opens a new one, and the
consumer loop retries with a bounded backoff, so it resumes when the server comes back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from ecorec.core.events import Event
from ecorec.data.outbox import decode_event, encode_event
from ecorec.data.stream.base import Handler, StreamUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


@dataclass(frozen=True)
class JetStreamTarget:
    """Where events go: server, stream, subject and durable consumer, parsed from a URL.

    ``nats://host:port?stream=ECOREC_EVENTS&subject=ecorec.events&durable=ecorec-nearline``;
    every query key is optional and unknown keys are errors.
    """

    server: str
    stream: str = "ECOREC_EVENTS"
    subject: str = "ecorec.events"
    durable: str = "ecorec-nearline"

    @classmethod
    def parse(cls, url: str) -> JetStreamTarget:
        """Parse a ``nats://`` URL.

        Raises:
            ValueError: naming the part of the URL that is wrong.

        """
        parts = urlsplit(url)
        if parts.scheme != "nats" or not parts.hostname:
            raise ValueError(f"stream URL must look like nats://host:4222, got {url!r}")
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = set(query) - {"stream", "subject", "durable"}
        if unknown:
            raise ValueError(f"unknown stream URL parameter(s) {sorted(unknown)} in {url!r}")
        values = {key: vals[-1] for key, vals in query.items()}
        for key in ("stream", "durable"):
            if key in values and not _NAME.match(values[key]):
                raise ValueError(f"{key} must be letters, digits, '_' or '-', got {values[key]!r}")
        if "subject" in values and not _SUBJECT.match(values["subject"]):
            raise ValueError(f"subject must be dot-separated tokens, got {values['subject']!r}")
        server = f"nats://{parts.hostname}:{parts.port or 4222}"
        return cls(server=server, **values)


class JetStreamStream:
    """An :class:`~ecorec.data.stream.base.EventStream` over NATS JetStream.

    Args:
        url: ``nats://host:port[?stream=NAME&subject=SUBJ&durable=NAME]``.
        handler: called with each fetched batch (in a worker thread); ``None`` publishes only.
        timeout: seconds any call (connect, publish with its PubAcks, info) may take.
        batch: messages per fetch.
        duplicate_window: seconds the server remembers message ids (set when the stream is
            created; an existing stream keeps its own).

    Example:
        >>> stream = JetStreamStream("nats://127.0.0.1:4222", print)  # doctest: +SKIP
        >>> stream.start()  # doctest: +SKIP
        >>> stream.publish(events)  # doctest: +SKIP

    """

    def __init__(
        self,
        url: str,
        handler: Handler | None,
        timeout: float = 2.0,
        batch: int = 256,
        duplicate_window: float = 600.0,
        nak_delay: float = 0.2,
    ) -> None:
        if timeout <= 0 or batch < 1:
            raise ValueError(f"timeout must be > 0 and batch >= 1, got {timeout}, {batch}")
        self.target = JetStreamTarget.parse(url)
        self.handler = handler
        self.timeout = timeout
        self.batch = batch
        self.duplicate_window = duplicate_window
        self.nak_delay = nak_delay
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="ecorec-nats", daemon=True
        )
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._connecting: asyncio.Lock | None = None
        self._consumer: concurrent.futures.Future[None] | None = None
        self._busy = False
        self._closed = False

    def start(self) -> JetStreamStream:
        """Start the event loop and, with a handler, the consumer; returns ``self``.

        Does not need the server: connection happens on first use and is retried.
        """
        self._thread.start()
        if self.handler is not None:
            self._consumer = asyncio.run_coroutine_threadsafe(self._consume(), self._loop)
        return self

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._closed or not self._thread.is_alive():
            coro.close()
            raise StreamUnavailable("JetStream stream is closed or not started")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise StreamUnavailable(
                f"NATS at {self.target.server} did not answer within {timeout} s"
            ) from None
        except StreamUnavailable:
            raise
        except Exception as err:
            raise StreamUnavailable(f"NATS at {self.target.server}: {err!r}") from err

    async def _context(self) -> JetStreamContext:
        """The JetStream context of a live connection, opening one (and the stream) if needed."""
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._nc is not None and self._nc.is_connected and self._js is not None:
                return self._js
            await self._drop()
            # nats-py retries a failed first connect max_reconnect_attempts times, sleeping
            # reconnect_time_wait between tries (minutes by default): keep it to one quick
            # retry and bound the whole attempt, so a dead server fails fast and frees the lock.
            nc = await asyncio.wait_for(
                nats.connect(
                    servers=[self.target.server],
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.05,
                    connect_timeout=max(1, round(self.timeout)),
                    error_cb=_quiet,
                ),
                self.timeout,
            )
            js = nc.jetstream(timeout=self.timeout)
            try:
                await js.stream_info(self.target.stream)
            except NotFoundError:
                await js.add_stream(
                    StreamConfig(
                        name=self.target.stream,
                        subjects=[self.target.subject],
                        storage=StorageType.FILE,
                        # an acknowledged message is deleted: the stream holds no personal
                        # data past its processing, so an erasure leaves nothing behind here
                        retention=RetentionPolicy.WORK_QUEUE,
                        duplicate_window=self.duplicate_window,
                    )
                )
            self._nc, self._js = nc, js
            return js

    async def _drop(self) -> None:
        nc, self._nc, self._js, self._sub = self._nc, None, None, None
        if nc is not None and not nc.is_closed:
            try:
                await nc.close()
            except Exception as err:  # a dead socket may refuse a clean close
                logger.debug("closing NATS connection: %r", err)

    def publish(self, events: Sequence[Event]) -> None:
        """Store ``events`` in the stream, each with ``Nats-Msg-Id`` = its event id.

        Raises:
            StreamUnavailable: no connection, no PubAck within ``timeout``, or a server error;
                some events may have been stored (re-publishing them is deduplicated).

        """
        if events:
            self._call(self._publish(list(events)), self.timeout)

    async def _publish(self, events: list[Event]) -> None:
        js = await self._context()
        # Sent in order on one connection, so the stream keeps the outbox order.
        await asyncio.gather(
            *(
                js.publish(
                    self.target.subject,
                    encode_event(e),
                    timeout=self.timeout,
                    headers={"Nats-Msg-Id": e.event_id},
                )
                for e in events
            )
        )

    async def _subscription(self) -> JetStreamContext.PullSubscription:
        js = await self._context()
        if self._sub is None:
            config = ConsumerConfig(
                durable_name=self.target.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30.0,
                max_deliver=-1,
                filter_subject=self.target.subject,
            )
            self._sub = await js.pull_subscribe(
                self.target.subject,
                durable=self.target.durable,
                stream=self.target.stream,
                config=config,
            )
        return self._sub

    async def _consume(self) -> None:
        delay = 0.1
        while not self._closed:
            try:
                sub = await self._subscription()
                try:
                    msgs = await sub.fetch(self.batch, timeout=1.0)
                except (TimeoutError, NatsTimeoutError):
                    continue  # nothing to do; fetch again
                await self._deliver(msgs)
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if self._closed:
                    return
                # Warn once per outage, not at every retry of a long one.
                log = logger.warning if delay == 0.1 else logger.debug
                log("nearline consumer: %r; retrying in %.1f s", err, delay)
                await self._drop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _deliver(self, msgs: list[Msg]) -> None:
        assert self.handler is not None and self._nc is not None
        events: list[Event] = []
        good: list[Msg] = []
        for msg in msgs:
            try:
                events.append(decode_event(msg.data))
                good.append(msg)
            except ValueError as err:  # redelivering a malformed message would loop forever
                logger.error("dropping undecodable stream message: %s", err)
                await msg.term()
        self._busy = True
        try:
            if events:
                await asyncio.to_thread(self.handler, events)
        except Exception as err:
            logger.warning("nearline handler failed on %d events: %r", len(events), err)
            for msg in good:
                await msg.nak(delay=self.nak_delay)
        else:
            for msg in good:
                await msg.ack()
        finally:
            self._busy = False
        await self._nc.flush(timeout=max(1, round(self.timeout)))

    def caught_up(self) -> bool:
        """The durable consumer has nothing pending or unacked and the handler is idle."""
        try:
            return self._call(self._caught_up(), self.timeout)
        except StreamUnavailable:
            return False

    async def _caught_up(self) -> bool:
        js = await self._context()
        try:
            info = await js.consumer_info(self.target.stream, self.target.durable)
        except NotFoundError:
            return self.handler is None
        return not self._busy and not info.num_pending and not info.num_ack_pending

    def close(self) -> None:
        """Stop the consumer, close the connection and the loop; idempotent."""
        if self._closed:
            return
        self._closed = True
        if not self._thread.is_alive():
            return
        if self._consumer is not None:
            self._consumer.cancel()
        shutdown = asyncio.run_coroutine_threadsafe(self._drop(), self._loop)
        try:
            shutdown.result(self.timeout)
        except Exception as err:
            logger.debug("closing NATS stream: %r", err)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self.timeout)
        if not self._thread.is_alive():
            self._loop.close()


async def _quiet(err: Exception) -> None:
    # nats-py reports every failed connect through this callback; the caller sees the error.
    logger.debug("NATS client error: %r", err)
