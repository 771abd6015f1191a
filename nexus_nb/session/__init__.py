"""The session layer: the one place that wires a client to buffers and views."""

from __future__ import annotations

from nexus_nb.session.dashboard import Dashboard
from nexus_nb.session.recording import Recording
from nexus_nb.session.stream import Stream, StreamStats, connect

__all__ = ["Dashboard", "Recording", "Stream", "StreamStats", "connect"]
