"""The Nexus WebSocket server: ``serve()`` or ``await aserve()``, and the pieces behind it."""

from __future__ import annotations

from nexus_nb.server.bind import ServerStart, aserve, serve
from nexus_nb.server.eventlog import Entry, EventLog, MemoryEventLog, Missed
from nexus_nb.server.handle import ServerHandle
from nexus_nb.server.server import EXTENSIONS, Server, ServerState

__all__ = [
    "EXTENSIONS",
    "Entry",
    "EventLog",
    "MemoryEventLog",
    "Missed",
    "Server",
    "ServerHandle",
    "ServerStart",
    "ServerState",
    "aserve",
    "serve",
]
