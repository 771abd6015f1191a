"""Capture: write event streams to files, read captures back, replay them as events.

Built on the columnar core (:mod:`nexus_nb.columnar`, where the flatten rule,
timestamps and frame exports live), like :mod:`nexus_nb.buffer`, its sibling.
Nothing here touches asyncio or the network.
"""

from __future__ import annotations

from nexus_nb.capture.event import ReplayEvent, iter_events
from nexus_nb.capture.file import read_capture
from nexus_nb.capture.recorder import Recorder

__all__ = ["Recorder", "ReplayEvent", "iter_events", "read_capture"]
