"""Live views of buffered Nexus events: anywidgets drawn with plotly.js, wherever anywidget runs.

Views render what a :class:`Source` holds and know nothing of sockets; one
:class:`FrameClock` (its own thread in a kernel) paces them and caps their messages.
"""

from __future__ import annotations

from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.controls import ChannelControls
from nexus_nb.widgets.decimate import decimate_minmax
from nexus_nb.widgets.plot import LivePlot
from nexus_nb.widgets.source import Source
from nexus_nb.widgets.status import ChannelStatus, StatusBar, StatusSnapshot
from nexus_nb.widgets.table import LiveTable

__all__ = [
    "ChannelControls",
    "ChannelStatus",
    "FrameClock",
    "LivePlot",
    "LiveTable",
    "Source",
    "StatusBar",
    "StatusSnapshot",
    "decimate_minmax",
]
