"""The Nexus client: one connection, kept alive, fanned out to callbacks (async code).

``client = await Client.connect(url, api_key=...)`` returns once the connection
is open; the client then runs as tasks on the caller's event loop until
``await client.aclose()``. ``async with Client(url, api_key=...) as client:``
does both. Notebooks use :func:`nexus_nb.connect` instead: a stream that reads
on a thread of its own and fills buffers.
"""

from __future__ import annotations

from nexus_nb.client.client import Client
from nexus_nb.client.listeners import Events
from nexus_nb.client.state import ClientStats, State

__all__ = ["Client", "ClientStats", "Events", "State"]
