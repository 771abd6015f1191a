"""nexus_nb: watch, capture and export live Nexus event streams from a Jupyter notebook.

Write ``import nexus_nb as nnb``; then, in a notebook cell::

    server = await nnb.serve()                       # in-kernel demo server
    stream = await nnb.connect(server.url, api_key=server.api_key)
    await stream.subscribe(["telemetry.metrics"])
    nnb.LivePlot(stream["telemetry.metrics"], y="value", color="source")

Layers (dependencies point down; see ``pyproject.toml``'s import-linter contracts)::

    cli        nexus-nb command line
    session    Stream (client + buffers), Dashboard
    client | server | widgets | buffer
    capture    files and DataFrames of events, replay sources
    protocol   the Nexus JSON messages; no I/O
    exceptions the NexusError tree
"""

from __future__ import annotations

import importlib
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
    from nexus_nb.buffer import Latest, Resample, RingBuffer
    from nexus_nb.capture import Recorder, read_capture
    from nexus_nb.client import Client, ClientStats
    from nexus_nb.client import State as ClientState
    from nexus_nb.protocol import CHANNELS, ErrorCode
    from nexus_nb.server import Server, ServerState, serve
    from nexus_nb.session import Dashboard, Recording, Stream, connect
    from nexus_nb.widgets import ChannelControls, FrameClock, LivePlot, LiveTable, StatusBar

# Imported on first use (PEP 562): `nexus-nb tail` should not pay for pandas,
# plotly and ipywidgets, and `import nexus_nb` stays cheap in a kernel.
_LAZY = {
    "Latest": "nexus_nb.buffer",
    "Resample": "nexus_nb.buffer",
    "RingBuffer": "nexus_nb.buffer",
    "Recorder": "nexus_nb.capture",
    "read_capture": "nexus_nb.capture",
    "Client": "nexus_nb.client",
    "ClientStats": "nexus_nb.client",
    "ClientState": "nexus_nb.client:State",
    "CHANNELS": "nexus_nb.protocol",
    "ErrorCode": "nexus_nb.protocol",
    "Server": "nexus_nb.server",
    "ServerState": "nexus_nb.server",
    "serve": "nexus_nb.server",
    "Dashboard": "nexus_nb.session",
    "Recording": "nexus_nb.session",
    "Stream": "nexus_nb.session",
    "connect": "nexus_nb.session",
    "ChannelControls": "nexus_nb.widgets",
    "FrameClock": "nexus_nb.widgets",
    "LivePlot": "nexus_nb.widgets",
    "LiveTable": "nexus_nb.widgets",
    "StatusBar": "nexus_nb.widgets",
}

__version__ = "0.1.0"

__all__ = [
    "CHANNELS",
    "AuthError",
    "CaptureError",
    "ChannelControls",
    "Client",
    "ClientState",
    "ClientStats",
    "ConnectionClosed",
    "Dashboard",
    "ErrorCode",
    "FrameClock",
    "Latest",
    "LivePlot",
    "LiveTable",
    "NexusError",
    "ProtocolError",
    "Recorder",
    "Recording",
    "Resample",
    "RingBuffer",
    "SchemaError",
    "Server",
    "ServerState",
    "StatusBar",
    "Stream",
    "SubscriptionError",
    "TransportError",
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
