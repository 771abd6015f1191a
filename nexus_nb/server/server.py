"""The Nexus server: ``serve()`` or ``await aserve()`` starts one and returns it.

The publish path is two steps with a seam between them (see :mod:`.eventlog`):
``EventLog.submit`` assigns ``seq`` and encodes the event once, then the log
calls ``Fanout.deliver``, which queues the frame for local subscribers: the
in-memory log within ``submit``, a shared log for every event any instance
stored, this one's included.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import signal
import time
from collections.abc import Collection, Coroutine, Mapping, Sequence
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from websockets.asyncio.server import Server as WebSocketServer
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from nexus_nb import protocol
from nexus_nb.exceptions import AuthError, TransportError
from nexus_nb.server.auth import ApiKeyAuth, Authenticator
from nexus_nb.server.demo import DemoSource, Incident
from nexus_nb.server.endpoint import Admission, query_token
from nexus_nb.server.eventlog import Entry, EventLog, Missed
from nexus_nb.server.fanout import Fanout
from nexus_nb.server.frame import text_frame
from nexus_nb.server.metrics import Counters
from nexus_nb.server.owner import Owner
from nexus_nb.server.peer import Peer, TokenBucket
from nexus_nb.server.playback import replay
from nexus_nb.server.publisher import Publisher
from nexus_nb.server.router import Router, Verdict

if TYPE_CHECKING:
    import os

    import pandas as pd

__all__ = ["EXTENSIONS", "Server", "ServerState"]

logger: Final = logging.getLogger("nexus_nb.server")

#: Protocol extensions announced in ``connection_established``.
EXTENSIONS: Final = ("id", "seq", "resume", "batch", "columns", "publish", "gap", "recover")


class ServerState(Enum):
    """The lifecycle of a :class:`Server`."""

    SERVING = "serving"
    CLOSING = "closing"
    CLOSED = "closed"


class Server:
    """A running Nexus server; build it with :func:`~nexus_nb.server.serve` or ``aserve``.

    Already serving when returned. It owns the demo task, the slow-consumer
    close tasks and the shutdown task, and cancels and awaits them on close.

    It belongs to one thread and event loop, recorded when it starts: a thread
    of its own for ``serve()`` (a :class:`~nexus_nb.thread.LoopThread`, which
    closing the server stops), the caller's for ``await aserve()``. Its peers,
    log, counters and tasks are touched only there: every public method called
    on another thread hands its work to that loop, a plain method blocking
    until it is done, a coroutine method awaiting it from the caller's loop.
    Close it with ``server.close()`` from plain code on another thread (a cell,
    a script), ``await server.aclose()`` from async code, or ``async with``.
    """

    def __init__(
        self,
        *,
        api_key: str,
        auth: Authenticator | None,
        log: EventLog,
        channels: Sequence[str],
        limits: protocol.Limits,
        max_subscriptions: int,
        max_connections: int,
        rate_limit: float,
        rate_burst: int,
        max_queue_bytes: int,
        slow_timeout: float,
        origins: Collection[str] | None,
    ) -> None:
        self.api_key = api_key
        self._auth: Authenticator = auth or ApiKeyAuth(api_key)
        self._log = log
        self._channels = tuple(channels)
        self._channel_set = frozenset(channels)
        self._counters = Counters.for_channels(self._channels)
        self._fanout = Fanout(
            self._counters,
            max_queue_bytes=max_queue_bytes,
            slow_timeout=slow_timeout,
            on_slow=self._close_slow,
        )
        self._publisher = Publisher(
            log,
            self._counters,
            channels=self._channel_set,
            spawn=self._spawn,
            serving=lambda: self.state is ServerState.SERVING,
        )
        self._router = Router(
            log,
            self._fanout,
            self._counters,
            self._publisher.answer,
            channels=self._channel_set,
            limits=limits,
            max_subscriptions=max_subscriptions,
        )
        # websockets calls it on this server's loop: it reads the state directly.
        self.admission = Admission(
            self._auth,
            self._metrics,
            lambda: len(self._fanout.peers),
            max_connections=max_connections,
            origins=origins,
            on_reject=self._count_reject,
            health=self._health,
        )
        self._rate_limit = rate_limit
        self._rate_burst = rate_burst
        self._client_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._demo: asyncio.Task[None] | None = None
        self.demo: DemoSource | None = None
        """The demo traffic started by :meth:`start_demo`, if any."""
        self._demo_error: BaseException | None = None
        self._shutdown: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._ws: WebSocketServer | None = None
        self.state = ServerState.SERVING
        self.host = ""
        self.port = 0
        self.url = ""
        self._owner = Owner()

    def __repr__(self) -> str:
        # From any thread, without a hand-off (a repr must not block): len() of
        # the peers dict is one atomic read.
        return f"<Server {self.url} {self.state.name} clients={len(self._fanout.peers)}>"

    @property
    def epoch(self) -> str:
        """This run's sequence-space id, announced in ``connection_established``."""
        return self._log.epoch

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this server serves."""
        return self._channels

    def attach(self, ws: WebSocketServer, *, tls: bool) -> None:
        """Bind to the listening websockets server (called once by ``serve``)."""
        self._ws = ws
        sockname = next(iter(ws.sockets)).getsockname()
        self.host, self.port = sockname[0], sockname[1]
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{'wss' if tls else 'ws'}://{shown}:{self.port}"

    async def start_log(self) -> None:
        """Open the event log with this server's hooks (called once by ``serve``).

        Raises:
            TransportError: A shared log cannot be reached.
        """
        await self._log.start(self._fanout.deliver, self.epoch_changed, self.log_gap)

    def start_demo(self, source: DemoSource) -> None:
        """Run ``source.run`` as a task this server owns, publishing into this server.

        Each event waits for its write, so with a shared log the demo pauses while
        Redis is away instead of filling the log's write queue.
        """
        self._owner.call(self._start_demo, source)

    def _start_demo(self, source: DemoSource) -> None:
        self.demo = source
        self._demo = asyncio.create_task(source.run(self._publish_waiting), name="nexus-demo")
        self._demo.add_done_callback(self._demo_done)

    def incident(self, kind: str, **options: Any) -> Incident:
        """Raise an incident in the demo traffic (see :meth:`DemoSource.incident`).

        Raises:
            RuntimeError: This server runs no demo traffic.
            ValueError: As :meth:`DemoSource.incident`.
        """
        return self._owner.call(self._incident, kind, options)

    def _incident(self, kind: str, options: dict[str, Any]) -> Incident:
        if self.demo is None:
            raise RuntimeError("this server runs no demo traffic (serve it with demo=True)")
        return self.demo.incident(kind, **options)

    async def _publish_waiting(self, channel: str, data: Mapping[str, Any]) -> None:
        if self.state is not ServerState.SERVING:
            return  # closing: the demo is cancelled next, this event is not wanted
        try:
            await self._publisher.submit(channel, (data,))
        except TransportError as exc:
            if self.state is not ServerState.SERVING:
                return
            # Lost in a broken connection: counted and logged; the demo goes on.
            self._counters.publish_failures += 1
            logger.warning("demo event not stored: %s", exc)

    def _demo_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._demo_error = task.exception()
            logger.error("demo source failed", exc_info=self._demo_error)

    def publish(
        self, channel: str, data: Mapping[str, Any], *, timestamp: str | None = None
    ) -> int:
        """Store one event and queue it for every matching subscriber.

        See :meth:`Publisher.publish <nexus_nb.server.publisher.Publisher.publish>`
        for the limits and errors (``ProtocolError`` ``INVALID_CHANNEL``,
        ``TransportError`` once closed, ``TypeError`` for non-JSON data).

        Returns:
            The event's ``seq`` on its channel (0 with a shared log, which assigns
            it later).
        """
        return self._owner.call(self._publisher.publish, channel, data, timestamp=timestamp)

    async def submit(
        self,
        channel: str,
        events: Sequence[Mapping[str, Any]],
        *,
        timestamp: str | None = None,
    ) -> int:
        """Store events and wait for the last ``seq``; works with a shared log too.

        See :meth:`Publisher.submit <nexus_nb.server.publisher.Publisher.submit>`.
        """
        return await self._owner.run(self._publisher.submit(channel, events, timestamp=timestamp))

    def deliver(self, entry: Entry) -> int:
        """Queue an already logged event for local subscribers (what the log calls).

        Returns:
            How many local peers it was queued for.
        """
        return self._owner.call(self._fanout.deliver, entry)

    def log_gap(self, channel: str, missed: Missed) -> None:
        """Tell local subscribers of events the shared log lost before this instance read them."""
        self._owner.call(self._log_gap, channel, missed)

    def _log_gap(self, channel: str, missed: Missed) -> None:
        logger.warning(
            "event log: %d events on %s (seq %d..%d) trimmed before they were read",
            missed.count,
            channel,
            missed.from_seq,
            missed.to_seq,
        )
        self._fanout.announce_gap(channel, missed, "retention")

    def epoch_changed(self, epoch: str) -> None:
        """Close every client with 1012 so it reconnects into the new ``epoch`` (log hook)."""
        self._owner.call(self._epoch_changed, epoch)

    def _epoch_changed(self, epoch: str) -> None:
        logger.warning("event log epoch changed to %s: closing clients", epoch)
        for peer in list(self._fanout.peers):
            self._spawn(peer.ws.close(CloseCode.SERVICE_RESTART, "epoch changed"))

    def replay(
        self,
        source: pd.DataFrame | str | os.PathLike[str],
        *,
        speed: float | None = 1.0,
        channel: str | None = None,
    ) -> int:
        """Publish a capture's events again, paced by their original times; block until done.

        The plain form of :meth:`areplay`, for a cell or a script on another
        thread than the server's (a server started by ``serve()``, or one on a
        loop another thread runs).

        Returns:
            The number of events published.

        Raises:
            RuntimeError: Called on the server's own thread (a server started by
                ``await aserve()`` on this thread's loop), which a blocking call
                would stall: ``await server.areplay(...)`` there.
        """
        work = replay(self._store_one, source, speed=speed, channel=channel)
        return self._owner.block(work, "await server.areplay(...)")

    async def areplay(
        self,
        source: pd.DataFrame | str | os.PathLike[str],
        *,
        speed: float | None = 1.0,
        channel: str | None = None,
    ) -> int:
        """Publish a capture's events again, paced by their original times.

        See :func:`nexus_nb.server.playback.replay` for the arguments, limits and
        errors; each event keeps its original envelope timestamp. The events are
        published on the server's loop, whichever loop awaits this.

        Returns:
            The number of events published.
        """
        work = replay(self._store_one, source, speed=speed, channel=channel)
        return await self._owner.run(work)

    async def _store_one(self, channel: str, data: Mapping[str, Any], timestamp: str) -> int:
        return await self._publisher.submit(channel, (data,), timestamp=timestamp)

    def metrics(self) -> dict[str, Any]:
        """Counters as served on ``/metrics``, plus the epoch and the demo's state.

        Read on the server's thread (handed there from any other), so the
        figures are one consistent snapshot.
        """
        return self._owner.call(self._metrics)

    def _metrics(self) -> dict[str, Any]:
        snapshot = self._counters.snapshot()
        snapshot["epoch"] = self.epoch
        snapshot["maxQueuedBytes"] = self._max_queued_bytes()
        snapshot["demo"] = self._demo_status()
        snapshot["log"] = self._log.metrics()
        return snapshot

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether this instance can serve, and the ``/healthz`` body.

        Unhealthy while the log says so (a shared log whose Redis is unreachable:
        events published elsewhere do not arrive meanwhile).
        """
        return self._owner.call(self._health)

    def _health(self) -> tuple[bool, dict[str, Any]]:
        if self.state is not ServerState.SERVING:
            return False, {"status": self.state.value}
        healthy, detail = self._log.health()
        return healthy, {"status": "ok" if healthy else "degraded", **detail}

    def max_queued_bytes(self) -> int:
        """Bytes held for the slowest client: its outbox plus its transport's buffer."""
        return self._owner.call(self._max_queued_bytes)

    def _max_queued_bytes(self) -> int:
        return max(
            (p.outbox_bytes + p.ws.transport.get_write_buffer_size() for p in self._fanout.peers),
            default=0,
        )

    def _demo_status(self) -> str | None:
        if self._demo is None:
            return None
        if self._demo_error is not None:
            return f"failed: {self._demo_error!r}"
        return "done" if self._demo.done() else "running"

    def _count_reject(self) -> None:
        self._counters.rejected_connections += 1

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("server task failed", exc_info=task.exception())

    def _close_slow(self, peer: Peer) -> None:
        logger.warning(
            "closing slow consumer %s",
            peer.client_id,
            extra={"event": "client.slow", "client_id": peer.client_id},
        )
        # Stop queueing (and counting drops) for it now, not when the close is done.
        self._fanout.remove(peer)
        self._spawn(_close_or_abort(peer.ws, CloseCode.TRY_AGAIN_LATER, "slow consumer"))

    async def connection(self, ws: ServerConnection) -> None:
        """Serve one WebSocket connection (the websockets handler)."""
        request = ws.request
        assert request is not None  # the handler runs after the handshake
        try:
            principal = self._auth.authenticate(request.headers, query_token(request.path))
        except AuthError as exc:
            # As the reference: accept, then close 1008; browsers cannot read a 401.
            self._counters.auth_failures += 1
            logger.info(
                "authentication failed: %s",
                exc,
                extra={"event": "auth.refused", "remote": _remote(ws), "reason": str(exc)},
            )
            await ws.close(CloseCode.POLICY_VIOLATION, str(exc)[:120])
            return
        client_id = f"client_{int(time.time() * 1000)}_{next(self._client_ids)}"
        peer = Peer(
            ws,
            principal,
            client_id,
            max_queue_bytes=self._fanout.max_queue_bytes,
            bucket=TokenBucket(self._rate_limit, self._rate_burst),
            counters=self._counters,
            on_dirty=self._fanout.mark_dirty,
            on_overflow=self._fanout.watch,
        )
        self._counters.total_connections += 1
        self._counters.active_connections += 1
        self._fanout.add(peer)
        logger.info(
            "client connected",
            extra={
                "event": "client.connected",
                "client_id": client_id,
                "subject": principal.subject,
                "remote": _remote(ws),
            },
        )
        peer.send(
            text_frame(
                protocol.connection_established(client_id, epoch=self.epoch, extensions=EXTENSIONS)
            )
        )
        try:
            async for raw in ws:
                if self._router.receive(peer, raw) is Verdict.CLOSE_RATE_LIMITED:
                    self._fanout.flush()
                    await ws.close(CloseCode.POLICY_VIOLATION, "rate limit exceeded")
                    break
        except ConnectionClosed:
            pass
        finally:
            self._fanout.remove(peer)
            self._counters.active_connections -= 1
            sent = ws.protocol.close_sent
            if sent is not None and sent.reason == "keepalive ping timeout":
                self._counters.keepalive_timeouts += 1
            logger.info(
                "client disconnected",
                extra={
                    "event": "client.disconnected",
                    "client_id": client_id,
                    "code": ws.close_code,
                },
            )

    async def aclose(self) -> None:
        """Stop the demo, flush queues, close every client with 1001; return once closed.

        Each client's closing handshake is bounded by ``close_timeout`` (see
        ``serve``), after which websockets aborts its connection. Calling it
        again, or from several tasks, waits for the same shutdown; a caller
        cancelled meanwhile does not stop the shutdown (see :meth:`wait_closed`).
        Awaited on another loop than the server's, the shutdown runs on the
        server's. A server started by ``serve()`` also stops its thread, unless
        this runs on that thread itself (a task there cannot join its own thread:
        a later ``close()`` elsewhere does).

        Raises:
            RuntimeError: The server's loop has ended before the server was closed.
        """
        if self.state is not ServerState.CLOSED:
            await self._owner.run(self._shut_down_once())
        host = self._owner.host
        if host is not None and not host.is_current():
            await host.stop()

    def close(self) -> None:
        """Close the server from plain code, as :meth:`aclose` does; block until it is closed.

        For a cell or a script: it works from any thread but the server's own,
        whose loop the blocked caller would keep from closing the server. A
        server started by ``serve()`` also stops its thread.

        Raises:
            RuntimeError: Called on the server's own thread (for a server started
                by ``await aserve()``, the thread running that loop): ``await
                server.aclose()`` there instead. Or the server's loop has ended
                before the server was closed.
        """
        if self.state is not ServerState.CLOSED:
            self._owner.block(self._shut_down_once(), "await server.aclose()")
        host = self._owner.host
        if host is not None and not host.is_current():
            host.shutdown()

    async def _shut_down_once(self) -> None:
        if self._shutdown is None:
            self.state = ServerState.CLOSING
            if self._demo is not None:
                # Now, not in _close: a demo step run before _close starts would
                # publish into a closing server and fail.
                self._demo.cancel()
            self._shutdown = asyncio.create_task(self._close(), name="nexus-server-close")
        await asyncio.shield(self._shutdown)

    async def wait_closed(self) -> None:
        """Wait until the server is closed (by :meth:`aclose`, from any task, on any loop).

        Raises:
            RuntimeError: The server's loop has ended before the server was closed.
        """
        if self.state is not ServerState.CLOSED:
            await self._owner.run(self._closed.wait())

    async def _close(self) -> None:
        try:
            await self._shut_down()
        finally:
            # Also after a failure (raised by aclose), so wait_closed never hangs.
            self._closed.set()

    async def _shut_down(self) -> None:
        if self._demo is not None:
            # wait() rather than await: a demo that failed was logged by _demo_done,
            # and its error must not stop the shutdown.
            await asyncio.wait([self._demo])
        self._fanout.close()
        if self._ws is not None:
            self._ws.close(close_connections=True, code=CloseCode.GOING_AWAY, reason="going away")
            peers = list(self._fanout.peers)
            grace = max((p.ws.close_timeout or 0.0 for p in peers), default=0.0) + 1.0
            try:
                async with asyncio.timeout(grace):
                    await self._ws.wait_closed()
            except TimeoutError:
                # A client that stopped reading never drains the close frame queued
                # behind its data, and websockets only starts its close deadline after
                # that drain: cut such connections.
                for peer in peers:
                    peer.ws.transport.abort()
                await self._ws.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        await self._log.aclose()
        self.state = ServerState.CLOSED
        logger.info("server closed")

    async def serve_forever(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully (for the CLI).

        Installs loop signal handlers, so call it only where the process owns
        the loop; never from a notebook kernel.
        """
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await self.aclose()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _remote(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


async def _close_or_abort(ws: ServerConnection, code: int, reason: str) -> None:
    """Close ``ws``, aborting it after its ``close_timeout``.

    websockets (17.4) drains the write buffer before starting the close deadline,
    so a close to a client that stopped reading would wait for ever.
    """
    try:
        async with asyncio.timeout(ws.close_timeout):
            await ws.close(code, reason)
    except TimeoutError:
        ws.transport.abort()
