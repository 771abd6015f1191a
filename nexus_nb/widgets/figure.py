"""A plotly figure drawn by plotly.js in the page, sent as frames of what changed.

The kernel keeps a plain ``plotly.graph_objects.Figure`` (public API only:
``add_traces``, ``trace.x = ...``, ``update_layout``); :meth:`FigurePart.publish`
compares it with what the page was last sent and sends the difference: the
layout when it changed, the trace styles when one changed, and the x/y arrays
of the traces whose arrays were replaced, numbers as float64 binary buffers.
The page draws with ``Plotly.react``; a user's zoom or double-click comes back
as an event (``{"relayout": {"range": [a, b]}}`` or ``{"autorange": true}``).

A frame's delta (see :mod:`nexus_nb.widgets.surface` for the envelope):
``layout`` (the layout's changed top-level entries, each whole: a moving x
range sends ``xaxis``, never the template), ``layout_drop`` (entries removed),
``traces`` (every trace's style, without x/y), ``count`` (traces drawn),
``data`` (``[index, x, y]`` per changed trace, each a buffer index or a list),
``config`` and ``bar`` (the line under the plot: its
button, tooltip and note).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.graph_objects as go

from nexus_nb.widgets.meter import MessageMeter
from nexus_nb.widgets.surface import Part, pack

__all__ = ["FigurePart", "jsonable"]


def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into lists and Python numbers."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _same(old: Any, new: Any) -> bool:
    """Whether a trace's array is the one last sent.

    A numpy array changes by being replaced, so identity decides (no O(n) compare
    per frame). plotly answers a list (bar categories) with a new tuple on every
    read: those, always short, are compared by value.
    """
    return old is new or (isinstance(new, tuple) and isinstance(old, tuple) and old == new)


class FigurePart(Part):
    """The kernel's side of one plotly.js plot: a ``go.Figure`` and what the page holds of it.

    Args:
        figure: The figure to draw; change it, then :meth:`publish`.
        config: plotly.js config (``doubleClick``, ``displaylogo``...).
        on_event: Called with each page event (a relayout, a button click).
        meter: Counts the frames sent (the view's).
    """

    kind = "plot"

    def __init__(
        self,
        figure: go.Figure,
        *,
        config: dict[str, Any] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        meter: MessageMeter | None = None,
    ) -> None:
        super().__init__(meter)
        self.figure = figure
        self.config = dict(config or {})
        self.bar: dict[str, Any] = {}
        self._on_event = on_event
        self._layout: dict[str, Any] | None = None
        self._styles: list[dict[str, Any]] = []
        self._arrays: list[tuple[Any, Any]] = []
        self._bar: dict[str, Any] = {}

    def _style(self, trace: Any) -> dict[str, Any]:
        style = trace.to_plotly_json()
        style.pop("x", None)
        style.pop("y", None)
        return jsonable(style)  # type: ignore[no-any-return]

    def state(self, buffers: list[memoryview]) -> dict[str, Any]:
        """Everything: layout, styles, every trace's arrays, config and bar."""
        self._layout = jsonable(self.figure.layout.to_plotly_json())
        self._styles = [self._style(trace) for trace in self.figure.data]
        self._arrays = [(trace.x, trace.y) for trace in self.figure.data]
        self._bar = dict(self.bar)
        return {
            "layout": self._layout,
            "traces": self._styles,
            "count": len(self._styles),
            "data": [
                [i, pack(x, buffers), pack(y, buffers)] for i, (x, y) in enumerate(self._arrays)
            ],
            "config": self.config,
            "bar": self._bar,
        }

    def publish(self) -> bool:
        """Send what changed since the last frame (nothing if nothing did); say if anything was."""
        delta: dict[str, Any] = {}
        buffers: list[memoryview] = []
        layout = jsonable(self.figure.layout.to_plotly_json())
        previous = self._layout or {}
        changed = {key: value for key, value in layout.items() if previous.get(key) != value}
        if changed:
            delta["layout"] = changed
        dropped = [key for key in previous if key not in layout]
        if dropped:
            delta["layout_drop"] = dropped
        self._layout = layout
        traces = self.figure.data
        styles = [self._style(trace) for trace in traces]
        if styles != self._styles:
            self._styles = delta["traces"] = styles
            delta["count"] = len(styles)
        data = []
        arrays = []
        for index, trace in enumerate(traces):
            x, y = trace.x, trace.y
            arrays.append((x, y))
            old = self._arrays[index] if index < len(self._arrays) else (None, None)
            if index >= len(self._arrays) or not (_same(old[0], x) and _same(old[1], y)):
                data.append([index, pack(x, buffers), pack(y, buffers)])
        if data:
            delta["data"] = data
        self._arrays = arrays
        if self.bar != self._bar:
            self._bar = delta["bar"] = dict(self.bar)
        if not delta:
            return False
        self.send(delta, buffers)
        return True

    def on_event(self, content: dict[str, Any]) -> None:
        """A zoom, double-click or button click in the page: the plot's to handle."""
        if self._on_event is not None:
            self._on_event(content)
