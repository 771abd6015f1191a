"""The kernel-side Nexus client: one connection, kept alive, fanned out to callbacks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ssl as ssl_module
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

from nexus_nb import protocol
from nexus_nb.client.backoff import Backoff
from nexus_nb.client.credential import handshake_target
from nexus_nb.client.inbox import Inbox
from nexus_nb.client.link import Link
from nexus_nb.client.listeners import ColumnSink, Handler, Listeners, Sink
from nexus_nb.client.protocol import MAX_HOLD, ClientProtocol
from nexus_nb.client.queue import EventStream
from nexus_nb.client.reader import MAX_HANDOFF, ReaderSink, Relay
from nexus_nb.client.state import ClientStats, State
from nexus_nb.exceptions import NexusError, ProtocolError, SubscriptionError, TransportError
from nexus_nb.thread import LoopThread

__all__ = ["Client", "Reader"]

T = TypeVar("T")

Reader = Literal["loop", "thread"]
"""Where a client reads its socket: on the caller's event loop, or on a thread of its own."""


class Client:
    """A Nexus connection that reconnects, resubscribes and resumes on its own.

    ``async with Client(url, api_key=...) as client:`` connects on entry and
    closes on exit; ``client = await Client.connect(url, ...)`` connects and
    :meth:`aclose` closes. It runs as tasks on the current event
    loop (the kernel's, in Jupyter) until closed.

    Events reach, in this order and once per frame: sinks (:meth:`add_sink`),
    ``"event"`` handlers (:meth:`on`), then each open ``async for`` iterator.
    Callbacks are synchronous and must be quick; one that raises is logged and
    counted in ``stats.handler_errors``.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        api_key: Sent as ``Authorization: Bearer <key>`` (the reference Node
            client), or as ``?token=<key>`` with ``token_in_query`` (the browser
            client). ``None`` sends no key; ``nnb.connect`` and the command line
            default it to ``$NEXUS_API_KEY`` (:func:`~nexus_nb.client.credential.api_key_from_env`).
        token_in_query: Put the key in the URL instead of a header.
        reconnect: Reconnect after an unexpected close or network error. A close
            with code 1008 (credentials refused) is never retried.
        backoff: ``(initial, cap)`` seconds: exponential backoff with full jitter.
        max_retries: Failed attempts in a row before giving up (``None``: forever);
            then the client is ``CLOSED`` and ``stats.last_error`` says why.
        heartbeat: Seconds between ``ping`` actions and WebSocket keepalive pings;
            a pong missing for as long drops the connection (then reconnect).
            ``None`` disables both.
        open_timeout: Seconds to open a connection, and to wait for a request's reply.
        max_queue: Events each ``async for`` iterator holds; overflow drops the
            oldest, counted in ``stats.dropped``.
        resume: After a reconnect to the same server run (same ``epoch``), ask it
            to replay missed events; duplicates (``seq`` already seen) are dropped.
        recover: When a server that announces ``recover`` skipped events for
            this client (an ``overflow`` gap), ask for them back from its
            retention, holding the channel's live events until they came (see
            :mod:`nexus_nb.client.protocol`); a gap reaches the handlers only
            for what it no longer held. ``stats.recovered`` counts what came back.
        max_hold: Live events held per channel while such a range is recovered;
            past it they are released and the range's remainder is a gap.
        ssl: TLS context for ``wss://`` URLs.
        headers: Extra HTTP headers for the handshake.
        reader: ``"loop"`` (default): everything runs on the caller's loop.
            ``"thread"``: the socket is read and frames decoded on a thread with
            its own event loop (:mod:`nexus_nb.client.reader`), so they keep
            coming while a cell blocks the kernel's loop; sinks, handlers and
            iterators still run on the caller's loop, in order, and get the
            frames read after they were added.
        max_handoff: With ``reader="thread"``: most bytes of event frames
            waiting for the caller's loop; past it frames are dropped for the
            caller's listeners, counted in ``stats.handoff_dropped`` and reported
            as a local ``gap`` message.

    Raises:
        ValueError: A bad limit (a bad URL when connecting).
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
        recover: bool = True,
        max_hold: int = MAX_HOLD,
        ssl: ssl_module.SSLContext | None = None,
        headers: Mapping[str, str] | None = None,
        reader: Reader = "loop",
        max_handoff: int = MAX_HANDOFF,
    ) -> None:
        if reader not in ("loop", "thread"):
            raise ValueError(f"reader must be 'loop' or 'thread', got {reader!r}")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if heartbeat is not None and heartbeat <= 0:
            raise ValueError("heartbeat must be positive or None")
        if open_timeout <= 0:
            raise ValueError("open_timeout must be positive")
        if max_retries is not None and max_retries < 0:
            raise ValueError("max_retries must be >= 0 or None")
        self.url = url
        target, all_headers = handshake_target(
            url, api_key, token_in_query=token_in_query, headers=headers
        )
        self._max_queue = max_queue
        self._protocol = ClientProtocol(resume=resume, recover=recover, max_hold=max_hold)
        self._listeners = Listeners()
        self._inbox = Inbox(self._protocol.stats, self._listeners)
        self.reader: Reader = reader
        self._relay: Relay | None = None
        self._thread: LoopThread | None = None
        if reader == "thread":
            self._relay = Relay(self._inbox, self._protocol.stats, max_size=max_handoff)
        self._link = Link(
            target,
            protocol=self._protocol,
            inbox=self._inbox if self._relay is None else self._relay,
            receive=None if self._relay is None else self._relay.receiver(self._protocol),
            name=f"nexus_nb client {url}",
            headers=all_headers,
            ssl=ssl,
            reconnect=reconnect,
            backoff=Backoff(*backoff),
            max_retries=max_retries,
            heartbeat=heartbeat,
            open_timeout=open_timeout,
        )

    # -- state -------------------------------------------------------------

    @property
    def state(self) -> State:
        """The connection state."""
        return self._link.state

    @property
    def client_id(self) -> str | None:
        """The id the server gave the current (or last) connection."""
        return self._protocol.client_id

    @property
    def epoch(self) -> str | None:
        """The server run the current (or last) connection belongs to (our extension)."""
        return self._protocol.epoch

    @property
    def error(self) -> NexusError | None:
        """The error that closed the client (auth refusal, retries exhausted), else ``None``."""
        return self._link.error

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counters."""
        snapshot = self._protocol.stats.copy()
        snapshot.handler_errors = self._listeners.errors
        if self._relay is not None:
            snapshot.handler_errors += self._relay.errors
        return snapshot

    @property
    def subscriptions(self) -> Mapping[str, list[dict[str, Any] | None]]:
        """Every (channel, filters) subscribed and not unsubscribed; restored on reconnect."""
        return self._protocol.subscriptions

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

    def add_reader_sink(self, fn: ReaderSink) -> Callable[[], None]:
        """Call ``fn(channel, events, size)`` on the reader thread, per frame, as decoded.

        For ``reader="thread"`` clients only: ``events`` as :meth:`add_column_sink`
        gets them, ``size`` the frame's bytes on the wire. ``fn`` runs on the
        reader thread, before the kernel's listeners see the frame: it must be
        quick and must touch nothing the kernel's thread uses without a lock
        (:class:`~nexus_nb.session.Stream` hands frames to its buffers this way).

        Returns:
            A callable that removes the sink.

        Raises:
            RuntimeError: The client reads on its caller's loop (``reader="loop"``).
        """
        if self._relay is None:
            raise RuntimeError('add_reader_sink needs a client made with reader="thread"')
        return self._relay.add_sink(fn)

    def add_reader_handler(
        self, message_type: str, fn: Callable[[dict[str, Any]], object]
    ) -> Callable[[], None]:
        """Call ``fn(message)`` on the reader thread for every message of ``message_type``.

        For ``reader="thread"`` clients only, with the types of :meth:`on`. It runs
        before the loop's handlers see the message, in wire order with the frames
        that reader sinks get, so a ``gap`` lands between the events around it.

        Returns:
            A callable that removes the handler.

        Raises:
            RuntimeError: The client reads on its caller's loop (``reader="loop"``).
        """
        if self._relay is None:
            raise RuntimeError('add_reader_handler needs a client made with reader="thread"')
        return self._relay.add_handler(message_type, fn)

    def __aiter__(self) -> EventStream:
        """A new iterator over event messages from now on.

        Each iterator queues at most ``max_queue`` events; beyond that the oldest
        is dropped and counted in ``stats.dropped``. It ends when the client is
        closed, raising the error that closed it if there was one.
        """
        stream = self._inbox.open_stream(self._max_queue)
        if self._link.state is State.CLOSED:
            stream.end(self._link.error)
        return stream

    # -- requests ----------------------------------------------------------

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
            # The request runs on the link's loop, so only the reader's thread changes the
            # subscriptions it restores; the protocol records them as it reads the reply.
            return await self._call(
                self._link.request(lambda: self._protocol.subscribe(names, filters, batch=spec))
            )
        except SubscriptionError:
            raise
        except ProtocolError as exc:
            raise SubscriptionError(exc.code, exc.message) from exc

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
            return await self._call(self._link.request(lambda: self._protocol.unsubscribe(names)))
        except SubscriptionError:
            raise
        except ProtocolError as exc:
            raise SubscriptionError(exc.code, exc.message) from exc

    async def ping(self) -> float:
        """Round-trip time of a ``ping`` action, in seconds.

        Raises:
            TransportError: Not connected, or no ``pong`` within ``open_timeout``.
        """
        start = time.perf_counter()
        await self._call(self._link.request(self._protocol.ping))
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
        return await self._call(
            self._link.request(lambda: self._protocol.publish(channel, events, timestamp=timestamp))
        )

    async def _call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the link's loop: this one, or the reader thread's."""
        if self._thread is None or self._thread.stopped:
            # Closed (or never started): the link answers at once, from any loop.
            return await work
        return await self._thread.run(work)

    # -- life --------------------------------------------------------------

    @classmethod
    async def connect(cls, url: str, **options: Any) -> Client:
        """Make a client with :class:`Client`'s options and return it once connected.

        ``await Client.connect(url, ...)`` is ``async with Client(url, ...)`` for a
        client that outlives one block: close it with ``await client.aclose()``.

        Raises:
            AuthError: The server refused the credentials (HTTP 401/403 or close 1008).
            TransportError: Refused, unreachable or timed out.
            ValueError: A bad URL or limit.
        """
        client = cls(url, **options)
        await client.start()
        return client

    async def start(self) -> None:
        """Open the first connection (no retry); ``async with`` and :func:`connect` call it.

        Raises:
            AuthError: The server refused the credentials.
            TransportError: Refused, unreachable or timed out.
            RuntimeError: Already started (a client connects once; create a new one).
        """
        if self._relay is None:
            await self._link.start()
            return
        thread = self._start_reader()
        try:
            await thread.run(self._link.start())
        except BaseException:
            await thread.stop()
            raise

    def open(self) -> None:
        """:meth:`start` from plain code (a cell without ``await``): block until connected.

        For ``reader="thread"`` clients only: the connection opens on the reader
        thread while the caller waits. Handlers and iterators still run on the
        caller's event loop (the kernel's), once the cell returns; opened where
        no loop runs (a script), only reader sinks and reader handlers are called.

        Raises:
            AuthError: The server refused the credentials.
            TransportError: Refused, unreachable or timed out.
            RuntimeError: A ``reader="loop"`` client (it would wait for the very
                loop the caller blocks), or already started.
        """
        if self._relay is None:
            raise RuntimeError(
                'a reader="loop" client opens on the caller\'s loop: await client.start()'
            )
        thread = self._start_reader()
        try:
            thread.call(self._link.start())
        except BaseException:
            thread.shutdown()
            raise

    def _start_reader(self) -> LoopThread:
        assert self._relay is not None
        if self._thread is not None:
            raise RuntimeError("this client was already started; create a new one")
        try:
            self._relay.loop = asyncio.get_running_loop()
        except RuntimeError:
            # A script with no loop: reader sinks and handlers work; on() handlers,
            # sinks and iterators, which run on a loop, get nothing (documented on open()).
            self._relay.loop = None
        self._thread = LoopThread(f"nexus_nb reader {self.url}")
        return self._thread

    def submit(self, work: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``work`` (one of this client's coroutines) on the reader thread; return at once.

        For a ``reader="thread"`` client, from any thread: the future settles with
        the work's result or error. A client not reading (never started or
        closed) gives a future that already failed with :class:`TransportError`.
        """
        thread = self._thread
        if thread is not None and not thread.stopped:
            try:
                return asyncio.run_coroutine_threadsafe(work, thread.loop)
            except RuntimeError:
                pass  # The loop closed between the check and the call.
        work.close()
        failed: concurrent.futures.Future[T] = concurrent.futures.Future()
        failed.set_exception(TransportError("the client is not connected"))
        return failed

    def block_on(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` (one of this client's coroutines) from plain code; return its result.

        The plain form of ``await work`` for a ``reader="thread"`` client: the
        work runs on the reader thread while the caller waits. A client that
        is closed answers at once.

        Raises:
            RuntimeError: A ``reader="loop"`` client: its work needs the loop the
                caller holds, so ``await`` it instead.
        """
        thread = self._thread
        if thread is not None and not thread.stopped:
            return thread.call(work)
        work.close()
        if self._relay is None and self.state is not State.CLOSED:
            raise RuntimeError(
                'this client reads on the caller\'s loop (reader="loop"): await the call, '
                'or connect with a plain call or reader="thread"'
            )
        raise TransportError("the client is not connected")

    async def aclose(self) -> None:
        """Close the connection; idempotent.

        Every frame read before the close completes has reached the sinks and
        handlers when this returns; iterators end after their queued events.
        """
        thread = self._thread
        if thread is None or self._relay is None:
            await self._link.aclose()
            return
        if thread.stopped:
            return
        try:
            await thread.run(self._link.aclose())
        finally:
            await thread.stop()
            # What the reader handed off last reaches the listeners before this returns.
            self._relay.dispatch()

    def close(self) -> None:
        """:meth:`aclose` from plain code, for a ``reader="thread"`` client; idempotent.

        Raises:
            RuntimeError: A connected ``reader="loop"`` client (await ``aclose()``).
        """
        thread = self._thread
        if thread is None or self._relay is None:
            if self.state is not State.CLOSED:
                self.block_on(self._link.aclose())
            return
        if thread.stopped:
            return
        try:
            thread.call(self._link.aclose())
        finally:
            thread.shutdown()
            self._relay.dispatch()

    def close_soon(self, wait: float = 0.0) -> None:
        """Close a ``reader="thread"`` client from any thread, waiting at most ``wait`` s.

        What a finalizer calls: the link closes and the reader thread ends on
        their own, on the reader's loop. It never waits when called on the
        reader thread itself (a garbage collection may run there).
        """
        thread = self._thread
        if thread is None or thread.stopped:
            return
        link = self._link

        async def close_and_stop() -> None:
            try:
                await link.aclose()
            finally:
                asyncio.get_running_loop().stop()

        # RuntimeError: the loop closed meanwhile, and nothing is left to stop.
        with contextlib.suppress(RuntimeError):
            done = asyncio.run_coroutine_threadsafe(close_and_stop(), thread.loop)
            if wait > 0 and not thread.is_current():
                concurrent.futures.wait([done], timeout=wait)

    async def __aenter__(self) -> Client:
        """Connect (unless already connected by :func:`connect` or :meth:`start`).

        Raises:
            AuthError: The server refused the credentials.
            TransportError: Refused, unreachable or timed out.
        """
        if not self._link.started:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<nexus_nb.Client {self.url} {self._link.state.value}>"
