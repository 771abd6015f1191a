"""Loopback networking for the tests: a free port, one bounded read of a JSON frame."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def recv(ws: ClientConnection, limit: float = 5.0) -> dict[str, Any]:
    """Read one frame from ``ws`` and decode its JSON.

    Raises:
        TimeoutError: No frame came within ``limit`` seconds.
    """
    async with asyncio.timeout(limit):
        message: dict[str, Any] = orjson.loads(await ws.recv())
    return message
