"""Starting a server: ``serve()`` from plain code, ``aserve()`` from async code.

The name decides, never the caller's code: ``server = serve(...)`` (a notebook
cell, a script) starts the server on a :class:`~nexus_nb.thread.LoopThread` of
its own and returns it once it listens; ``server = await aserve(...)`` or
``async with aserve(...) as server:`` runs it on the caller's event loop. Both
take the same options (:func:`_start`'s) and give the same :class:`Server`.
"""

from __future__ import annotations

import functools
import inspect
import ipaddress
import logging
import os
import secrets
import ssl as ssl_module
import threading
from collections.abc import Callable, Collection, Coroutine, Generator, Sequence
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from websockets.asyncio.server import serve as ws_serve

from nexus_nb import protocol
from nexus_nb.server.auth import Authenticator
from nexus_nb.server.demo import DemoSource
from nexus_nb.server.eventlog import EventLog, MemoryEventLog
from nexus_nb.server.handle import ServerHandle
from nexus_nb.server.redact import RedactTokens
from nexus_nb.server.server import Server, logger
from nexus_nb.thread import LoopThread

__all__ = ["ServerStart", "aserve", "make_logger", "resolve_api_key", "serve"]

P = ParamSpec("P")
R = TypeVar("R")


class ServerStart:
    """What :func:`aserve` returns: await it for the :class:`Server`, or ``async with`` it.

    Nothing starts until it is awaited or entered, once; ``async with`` closes
    the server (``await server.aclose()``) when the block ends.
    """

    __slots__ = ("_server", "_start")

    def __init__(self, start: Callable[[], Coroutine[Any, Any, Server]]) -> None:
        self._start = start
        self._server: Server | None = None

    def __await__(self) -> Generator[Any, None, Server]:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        self._server = await self._start()
        return self._server

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None  # __aenter__ returned it
        await self._server.aclose()


class _ServerThread(threading.local):
    """Marks a thread that ``serve()`` started for a server (per thread, never shared)."""

    hosts_server = False


_this_thread = _ServerThread()


def _options_of(
    start: Callable[P, Coroutine[Any, Any, Server]],
) -> Callable[[Callable[..., R]], Callable[P, R]]:
    """Give the decorated surface ``start``'s keyword options: one signature for both.

    The surface keeps its own name, return type and description; ``start``'s
    docstring but its summary line (the shared notes, the options and what they
    raise) is appended to it, and ``help()`` shows the options.
    """

    def surface(body: Callable[..., R]) -> Callable[P, R]:
        @functools.wraps(body)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return body(*args, **kwargs)

        shape = inspect.signature(start)
        call.__signature__ = shape.replace(  # type: ignore[attr-defined]
            return_annotation=inspect.signature(body).return_annotation
        )
        shared = inspect.cleandoc(start.__doc__ or "").partition("\n")[2].strip()
        call.__doc__ = f"{inspect.cleandoc(body.__doc__ or '')}\n\n{shared}"
        return call

    return surface


def resolve_api_key(api_key: str | None, host: str, auth: Authenticator | None) -> str:
    """The key to use: ``api_key``, else ``$NEXUS_API_KEY``, else a random one.

    Raises:
        ValueError: ``host`` is not loopback and no key was given explicitly
            (a random key there would be a surprise, not a credential).
    """
    key = api_key or os.environ.get("NEXUS_API_KEY")
    if key:
        return key
    if auth is None and not _is_loopback(host):
        raise ValueError(f"binding to {host!r} needs an explicit api_key or NEXUS_API_KEY")
    return secrets.token_urlsafe(24)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_logger() -> logging.Logger:
    """The server's logger, with :class:`RedactTokens` attached exactly once."""
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
    return logger


async def _start(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    demo: bool = True,
    rate: float = 20.0,
    seed: int | None = None,
    channels: Sequence[str] = protocol.CHANNELS,
    auth: Authenticator | None = None,
    origins: Collection[str] | None = None,
    ssl: ssl_module.SSLContext | None = None,
    log: EventLog | None = None,
    redis: str | None = None,
    retention: int = 10_000,
    retention_seconds: float | None = None,
    retention_bytes: int | None = None,
    limits: protocol.Limits | None = None,
    max_size: int = 2**20,
    max_subscriptions: int = 100,
    max_connections: int = 1_000,
    rate_limit: float = 100.0,
    rate_burst: int = 200,
    max_queue_bytes: int = 4 * 2**20,
    slow_timeout: float = 10.0,
    ping_interval: float | None = 30.0,
    ping_timeout: float | None = 20.0,
    close_timeout: float = 5.0,
    host_metrics: bool = False,
    host_interval: float = 1.0,
) -> Server:
    """Start a Nexus server on the running loop; return once it accepts connections.

    Either way the server installs no signal handlers (it runs inside notebook
    kernels); the CLI calls :meth:`Server.serve_forever` for that.

    Args:
        host: Interface to bind; anything but loopback needs an explicit key.
        port: TCP port; 0 picks a free one (read it from ``Server.port``).
        api_key: The key clients present; else ``$NEXUS_API_KEY``, else random.
        demo: Publish simulated events (``DemoSource``) at ``rate`` events/s.
        rate: Demo events per second, all channels together.
        seed: Demo random seed, for reproducible streams.
        channels: The channels served (the reference's seven by default).
        auth: Overrides the default ``ApiKeyAuth(api_key)``.
        origins: Allowed ``Origin`` headers (HTTP 403 otherwise); ``None`` allows any.
        ssl: A server TLS context for ``wss://`` (see ``nexus_nb.server.tls.tls_context``).
        log: The event log; a :class:`MemoryEventLog` when ``None``. It is
            started here, before the port opens (a shared one such as
            ``RedisEventLog`` joins its store then), and closed by the server's
            ``aclose``.
        redis: A ``redis://`` URL: share events with every instance using the same
            Redis through a :class:`~nexus_nb.server.redis_log.RedisEventLog`
            (Redis Streams; ``retention`` applies; see ``docs/deploy.md``).
        retention: Events kept per channel for ``resume`` and ``recover``
            (in-memory log; oldest evicted, ``gap`` with ``reason: "retention"``
            for resumers who missed them).
        retention_seconds: Also evict events older than this (in-memory log).
        retention_bytes: Also evict the oldest while a channel's encoded events
            add up to more than this (in-memory log).
        limits: Per-request bounds (:class:`protocol.Limits` defaults).
        max_size: Largest incoming frame in bytes; bigger ones close 1009.
        max_subscriptions: Distinct (channel, filter) subscriptions per client;
            more get ``TOO_MANY_SUBSCRIPTIONS``.
        max_connections: Concurrent clients; more are refused with HTTP 503
            (counted in ``rejectedConnections``).
        rate_limit: Client messages per second (token bucket); over it a client
            gets ``RATE_LIMITED``, and a second message in a row over it closes 1008.
        rate_burst: Token bucket size, in messages.
        max_queue_bytes: Per-client bound on queued outgoing bytes; past it events
            are skipped (``dropped``) and reported in a ``gap`` once it drains.
        slow_timeout: Seconds a client may stay over ``max_queue_bytes`` before
            it is closed with 1013 (``slowConsumerDisconnects``).
        ping_interval: Seconds between WebSocket pings; ``None`` disables them.
        ping_timeout: Seconds to wait for a pong before dropping the peer.
        close_timeout: Seconds to wait for a closing handshake before aborting.
        host_metrics: Also publish this machine's CPU, memory, disk and network
            figures on ``telemetry.metrics`` (:class:`~nexus_nb.server.host.HostMetrics`,
            needs the ``host`` extra), every ``host_interval`` seconds.
        host_interval: Seconds between host samples; at least 0.1.

    Raises:
        ValueError: Non-loopback ``host`` without an explicit key, both ``log``
            and ``redis``, or ``host_interval`` below 0.1 s.
        ImportError: ``host_metrics`` without psutil installed.
        OSError: The address cannot be bound.
        TransportError: A shared log cannot be reached.
    """
    key = resolve_api_key(api_key, host, auth)
    sampler = None
    if host_metrics:
        # Imported here: psutil is an optional dependency (the "host" extra).
        from nexus_nb.server.host import HostMetrics

        sampler = HostMetrics(interval=host_interval)  # fails before the port opens
    if redis is not None:
        if log is not None:
            raise ValueError("give either log or redis, not both")
        # Imported here: redis-py is an optional dependency (the "redis" extra).
        from nexus_nb.server.redis_log import RedisEventLog

        log = RedisEventLog(redis, channels, retention=retention)
    if log is None:
        log = MemoryEventLog(
            channels,
            retention=retention,
            retention_seconds=retention_seconds,
            retention_bytes=retention_bytes,
        )
    server = Server(
        api_key=key,
        auth=auth,
        log=log,
        channels=channels,
        limits=limits or protocol.Limits(),
        max_subscriptions=max_subscriptions,
        max_connections=max_connections,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        max_queue_bytes=max_queue_bytes,
        slow_timeout=slow_timeout,
        origins=origins,
    )
    await server.start_log()
    try:
        ws = await ws_serve(
            server.connection,
            host,
            port,
            ssl=ssl,
            process_request=server.admission,
            compression=None,
            max_size=max_size,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            logger=make_logger(),
        )
    except BaseException:
        await log.aclose()
        raise
    server.attach(ws, tls=ssl is not None)
    if demo:
        server.start_demo(DemoSource(seed=seed, rate=rate, channels=channels))
    if sampler is not None:
        server._spawn(sampler.run(server.publish))  # owned: cancelled by aclose()
    logger.info("serving on %s", server.url)
    return server


@_options_of(_start)
def aserve(**options: Any) -> ServerStart:
    """Start a Nexus server on the caller's event loop, for async code.

    ``server = await aserve(...)`` returns the :class:`Server` once it accepts
    connections (close it with ``await server.aclose()``); ``async with
    aserve(...) as server:`` also closes it when the block ends (see
    :class:`ServerStart`). Nothing starts before the await. The server belongs
    to that loop: calls from other threads are handed to it.
    """
    return ServerStart(functools.partial(_start, **options))


@_options_of(_start)
def serve(**options: Any) -> ServerHandle:
    """Start a Nexus server on a thread of its own, for plain code; return it once it listens.

    For a notebook cell or a script, with or without a running event loop:
    ``server = serve(...)`` blocks until the server accepts connections. The
    server runs on a :class:`~nexus_nb.thread.LoopThread` it owns (so it keeps
    serving while a cell runs), which ``server.close()`` (or ``await
    server.aclose()``) stops. Async code that wants the server on its own loop
    uses :func:`aserve`. The :class:`ServerHandle` returned acts as the server;
    once the notebook no longer references it (a re-run cell), the server is
    closed and its thread ended. Called on a server's own thread (code that a server
    started by ``serve()`` runs), which blocking would stall, it raises
    ``RuntimeError`` and says to ``await aserve(...)`` there.
    """
    if _this_thread.hosts_server:
        raise RuntimeError(
            "serve() blocks its caller, here the thread of a running server: "
            "await aserve(...) on this thread instead"
        )
    thread = LoopThread("nexus_nb server")
    try:
        return ServerHandle(thread.call(_start_on(thread, options)), thread)
    except BaseException:
        thread.shutdown()
        raise


async def _start_on(thread: LoopThread, options: dict[str, Any]) -> Server:
    """:func:`_start` on ``thread``, recorded as the server's owner (stopped by its close)."""
    _this_thread.hosts_server = True
    server = await _start(**options)
    # Here, on the owner thread, before any other thread holds the server.
    server._owner.host = thread
    return server
