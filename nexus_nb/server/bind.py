"""Starting a server: ``serve()`` binds a :class:`Server`.

``serve(...)`` returns a :class:`ServerStart`, as websockets' ``serve`` does:
``server = await serve(...)`` runs the server on the caller's loop, ``async
with serve(...) as server:`` where one block should own the server. A plain
call at the top of a notebook cell, ``server = serve(...)``, starts it on a
:class:`~nexus_nb.thread.LoopThread` of its own, so it keeps serving while a
cell runs, and returns the started :class:`Server`.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import secrets
import ssl as ssl_module
from collections.abc import Callable, Collection, Coroutine, Generator, Sequence
from types import TracebackType
from typing import Any, ParamSpec, cast

from websockets.asyncio.server import serve as ws_serve

from nexus_nb import protocol
from nexus_nb.thread import LoopThread, awaited
from nexus_nb.server.auth import Authenticator
from nexus_nb.server.demo import DemoSource
from nexus_nb.server.eventlog import EventLog, MemoryEventLog
from nexus_nb.server.redact import RedactTokens
from nexus_nb.server.server import Server, logger

__all__ = ["ServerStart", "make_logger", "resolve_api_key", "serve"]

P = ParamSpec("P")


class ServerStart:
    """What :func:`serve` returns: await it for the :class:`Server`, or ``async with`` it.

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


def _deferred(start: Callable[P, Coroutine[Any, Any, Server]]) -> Callable[P, ServerStart]:
    """Make ``start(...)`` return a :class:`ServerStart` that runs it when awaited.

    Called plainly (not awaited, outside async code), it runs ``start`` on a
    :class:`LoopThread` instead and returns the started :class:`Server`.
    """

    @functools.wraps(start)
    def deferred(*args: P.args, **kwargs: P.kwargs) -> ServerStart:
        if awaited():
            return ServerStart(functools.partial(start, *args, **kwargs))
        thread = LoopThread("nexus_nb server")
        try:
            server = thread.call(start(*args, **kwargs))
        except BaseException:
            thread.shutdown()
            raise
        server.hosted_on(thread)
        return cast("ServerStart", server)

    return deferred


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


@_deferred
async def serve(
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

    ``await serve(...)`` gives the :class:`Server`; ``async with serve(...) as
    server:`` also closes it when the block ends (see :class:`ServerStart`).
    Installs no signal handlers (it runs inside notebook kernels); the CLI calls
    :meth:`Server.serve_forever` for that.

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
