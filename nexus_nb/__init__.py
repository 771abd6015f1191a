"""nexus_nb: watch, capture and export live Nexus event streams from a Jupyter notebook.

Write ``import nexus_nb as nnb``; then, in notebook cells, plain calls (no
``await``, no patched event loop)::

    server = nnb.serve()                              # in-kernel demo server
    stream = nnb.connect(server.url, api_key=server.api_key)
    stream.subscribe(["telemetry.metrics"])
    nnb.LivePlot(stream["telemetry.metrics"], y="value", color="source")

Async code uses the same objects' async forms: ``await nnb.aconnect(...)`` (an
:class:`AsyncStream`) and ``await nnb.aserve(...)``.

Threads: a stream reads its socket and fills its buffers on a thread it owns;
views draw on the frame clock's thread; a server made by ``serve`` runs on a
thread of its own. Work crosses threads only by being handed to the owner's
event loop (see the docs' thread model page).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from nexus_nb.exceptions import (
    AuthError,
    CaptureError,
    ConnectionClosed,
    NexusError,
    ProtocolError,
    SchemaError,
    SubscriptionError,
    TransportError,
)

if TYPE_CHECKING:
    from nexus_nb.buffer import RingBuffer
    from nexus_nb.capture import read_capture
    from nexus_nb.protocol import CHANNELS
    from nexus_nb.server import Server, aserve, serve
    from nexus_nb.session import AsyncStream, Dashboard, Recording, Stream, aconnect, connect
    from nexus_nb.widgets import LivePlot, LiveTable, StatusBar

# Imported on first use (PEP 562): `nexus-nb tail` should not pay for pandas,
# plotly and ipywidgets, and `import nexus_nb` stays cheap in a kernel.
_LAZY = {
    "RingBuffer": "nexus_nb.buffer",
    "read_capture": "nexus_nb.capture",
    "CHANNELS": "nexus_nb.protocol",
    "Server": "nexus_nb.server",
    "serve": "nexus_nb.server",
    "aserve": "nexus_nb.server",
    "Dashboard": "nexus_nb.session",
    "Recording": "nexus_nb.session",
    "Stream": "nexus_nb.session",
    "AsyncStream": "nexus_nb.session",
    "connect": "nexus_nb.session",
    "aconnect": "nexus_nb.session",
    "LivePlot": "nexus_nb.widgets",
    "LiveTable": "nexus_nb.widgets",
    "StatusBar": "nexus_nb.widgets",
}

# A library configures no logging (the CLI does, in nexus_nb.server.logs.configure):
# without this, a warning logged on a reader or server thread would go to Python's
# last-resort stderr, which a kernel shows under whichever cell ran last.
logging.getLogger("nexus_nb").addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "CHANNELS",
    "AsyncStream",
    "AuthError",
    "CaptureError",
    "ConnectionClosed",
    "Dashboard",
    "LivePlot",
    "LiveTable",
    "NexusError",
    "ProtocolError",
    "Recording",
    "RingBuffer",
    "SchemaError",
    "Server",
    "StatusBar",
    "Stream",
    "SubscriptionError",
    "TransportError",
    "aconnect",
    "aserve",
    "connect",
    "read_capture",
    "serve",
]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'nexus_nb' has no attribute {name!r}")
    module, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
