"""The kernel-side Nexus client.

``client = await connect(url, api_key=...)`` at the top level of a notebook cell
returns once the connection is open; the client then runs as tasks on the
kernel's event loop between cells until ``await client.aclose()``. In one cell
or a script, ``async with Client(url, api_key=...) as client:`` does both.
"""

from __future__ import annotations

import ssl as ssl_module
from collections.abc import Mapping

from nexus_nb.client.client import Client, Reader
from nexus_nb.client.listeners import Events
from nexus_nb.client.protocol import MAX_HOLD
from nexus_nb.client.reader import MAX_HANDOFF
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
    recover: bool = True,
    max_hold: int = MAX_HOLD,
    ssl: ssl_module.SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
    reader: Reader = "loop",
    max_handoff: int = MAX_HANDOFF,
) -> Client:
    """Connect to a Nexus server; return the client once ``connection_established`` came.

    The arguments are :class:`Client`'s. ``await connect(url, ...)`` is
    ``async with Client(url, ...)`` for a client that outlives one cell: close it
    with ``await client.aclose()``.

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
        recover=recover,
        max_hold=max_hold,
        ssl=ssl,
        headers=headers,
        reader=reader,
        max_handoff=max_handoff,
    )
    await client.start()
    return client
