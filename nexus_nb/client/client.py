"""The kernel-side Nexus client: one connection, kept alive, fanned out to callbacks."""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection

from nexus_nb import protocol
from nexus_nb.client.backoff import Backoff
from nexus_nb.client.inbox import Inbox
from nexus_nb.client.link import Link
from nexus_nb.client.listeners import ColumnSink, Handler, Listeners, Sink
from nexus_nb.client.registry import Registry
from nexus_nb.client.state import ClientStats, State
from nexus_nb.client.stream import EventStream
from nexus_nb.client.transport import auth_url
from nexus_nb.exceptions import (
    ConnectionClosed,
    NexusError,
    ProtocolError,
    SubscriptionError,
    TransportError,
)

__all__ = ["Client"]

log = logging.getLogger("nexus_nb.client")


class Client:
    """A Nexus connection that reconnects, resubscribes and resumes on its own.

    Create one with :func:`nexus_nb.client.connect`. It runs as tasks on the
    current event loop (the kernel's, in Jupyter) until :meth:`close`.

    Events reach, in this order and once per frame: sinks (:meth:`add_sink`),
    ``"event"`` handlers (:meth:`on`), then each open ``async for`` iterator.
    Callbacks are synchronous and must be quick; one that raises is logged and
    counted in ``stats.handler_errors``.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        token_in_query: bool = False,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.1, 30.0),
        max_retries: int | None = None,
        heartbeat: float | None = 30.0,
        open_timeout: float = 10.0,
        max_queue: int = 10_000,
        resume: bool = True,
        ssl: ssl_module.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if heartbeat is not None and heartbeat <= 0:
            raise ValueError("heartbeat must be positive or None")
        if open_timeout <= 0:
            raise ValueError("open_timeout must be positive")
        if max_retries is not None and max_retries < 0:
            raise ValueError("max_retries must be >= 0 or None")
        self.url = url
        all_headers = dict(headers or {})
        target = url
        if api_key is not None:
            if token_in_query:
                target = auth_url(url, api_key)
            else:
                all_headers["Authorization"] = f"Bearer {api_key}"
        self._max_queue = max_queue
        self._resume = resume
        self._stats = ClientStats()
        self._listeners = Listeners()
        self.registry = Registry()
        self.inbox = Inbox(self._stats, self._listeners, lambda: self._link.replies)
        self._state = State.CONNECTING
        self._open = asyncio.Event()
        self._link = Link(
            self,
            target,
            stats=self._stats,
            headers=all_headers,
            ssl=ssl,
            reconnect=reconnect,
            backoff=Backoff(*backoff),
            max_retries=max_retries,
            heartbeat=heartbeat,
            open_timeout=open_timeout,
        )
        self.client_id: str | None = None
        self.epoch: str | None = None

    # -- state -------------------------------------------------------------

    @property
    def state(self) -> State:
        """The connection state."""
        return self._state

    @property
    def error(self) -> NexusError | None:
        """The error that closed the client (auth refusal, retries exhausted), else ``None``."""
        return self._link.error

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        snapshot = self._stats.copy()
        snapshot.handler_errors = self._listeners.errors
        return snapshot

    @property
    def subscriptions(self) -> Mapping[str, list[dict[str, Any] | None]]:
        """Every (channel, filters) subscribed and not unsubscribed; restored on reconnect."""
        return self.registry.view()

    def set_state(self, state: State) -> None:
        """Move to ``state`` and tell the ``"state"`` handlers (called by the link)."""
        previous, self._state = self._state, state
        if state in (State.OPEN, State.CLOSED):
            self._open.set()
        else:
            self._open.clear()
        if previous is not state:
            self._listeners.emit("state", {"type": "state", "state": state, "previous": previous})

    # -- callbacks ---------------------------------------------------------

    def on(self, message_type: str, fn: Handler) -> Callable[[], None]:
        """Call ``fn(message)`` for every message of ``message_type``.

        Types are the server's (``"event"``, ``"error"``, ``"gap"``, ``"pong"``,
        ``"connection_established"``, ...) plus local ``"state"`` (every state
        change: ``{state, previous}``) and ``"reconnected"`` (``{down_since,
        up_at, resumed, epoch_changed}``).

        Returns:
            A callable that removes the handler.
        """
        return self._listeners.on(message_type, fn)

    def add_sink(self, fn: Sink) -> Callable[[], None]:
        """Call ``fn(channel, events)`` once per event frame, before the handlers.

        ``events`` holds one message for an ``event`` frame and all of them for an
        ``event_batch`` frame, duplicates already removed. The fast path for buffers.

        Returns:
            A callable that removes the sink.
        """
        return self._listeners.add_sink(fn)

    def add_column_sink(self, fn: ColumnSink) -> Callable[[], None]:
        """Like :meth:`add_sink`, but a columnar batch comes as it was decoded.

        ``fn(channel, events)`` gets either a list of event messages or, for a
        frame of a subscription made with ``columns=True``, one
        :class:`~nexus_nb.protocol.EventColumns`. Nothing is rebuilt for it: the
        fastest way from the socket into typed columns.

        Returns:
            A callable that removes the sink.
        """
        return self._listeners.add_column_sink(fn)

    def __aiter__(self) -> EventStream:
        """A new iterator over event messages from now on.

        Each iterator queues at most ``max_queue`` events; beyond that the oldest
        is dropped and counted in ``stats.dropped``. It ends when the client is
        closed, raising the error that closed it if there was one.
        """
        stream = self.inbox.open_stream(self._max_queue)
        if self._state is State.CLOSED:
            stream.end(self._link.error)
        return stream

    # -- called by the link -------------------------------------------------

    def greet(self, hello: dict[str, Any]) -> bool:
        """Take a connection's ``connection_established``; return whether the epoch changed."""
        self.client_id = hello.get("client_id")
        epoch = hello.get("epoch")
        self.epoch = epoch if isinstance(epoch, str) else None
        changed = self.inbox.seq.start_epoch(self.epoch)
        self._stats.messages_received += 1
        self._listeners.emit("connection_established", hello)
        return changed

    def emit(self, message_type: str, message: dict[str, Any]) -> None:
        """Call the handlers of a local message type (used by the link)."""
        self._listeners.emit(message_type, message)

    # -- requests ----------------------------------------------------------

    async def _request(self, build: Callable[[int], bytes]) -> dict[str, Any]:
        ws = await self._wait_open()
        return await self._link.request(ws, build)

    async def _wait_open(self) -> ClientConnection:
        timeout = self._link.open_timeout
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self._open.wait()
                    ws = self._link.ws
                    if self._state is State.OPEN and ws is not None:
                        return ws
                    if self._state is State.CLOSED:
                        raise self._link.error or ConnectionClosed(None, "the client is closed")
                    await asyncio.sleep(0)
        except TimeoutError as exc:
            raise TransportError(f"not connected within {timeout} s ({self._state.value})") from exc

    async def subscribe(
        self,
        channels: Sequence[str] | str,
        filters: Mapping[str, Any] | None = None,
        *,
        batch: int | None = None,
        batch_interval: float = 0.005,
        columns: bool = False,
    ) -> dict[str, Any]:
        """Subscribe to ``channels`` with optional ``filters``; kept across reconnects.

        Args:
            channels: Channel names (a single string is one channel).
            filters: The reference's filters: ``{key: value or [values]}``.
            batch: Ask for ``event_batch`` frames of up to this many events
                (servers without the extension ignore it).
            batch_interval: Longest wait before a partial batch is sent, seconds.
            columns: Ask for the batches in columnar form (fastest into buffers;
                see :mod:`nexus_nb.protocol.columns`). Sinks added with
                ``columns=True`` get them as they come; everything else gets
                event messages rebuilt from them.

        Returns:
            The ``subscription_confirmed`` message.

        Raises:
            SubscriptionError: The server refused (its ``code`` and ``message``).
            TransportError: Not connected within ``open_timeout``, or no reply in time.
        """
        names = [channels] if isinstance(channels, str) else list(channels)
        spec = protocol.Batch(batch, batch_interval, columns) if batch is not None else None
        try:
            reply = await self._request(
                lambda rid: protocol.subscribe(names, filters, request_id=rid, batch=spec)
            )
        except SubscriptionError:
            raise
        except ProtocolError as exc:
            raise SubscriptionError(exc.code, exc.message) from exc
        self.registry.add(names, filters, spec)
        return reply

    async def unsubscribe(self, channels: Sequence[str] | str) -> dict[str, Any]:
        """Unsubscribe from ``channels`` (every filter set on them).

        Returns:
            The ``unsubscription_confirmed`` message.

        Raises:
            SubscriptionError: The server refused.
            TransportError: Not connected, or no reply in time.
        """
        names = [channels] if isinstance(channels, str) else list(channels)
        try:
            reply = await self._request(lambda rid: protocol.unsubscribe(names, request_id=rid))
        except SubscriptionError:
            raise
        except ProtocolError as exc:
            raise SubscriptionError(exc.code, exc.message) from exc
        self.registry.remove(names)
        return reply

    def resume_point(self, channels: list[str]) -> tuple[str, dict[str, int]] | None:
        """The ``resume`` to send with a resubscription, or ``None`` when not resuming."""
        if not self._resume or self.epoch is None:
            return None
        seq = self.inbox.seq.resume_point(channels)
        return (self.epoch, seq) if seq else None

    async def ping(self) -> float:
        """Round-trip time of a ``ping`` action, in seconds.

        Raises:
            TransportError: Not connected, or no ``pong`` within ``open_timeout``.
        """
        start = time.perf_counter()
        await self._request(lambda rid: protocol.ping(request_id=rid))
        return time.perf_counter() - start

    async def publish(
        self,
        channel: str,
        data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        timestamp: str | None = None,
    ) -> dict[str, Any]:
        """Publish one event payload (a mapping) or several (a sequence) on ``channel``.

        Returns:
            The ``publish_ack`` message (``count``, ``seq`` of the last event).

        Raises:
            ProtocolError: The server refused (the reference has no ``publish``).
            TransportError: Not connected, or no reply in time.
        """
        events = [data] if isinstance(data, Mapping) else list(data)
        if not events:
            raise ValueError("publish needs at least one event")
        return await self._request(
            lambda rid: protocol.publish(channel, events, timestamp=timestamp, request_id=rid)
        )

    # -- life --------------------------------------------------------------

    async def start(self) -> None:
        """Open the first connection (no retry); used by :func:`connect`.

        Raises:
            AuthError: The server refused the credentials.
            TransportError: Refused, unreachable or timed out.
        """
        await self._link.start()

    async def close(self) -> None:
        """Close the connection; idempotent.

        Every frame read before the close completes has reached the sinks and
        handlers when this returns; iterators end after their queued events.
        """
        await self._link.close()

    aclose = close

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<nexus_nb.Client {self.url} {self._state.value}>"
