"""The connection life of a client: read, heartbeat, reconnect, resubscribe, close.

The asyncio half of the client. :class:`~nexus_nb.client.protocol.ClientProtocol`
decides what every frame means and what to send; the link moves the bytes, owns
the tasks, the state and the futures of requests in flight, and carries out what
the protocol returns. It knows nothing of :class:`~nexus_nb.client.Client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl as ssl_module
import time
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed as WsConnectionClosed

from nexus_nb.client.backoff import Backoff
from nexus_nb.client.inbox import Inbox
from nexus_nb.client.protocol import Answer, ClientProtocol, Outgoing, Received, Steps
from nexus_nb.client.reader import Relay
from nexus_nb.client.state import State
from nexus_nb.client.transport import closed_error, open_connection
from nexus_nb.exceptions import (
    AuthError,
    ConnectionClosed,
    NexusError,
    ProtocolError,
    TransportError,
)
from nexus_nb.protocol import EventFrame, Notice

__all__ = ["Link"]

log = logging.getLogger("nexus_nb.client")

_Waiting = dict[int, asyncio.Future[dict[str, Any]]]


class Link:
    """Owns the socket, the state and every task of one client.

    One supervisor task per client runs the read loop of the current connection
    and, between connections, the backoff. Per connection it owns a heartbeat
    task and, after a reconnect, a resubscription task; both are cancelled and
    awaited when the connection ends.

    Args:
        url: The URL to open (with ``?token=`` already added if the key goes there).
        protocol: What every frame means and what to send; its ``stats`` are the
            counters this link updates too.
        inbox: Where accepted events and messages go, ``state`` changes included.
        name: The supervisor task's name.
        receive: What each frame read is given to (default ``protocol.receive_data``;
            :class:`~nexus_nb.client.reader.Relay` wraps it to note frame sizes).
    """

    def __init__(
        self,
        url: str,
        *,
        protocol: ClientProtocol,
        inbox: Inbox | Relay,
        name: str,
        headers: dict[str, str],
        ssl: ssl_module.SSLContext | None,
        reconnect: bool,
        backoff: Backoff,
        max_retries: int | None,
        heartbeat: float | None,
        open_timeout: float,
        receive: Callable[[bytes | str], Received | None] | None = None,
    ) -> None:
        self.protocol = protocol
        self.receive = protocol.receive_data if receive is None else receive
        self.inbox = inbox
        self.stats = protocol.stats
        self.url = url
        self.name = name
        self.headers = headers
        self.ssl = ssl
        self.reconnect = reconnect
        self.backoff = backoff
        self.max_retries = max_retries
        self.heartbeat = heartbeat
        self.open_timeout = open_timeout
        self.ws: ClientConnection | None = None
        self.error: NexusError | None = None
        self._state = State.CONNECTING
        self._open = asyncio.Event()
        # The current connection's requests in flight, by request id.
        self._waiting: _Waiting = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._reading = False
        self._finished = False

    # -- state ---------------------------------------------------------------

    @property
    def state(self) -> State:
        """The connection state."""
        return self._state

    @property
    def started(self) -> bool:
        """Whether :meth:`start` has opened the first connection."""
        return self._supervisor is not None

    def _set_state(self, state: State) -> None:
        previous, self._state = self._state, state
        if state in (State.OPEN, State.CLOSED):
            self._open.set()
        else:
            self._open.clear()
        if previous is not state:
            self.inbox.notify("state", {"type": "state", "state": state, "previous": previous})

    # -- requests ------------------------------------------------------------

    async def request(self, make: Callable[[], Outgoing]) -> dict[str, Any]:
        """Wait for an open connection, send ``make()`` on it and wait for its reply.

        Each wait is bounded by ``open_timeout`` seconds. ``make`` is called
        only once the connection is open, so its request id belongs to it.

        Raises:
            ProtocolError: The reply is an error (``SubscriptionError`` for subscription_error).
            TransportError: Not connected in time, no reply in time, or the connection closed.
        """
        return await self._ask(await self._wait_open(), make)

    async def _wait_open(self) -> ClientConnection:
        timeout = self.open_timeout
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self._open.wait()
                    ws = self.ws
                    if self._state is State.OPEN and ws is not None:
                        return ws
                    if self._state is State.CLOSED:
                        raise self.error or ConnectionClosed(None, "the client is closed")
                    await asyncio.sleep(0)
        except TimeoutError as exc:
            raise TransportError(f"not connected within {timeout} s ({self._state.value})") from exc

    async def _ask(self, ws: ClientConnection, make: Callable[[], Outgoing]) -> dict[str, Any]:
        try:
            return await self._exchange(ws, make, self.open_timeout)
        except TimeoutError as exc:
            raise TransportError(f"no reply within {self.open_timeout} s") from exc

    async def _exchange(
        self, ws: ClientConnection, make: Callable[[], Outgoing], wait: float
    ) -> dict[str, Any]:
        waiting = self._waiting
        outgoing = make()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiting[outgoing.request_id] = future
        try:
            await ws.send(outgoing.data, text=True)
            async with asyncio.timeout(wait):
                return await future
        except WsConnectionClosed as exc:
            raise closed_error(exc) from exc
        finally:
            # A reply that comes later is still matched by the protocol, then dropped here.
            if waiting.get(outgoing.request_id) is future:
                del waiting[outgoing.request_id]

    def _settle(self, answer: Answer) -> None:
        if answer.request_id is None:
            return
        future = self._waiting.pop(answer.request_id, None)
        if future is None or future.done():
            return
        reply = answer.reply
        if reply.error is not None:
            future.set_exception(reply.error)
        else:
            future.set_result(dict(reply.message))

    def _fail_waiting(self, exc: BaseException) -> None:
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(exc)
                # Retrieved here so an abandoned request logs no "never retrieved".
                future.exception()

    # -- connection life -----------------------------------------------------

    async def _open_connection(self) -> tuple[ClientConnection, dict[str, Any]]:
        return await open_connection(
            self.url,
            headers=self.headers,
            open_timeout=self.open_timeout,
            keepalive=self.heartbeat,
            ssl=self.ssl,
        )

    def _attach(self, ws: ClientConnection, hello: dict[str, Any]) -> bool:
        self.ws = ws
        self._waiting = {}
        stats = self.stats
        stats.connected_since = time.time()
        stats.disconnected_since = stats.next_retry_at = None
        changed = self.protocol.connected(hello)
        self.inbox.notify("connection_established", hello)
        return changed

    def _detach(self, error: NexusError) -> None:
        self._fail_waiting(error)
        released = self.protocol.disconnected()
        if released is not None:
            self._carry_out(released)
        self.ws = None

    def _carry_out(self, steps: Steps) -> None:
        """Deliver the frames and tell the notices of ``steps``, in order."""
        for item in steps.items:
            if type(item) is EventFrame:
                self.inbox.deliver(item.channel, item.events)
            else:
                assert isinstance(item, Notice)
                self.inbox.notify(item.kind, item.message)

    async def start(self) -> None:
        """Open the first connection (no retry) and start the supervisor.

        Raises:
            AuthError: The server refused the credentials.
            TransportError: Refused, unreachable or timed out.
            RuntimeError: Already started: a link connects once.
        """
        if self._supervisor is not None or self._finished:
            raise RuntimeError("this client was already started; create a new one")
        ws, hello = await self._open_connection()
        self._attach(ws, hello)
        self._set_state(State.OPEN)
        # Reading from here on: aclose() now drains through the read loop.
        self._reading = True
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(ws, None), name=self.name
        )

    async def _supervise(self, ws: ClientConnection, down_since: float | None) -> None:
        error: NexusError | None = None
        epoch_changed = False
        try:
            while True:
                closed = await self._serve(ws, down_since, epoch_changed)
                error = closed_error(closed)
                self.stats.disconnected_since = down_since = time.time()
                self.stats.connected_since = None
                self._detach(error)
                if self._closing:
                    error = None
                    return
                self.stats.last_error = str(error)
                if isinstance(error, AuthError) or not self.reconnect:
                    return
                log.warning("nexus_nb client: %s; reconnecting", error)
                self._set_state(State.RECONNECTING)
                ws, hello = await self._retry()
                epoch_changed = self._attach(ws, hello)
                self.stats.reconnects += 1
        except NexusError as exc:
            error = exc
        except Exception as exc:
            # A bug here must not vanish with the task: keep it where users look.
            log.exception("nexus_nb client supervisor failed")
            error = TransportError(f"client failed: {exc!r}")
        finally:
            await self._finish(None if self._closing else error)

    async def _finish(self, error: NexusError | None) -> None:
        if self._finished:
            return
        self._finished = True
        self.error = error
        if error is not None:
            self.stats.last_error = str(error)
        ws = self.ws
        self._detach(error or TransportError("the client is closed"))
        self.stats.connected_since = self.stats.next_retry_at = None
        self._set_state(State.CLOSED)
        self.inbox.end(error)
        if ws is not None:
            await ws.close()

    async def _retry(self) -> tuple[ClientConnection, dict[str, Any]]:
        stats = self.stats
        attempts = 0
        while True:
            if self.max_retries is not None and attempts >= self.max_retries:
                raise TransportError(
                    f"gave up after {attempts} reconnection attempts: {stats.last_error}"
                )
            delay = self.backoff.next_delay()
            stats.next_retry_at = time.time() + delay
            await asyncio.sleep(delay)
            attempts += 1
            try:
                connection = await self._open_connection()
            except AuthError:
                raise
            except TransportError as exc:
                stats.failed_attempts += 1
                stats.last_error = str(exc)
                continue
            self.backoff.reset()
            return connection

    async def _serve(
        self, ws: ClientConnection, down_since: float | None, epoch_changed: bool
    ) -> WsConnectionClosed:
        children: list[asyncio.Task[None]] = []
        loop = asyncio.get_running_loop()
        if down_since is not None:
            restore = self._restore(ws, down_since, epoch_changed)
            children.append(loop.create_task(self._guard(restore, "resubscription")))
        if self.heartbeat is not None:
            beat = self._beat(ws, self.heartbeat)
            children.append(loop.create_task(self._guard(beat, "heartbeat")))
        self._reading = True
        try:
            return await self._read(ws)
        finally:
            self._reading = False
            for task in children:
                task.cancel()
            for task in children:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _read(self, ws: ClientConnection) -> WsConnectionClosed:
        """Carry out what the protocol makes of each frame; return how the connection closed."""
        receive = self.receive
        deliver = self.inbox.deliver
        notify = self.inbox.notify
        try:
            while True:
                received = receive(await ws.recv(decode=False))
                if received is None:
                    continue
                if type(received) is EventFrame:
                    deliver(received.channel, received.events)
                elif isinstance(received, Answer):
                    self._settle(received)
                    notify(received.reply.kind, received.reply.message)
                elif isinstance(received, Notice):
                    notify(received.kind, received.message)
                elif isinstance(received, Steps):
                    self._carry_out(received)
                    if received.send is not None:
                        await ws.send(received.send.data, text=True)
        except WsConnectionClosed as exc:
            return exc

    async def _guard(self, work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except Exception as exc:
            # Surface, then drop this connection: the supervisor reconnects.
            self.stats.last_error = f"{what} failed: {exc!r}"
            log.error("nexus_nb client: %s", self.stats.last_error)
            if self.ws is not None:
                self.ws.transport.abort()

    async def _restore(self, ws: ClientConnection, down_since: float, epoch_changed: bool) -> None:
        protocol = self.protocol
        resumed = False
        for plan in protocol.restore_plan(epoch_changed):
            resume = plan.resume
            try:
                try:
                    await self._ask(ws, functools.partial(protocol.resubscribe, plan))
                except ProtocolError as exc:
                    live = protocol.fallback(plan, exc)
                    if live is None:
                        raise
                    # The server cannot resume: subscribe live, and say so.
                    resume = None
                    await self._ask(ws, functools.partial(protocol.resubscribe, live))
            except TransportError:
                return
            except NexusError as exc:
                self.stats.last_error = f"resubscribing {plan.channels} failed: {exc}"
                log.error("nexus_nb client: %s", self.stats.last_error)
            resumed = resumed or resume is not None
        self._set_state(State.OPEN)
        self.inbox.notify(
            "reconnected",
            {
                "type": "reconnected",
                "down_since": down_since,
                "up_at": time.time(),
                "resumed": resumed,
                "epoch_changed": epoch_changed,
            },
        )

    async def _beat(self, ws: ClientConnection, interval: float) -> None:
        protocol = self.protocol
        while True:
            await asyncio.sleep(interval)
            try:
                await self._exchange(ws, protocol.ping, interval)
            except TimeoutError:
                self.stats.last_error = f"no pong within {interval} s; reconnecting"
                log.warning("nexus_nb client: %s", self.stats.last_error)
                ws.transport.abort()
                return
            except TransportError:
                return
            except NexusError as exc:
                # A server that refuses the ping action is still alive.
                log.debug("nexus_nb client: ping refused: %s", exc)

    async def aclose(self) -> None:
        """Close gracefully; see :meth:`nexus_nb.client.Client.aclose`."""
        supervisor = self._supervisor
        if supervisor is None:
            return
        if not supervisor.done():
            self._closing = True
            if self._state is not State.CLOSED:
                self._set_state(State.CLOSING)
            ws = self.ws
            if self._reading and ws is not None:
                # The read loop drains frames already received, then ends.
                await ws.close()
            else:
                supervisor.cancel()
        await asyncio.wait({supervisor})
        # A supervisor cancelled before its first step never ran its own cleanup.
        await self._finish(None)
