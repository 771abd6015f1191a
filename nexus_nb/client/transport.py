"""Opening one WebSocket connection and reading the server's greeting.

This is the edge where websockets and OS errors become :mod:`nexus_nb.exceptions`.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed as WsConnectionClosed,
)
from websockets.exceptions import (
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from nexus_nb.exceptions import AuthError, ConnectionClosed, TransportError

__all__ = ["MAX_SIZE", "POLICY_VIOLATION", "closed_error", "open_connection"]

#: Largest frame accepted, bytes (an ``event_batch`` of 1,000 events is ~200 kB).
MAX_SIZE: Final = 16 * 2**20
#: The close code the reference server uses to refuse credentials.
POLICY_VIOLATION: Final = 1008
#: The close code for a frame over ``max_size``.
MESSAGE_TOO_BIG: Final = 1009


def closed_error(exc: WsConnectionClosed) -> AuthError | ConnectionClosed:
    """Translate a websockets close into :class:`AuthError` (1008) or :class:`ConnectionClosed`."""
    frame = exc.rcvd
    if frame is not None and frame.code == POLICY_VIOLATION:
        # 1008 is what the reference closes with on bad credentials (our server
        # also on rate-limit abuse): retrying would be refused the same way.
        return AuthError(f"server closed with 1008 (policy violation): {frame.reason}")
    if frame is None:
        sent = exc.sent
        if sent is not None and sent.code == MESSAGE_TOO_BIG:
            # We closed it: the server sent a frame over MAX_SIZE.
            return ConnectionClosed(sent.code, f"a frame over {MAX_SIZE} bytes: {sent.reason}")
        return ConnectionClosed(None, "connection lost")
    return ConnectionClosed(frame.code, frame.reason)


async def open_connection(
    url: str,
    *,
    headers: Mapping[str, str],
    open_timeout: float,
    keepalive: float | None,
    ssl: ssl_module.SSLContext | None,
) -> tuple[ClientConnection, dict[str, Any]]:
    """Open a connection and wait for ``connection_established``, within ``open_timeout`` s.

    Returns:
        The connection and the decoded greeting.

    Raises:
        AuthError: HTTP 401/403 at the handshake, or close code 1008 before the greeting.
        TransportError: Refused, unreachable, timed out, or a handshake failure;
            :class:`ConnectionClosed` if the server closed before greeting.
        ValueError: If ``url`` is not a ws:// or wss:// URL.
    """
    # Left out when None: websockets then verifies wss:// with the system trust store.
    tls: dict[str, Any] = {} if ssl is None else {"ssl": ssl}
    try:
        ws = await ws_connect(
            url,
            additional_headers=dict(headers),
            open_timeout=open_timeout,
            ping_interval=keepalive,
            ping_timeout=keepalive,
            max_size=MAX_SIZE,
            **tls,
        )
    except InvalidURI as exc:
        raise ValueError(f"not a WebSocket URL: {url!r}") from exc
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise AuthError(f"server refused the credentials (HTTP {status})") from exc
        raise TransportError(f"handshake refused with HTTP {status}") from exc
    except InvalidHandshake as exc:
        raise TransportError(f"WebSocket handshake failed: {exc}") from exc
    except TimeoutError as exc:
        raise TransportError(f"no connection within {open_timeout} s") from exc
    except OSError as exc:
        raise TransportError(f"cannot connect to {urlsplit(url).netloc}: {exc}") from exc
    try:
        async with asyncio.timeout(open_timeout):
            raw = await ws.recv(decode=False)
        hello = orjson.loads(raw)
    except WsConnectionClosed as exc:
        raise closed_error(exc) from exc
    except TimeoutError as exc:
        await ws.close()
        raise TransportError(f"no connection_established within {open_timeout} s") from exc
    except orjson.JSONDecodeError as exc:
        await ws.close()
        raise TransportError("the server's first message is not JSON") from exc
    if not isinstance(hello, dict) or hello.get("type") != "connection_established":
        await ws.close()
        raise TransportError("the server's first message is not connection_established")
    return ws, hello
