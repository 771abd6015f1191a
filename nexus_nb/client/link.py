"""The connection life of a client: read, heartbeat, reconnect, resubscribe, close."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl as ssl_module
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed as WsConnectionClosed

from nexus_nb import protocol
from nexus_nb.client.backoff import Backoff
from nexus_nb.client.inbox import Inbox
from nexus_nb.client.registry import Registry
from nexus_nb.client.reply import Replies
from nexus_nb.client.state import ClientStats, State
from nexus_nb.client.transport import closed_error, open_connection
from nexus_nb.exceptions import AuthError, NexusError, ProtocolError, TransportError


class Host(Protocol):
    """What a link needs of the client it serves; :class:`~nexus_nb.client.Client` is one.

    Declared here, so that the link depends on this shape and not on the client
    module, which builds the link: no import circle, not even for types.
    """

    url: str
    registry: Registry
    inbox: Inbox

    @property
    def state(self) -> State: ...

    def greet(self, hello: dict[str, Any]) -> bool: ...

    def set_state(self, state: State) -> None: ...

    def resume_point(self, channels: list[str]) -> tuple[str, dict[str, int]] | None: ...

    def emit(self, message_type: str, message: dict[str, Any]) -> None: ...


__all__ = ["Link"]

log = logging.getLogger("nexus_nb.client")


def _subscribe(
    channels: list[str],
    filters: dict[str, Any],
    batch: protocol.Batch | None,
    resume: tuple[str, dict[str, int]] | None,
    request_id: int,
) -> bytes:
    return protocol.subscribe(channels, filters, request_id=request_id, resume=resume, batch=batch)


def _echoes_id(hello: dict[str, Any]) -> bool:
    extensions = hello.get("extensions")
    return hello.get("server") == "nexus_nb" or (
        isinstance(extensions, list) and "id" in extensions
    )


class Link:
    """Owns the socket and every task of one :class:`Host` (a client).

    One supervisor task per client runs the read loop of the current connection
    and, between connections, the backoff. Per connection it owns a heartbeat
    task and, after a reconnect, a resubscription task; both are cancelled and
    awaited when the connection ends.
    """

    def __init__(
        self,
        client: Host,
        url: str,
        *,
        stats: ClientStats,
        headers: dict[str, str],
        ssl: ssl_module.SSLContext | None,
        reconnect: bool,
        backoff: Backoff,
        max_retries: int | None,
        heartbeat: float | None,
        open_timeout: float,
    ) -> None:
        self.client = client
        self.stats = stats
        self.url = url
        self.headers = headers
        self.ssl = ssl
        self.reconnect = reconnect
        self.backoff = backoff
        self.max_retries = max_retries
        self.heartbeat = heartbeat
        self.open_timeout = open_timeout
        self.ws: ClientConnection | None = None
        self.replies = Replies()
        self.error: NexusError | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._reading = False
        self._finished = False

    async def _open(self) -> tuple[ClientConnection, dict[str, Any]]:
        return await open_connection(
            self.url,
            headers=self.headers,
            open_timeout=self.open_timeout,
            keepalive=self.heartbeat,
            ssl=self.ssl,
        )

    def _attach(self, ws: ClientConnection, hello: dict[str, Any]) -> bool:
        self.ws = ws
        self.replies = Replies(echoes_id=_echoes_id(hello))
        stats = self.stats
        stats.connected_since = time.time()
        stats.disconnected_since = stats.next_retry_at = None
        return self.client.greet(hello)

    async def start(self) -> None:
        """Open the first connection and start the supervisor."""
        ws, hello = await self._open()
        self._attach(ws, hello)
        self.client.set_state(State.OPEN)
        # Reading from here on: close() now drains through the read loop.
        self._reading = True
        self._supervisor = asyncio.get_running_loop().create_task(
            self._supervise(ws, None), name=f"nexus_nb client {self.client.url}"
        )

    async def request(self, ws: ClientConnection, build: Callable[[int], bytes]) -> dict[str, Any]:
        """Send one action on ``ws`` and wait ``open_timeout`` s for its reply.

        Raises:
            ProtocolError: The reply is an error (``SubscriptionError`` for subscription_error).
            TransportError: No reply in time, or the connection closed.
        """
        try:
            return await self._exchange(ws, build, self.open_timeout)
        except TimeoutError as exc:
            raise TransportError(f"no reply within {self.open_timeout} s") from exc

    async def _exchange(
        self, ws: ClientConnection, build: Callable[[int], bytes], wait: float
    ) -> dict[str, Any]:
        replies = self.replies
        request_id, future = replies.register()
        try:
            await ws.send(build(request_id), text=True)
            async with asyncio.timeout(wait):
                return await future
        except WsConnectionClosed as exc:
            raise closed_error(exc) from exc
        finally:
            replies.forget(request_id)

    async def _supervise(self, ws: ClientConnection, down_since: float | None) -> None:
        error: NexusError | None = None
        epoch_changed = False
        try:
            while True:
                closed = await self._serve(ws, down_since, epoch_changed)
                error = closed_error(closed)
                self.stats.disconnected_since = down_since = time.time()
                self.stats.connected_since = None
                self.replies.fail_all(error)
                self.ws = None
                if self._closing:
                    error = None
                    return
                self.stats.last_error = str(error)
                if isinstance(error, AuthError) or not self.reconnect:
                    return
                log.warning("nexus_nb client: %s; reconnecting", error)
                self.client.set_state(State.RECONNECTING)
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
        self.replies.fail_all(error or TransportError("the client is closed"))
        ws, self.ws = self.ws, None
        self.stats.connected_since = self.stats.next_retry_at = None
        self.client.set_state(State.CLOSED)
        self.client.inbox.end(error)
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
                connection = await self._open()
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
        receive = self.client.inbox.receive
        self._reading = True
        try:
            while True:
                receive(await ws.recv(decode=False))
        except WsConnectionClosed as exc:
            return exc
        finally:
            self._reading = False
            for task in children:
                task.cancel()
            for task in children:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

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
        resumed = False
        for channels, filters, batch in self.client.registry.plan():
            resume = None if epoch_changed else self.client.resume_point(channels)
            try:
                try:
                    await self.request(
                        ws, functools.partial(_subscribe, channels, filters, batch, resume)
                    )
                except ProtocolError as exc:
                    if resume is None or exc.code != protocol.ErrorCode.INVALID_RESUME:
                        raise
                    # The server cannot resume: subscribe live, and say so.
                    resume = None
                    await self.request(
                        ws, functools.partial(_subscribe, channels, filters, batch, None)
                    )
            except TransportError:
                return
            except NexusError as exc:
                self.stats.last_error = f"resubscribing {channels} failed: {exc}"
                log.error("nexus_nb client: %s", self.stats.last_error)
            resumed = resumed or resume is not None
        self.client.set_state(State.OPEN)
        self.client.emit(
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
        while True:
            await asyncio.sleep(interval)
            try:
                await self._exchange(ws, lambda rid: protocol.ping(request_id=rid), interval)
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

    async def close(self) -> None:
        """Close gracefully; see :meth:`nexus_nb.client.Client.close`."""
        supervisor = self._supervisor
        if supervisor is None:
            return
        if not supervisor.done():
            self._closing = True
            if self.client.state is not State.CLOSED:
                self.client.set_state(State.CLOSING)
            ws = self.ws
            if self._reading and ws is not None:
                # The read loop drains frames already received, then ends.
                await ws.close()
            else:
                supervisor.cancel()
        await asyncio.wait({supervisor})
        # A supervisor cancelled before its first step never ran its own cleanup.
        await self._finish(None)
