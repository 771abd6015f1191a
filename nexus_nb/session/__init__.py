"""The session layer: the one place that wires a client to buffers and views."""

from __future__ import annotations

from nexus_nb.session.asyncstream import AsyncStream, aconnect
from nexus_nb.session.base import BaseStream
from nexus_nb.session.dashboard import Dashboard
from nexus_nb.session.feed import StreamStats
from nexus_nb.session.recording import Recording
from nexus_nb.session.stream import Stream, connect

__all__ = [
    "AsyncStream",
    "BaseStream",
    "Dashboard",
    "Recording",
    "Stream",
    "StreamStats",
    "aconnect",
    "connect",
]
