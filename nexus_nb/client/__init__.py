"""The kernel-side Nexus client.

``client = await connect(url, api_key=...)`` at the top level of a notebook cell
returns once the connection is open; the client then runs as tasks on the
kernel's event loop between cells until ``await client.close()``.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Mapping

from nexus_nb.client.client import Client
from nexus_nb.client.listeners import Events
from nexus_nb.client.state import ClientStats, State

__all__ = ["Client", "ClientStats", "Events", "State", "connect"]


async def connect(
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
) -> Client:
    """Connect to a Nexus server; return once ``connection_established`` is received.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        api_key: Sent as ``Authorization: Bearer <key>`` (the reference Node
            client), or as ``?token=<key>`` with ``token_in_query`` (the browser client).
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
        ssl: TLS context for ``wss://`` URLs.
        headers: Extra HTTP headers for the handshake.

    Raises:
        AuthError: The server refused the credentials (HTTP 401/403 or close 1008).
        TransportError: Refused, unreachable or timed out.
        ValueError: A bad URL or limit.
    """
    client = Client(
        url,
        api_key=api_key,
        token_in_query=token_in_query,
        reconnect=reconnect,
        backoff=backoff,
        max_retries=max_retries,
        heartbeat=heartbeat,
        open_timeout=open_timeout,
        max_queue=max_queue,
        resume=resume,
        ssl=ssl,
        headers=headers,
    )
    await client.start()
    return client
