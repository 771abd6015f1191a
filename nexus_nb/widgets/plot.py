"""A live plotly chart of buffered events that redraws incrementally at a bounded rate."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from nexus_nb.widgets.bars import BarChart
from nexus_nb.widgets.chart import Chart, group_colour
from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.display import Displayable
from nexus_nb.widgets.figure import FigurePart
from nexus_nb.widgets.histogram import HistogramChart
from nexus_nb.widgets.owner import owned
from nexus_nb.widgets.palette import plot_palette
from nexus_nb.widgets.snapshot import SnapshotTrace, plot_svg
from nexus_nb.widgets.source import Source
from nexus_nb.widgets.surface import Part
from nexus_nb.widgets.traces import TraceKey, TraceSet
from nexus_nb.widgets.view import LiveView
from nexus_nb.widgets.zoomrange import read_range

__all__ = ["LivePlot"]

log = logging.getLogger(__name__)

_ROW_GAP = 0.06
#: Plot-area width (px) assumed for pacing: a following time window is redrawn at
#: most as often as it moves by one pixel of this width (the kernel never learns
#: the real width; a wider plot only scrolls in steps of a little over a pixel).
_PIXELS = 1000
#: Tick labels may overflow the plot's div. plotly.js's default for date and
#: linear axes ("hide past div") measures every label against every other on each
#: redraw, about a third of the page's time per frame of a scrolling plot.
_AXIS = {"ticklabeloverflow": "allow"}
#: Line width (px) of a line trace: a 1 px line is a hairline to the page's
#: rasterizer, far cheaper to draw in software rendering than plotly's default 2 px.
_LINE_WIDTH = 1
#: The values of ``LivePlot(kind=...)``.
KINDS = ("line", "bar", "histogram")
#: plotly.js config of every plot. A double-click follows again: plotly's default
#: ("reset+autosize") first goes back to the range the view was first drawn with.
_CONFIG = {"doubleClick": "autosize", "displaylogo": False}
_UNSUBSCRIBED = "not subscribed: showing what was buffered"


def _window_ms(window: str | float | timedelta | None) -> float | None:
    if window is None:
        return None
    if isinstance(window, int | float):
        return float(window)
    return float(pd.Timedelta(window).total_seconds() * 1000.0)


class LivePlot(LiveView, Displayable):
    """A live plotly chart of a :class:`Source`, one trace per ``color`` group.

    Each frame reads only the rows appended since the last frame, folds them into
    per-trace state (exact up to ``max_points`` per trace, min/max-decimated into
    buckets fixed in time above), drops points older than ``window`` before the
    newest event, and sends the changed traces in one frame, drawn in the page by
    plotly.js (see :mod:`nexus_nb.widgets.figure`). CPU per
    frame depends on the rows that arrived, and bytes per frame on
    ``max_points``, never on the buffer size. Time goes to the browser as float64
    epoch milliseconds on a date axis (binary, not JSON lists).

    Zooming: a zoom or pan in the browser (or :meth:`zoom`, or
    ``update_layout(xaxis_range=...)``) switches the plot to *zoomed*: it stops
    following and re-reads exactly the visible x range from the source, every
    row when a trace holds at most ``max_points`` there, else a min/max
    envelope. A zoomed range reaching the newest data keeps extending. A
    double-click (autorange) or :meth:`follow` returns to *follow*. Under the
    chart, a button reads *pause* while following (:meth:`pause`) and *follow*
    while zoomed or paused, beside the mode (:attr:`view_mode`). Colours come from a stable hash
    of the group's name, so a source keeps its colour across runs.

    Kinds: ``kind="line"`` (the default) is the above. ``kind="bar"`` draws one
    bar per category of ``x`` holding its newest ``y`` (the last row by
    arrival, missing values skipped: ``groupby(x).last()``), in the order the
    categories were first seen, e.g. over ``buf.latest(by="source")``; with
    ``color`` (another column) bars stand side by side per group, and
    ``color=x`` gives each category its own colour. A category whose newest
    row is older than ``window`` is hidden. ``kind="histogram"`` counts the
    column ``x`` over the window (``numpy.histogram`` in the kernel: only edges
    and counts are sent), overlaid per ``color`` group. Both update their bars
    in place only when the values changed; rows kept out by a limit are
    counted in :attr:`dropped_rows` and noted on the chart.

    Frames are paced by a :class:`FrameClock` (the running loop's shared one by
    default) and skipped while paused or not displayed; the source keeps
    buffering and the next frame catches up. Without a running loop, call
    :meth:`render` yourself.

    Args:
        source: Where the rows come from.
        x: Column on the x axis; ``"timestamp"`` becomes a date axis. For bars,
            the category column; for a histogram, the column counted.
        y: Column, or columns; several become stacked subplots sharing x (one
            column for bars; unused by a histogram).
        color: Column whose values each get a trace, e.g. ``"source"``.
        facet: Column whose values each get a stacked subplot row.
        window: Visible span before the newest x: a pandas duration (``"5min"``),
            a number in x units (ms for time), or ``None`` to keep everything.
        fps: Frame-rate cap for this plot; ``None`` uses the clock's.
        max_points: Points per trace above which traces are decimated; ``None``
            never decimates (bytes per frame then grow with the data).
        mode: Plotly scatter mode: ``"lines"``, ``"markers"``, ``"lines+markers"``.
        layout: Plotly layout properties applied over the defaults.
        template: Plotly template name or object.
        title: Figure title.
        max_groups: Most ``color`` groups; rows of later groups are dropped and
            counted in :attr:`dropped_rows`.
        max_facets: Most ``facet`` values; same overflow policy as groups.
        webgl_threshold: Points in one trace above which every trace becomes
            ``scattergl`` (SVG slows past ~10k points).
        clock: The frame clock; default the running loop's shared clock.
        kind: ``"line"``, ``"bar"`` or ``"histogram"`` (see above).
        bins: Histogram bins: a count (round-width edges fitted to the window's
            values, at most 1000) or the edges themselves.
        max_categories: Most bar categories; rows of later ones are dropped
            and counted in :attr:`dropped_rows`.

    Raises:
        ValueError: If a limit is not positive, ``kind`` is unknown, or a bar
            or histogram is given several ``y``, a ``facet`` or bad ``bins``.
    """

    def __init__(
        self,
        source: Source,
        *,
        x: str = "timestamp",
        y: str | Sequence[str] = "value",
        color: str | None = None,
        facet: str | None = None,
        window: str | float | timedelta | None = "5min",
        fps: float | None = None,
        max_points: int | None = 2000,
        mode: str = "lines",
        layout: Mapping[str, Any] | None = None,
        template: Any = None,
        title: str | None = None,
        max_groups: int = 20,
        max_facets: int = 8,
        webgl_threshold: int = 5000,
        clock: FrameClock | None = None,
        kind: str = "line",
        bins: int | Sequence[float] = 30,
        max_categories: int = 50,
    ) -> None:
        if max_groups < 1 or max_facets < 1 or webgl_threshold < 1 or max_categories < 1:
            raise ValueError(
                "max_groups, max_facets, max_categories and webgl_threshold must be positive"
            )
        if fps is not None and not fps > 0:
            raise ValueError("fps must be positive")
        self.source = source
        self.x = x
        self.ys = [y] if isinstance(y, str) else list(y)
        self.color = color
        self.facet = facet
        self.window = _window_ms(window)
        self.max_points = max_points
        self.mode = mode
        self.max_groups = max_groups
        self.max_facets = max_facets
        self.webgl_threshold = webgl_threshold
        self.kind = kind
        self._chart = self._make_chart(bins, max_categories)
        super().__init__(fps=fps, clock=clock)
        self._version: int | None = None
        self._time_axis = x == "timestamp"
        self._rows: list[tuple[str, str]] = []
        self._traces = TraceSet(
            x=x,
            ys=self.ys,
            color=color,
            facet=facet,
            window=self.window,
            max_points=max_points,
            max_groups=max_groups,
            max_facets=max_facets,
        )
        self._trace_of: dict[TraceKey, int] = {}
        self._legend: set[str] = set()
        self._webgl = False
        self._zoom: tuple[float, float] | None = None
        self._zoom_live = False
        self._set_range: tuple[float, float] | None = None
        self._user_layout = dict(layout or {})
        base = self._base_layout(template, title)
        if self._chart is not None:
            for key, value in self._chart.layout().items():
                base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
        if self._time_axis:
            base["xaxis"]["type"] = "date"
        self.figure = go.Figure(layout=base)
        """The plot's figure as the kernel holds it; change it with :meth:`update_layout`."""
        if self._user_layout:
            self.figure.update_layout(self._user_layout)
        self._palette = plot_palette(self.figure.layout)
        if self._chart is not None:
            self._chart.attach(self.figure, self._palette)
        self._uirevision = 0
        self.figure.layout.uirevision = 0
        # A zoom or follow asked by the page, applied once the messages before it are read.
        self._asked: tuple[float, float] | None = None
        self._asked_follow = False
        self._settling = False
        self._unsubscribed = False
        self._error = ""
        self.part = FigurePart(
            self.figure, config=dict(_CONFIG), on_event=self._on_event, meter=self.meter
        )
        """What the page draws: the figure and the line under it."""
        self._show_mode()
        self._join_clock()

    def _make_chart(self, bins: int | Sequence[float], max_categories: int) -> Chart | None:
        """The bar or histogram chart for ``kind``; ``None`` for lines, drawn here."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "line":
            return None
        if self.facet is not None or (self.kind == "bar" and len(self.ys) != 1):
            raise ValueError(f"a {self.kind} plot takes one y column and no facet")
        if self.kind == "bar":
            return BarChart(
                x=self.x,
                y=self.ys[0],
                color=self.color,
                window=self.window,
                max_categories=max_categories,
                max_groups=self.max_groups,
            )
        return HistogramChart(
            x=self.x, color=self.color, window=self.window, bins=bins, max_groups=self.max_groups
        )

    def _base_layout(self, template: Any, title: str | None) -> dict[str, Any]:
        xaxis: dict[str, Any] = dict(_AXIS)
        if self.x != "timestamp":
            xaxis["title"] = {"text": self.x}
        base: dict[str, Any] = {
            "xaxis": xaxis,
            "yaxis": {**_AXIS, "title": {"text": self.ys[0]}},
            "autosize": True,
            "margin": {"l": 60, "r": 20, "t": 50 if title else 30, "b": 40},
            "legend": {
                "orientation": "h",
                "y": 1.02,
                "yanchor": "bottom",
                "x": 1,
                "xanchor": "right",
            },
        }
        if title is not None:
            base["title"] = {"text": title}
        if template is not None:
            base["template"] = template
        return base

    # -- state ----------------------------------------------------------------

    @property
    def dropped_rows(self) -> int:
        """Rows dropped because their colour group, facet or category was past its limit."""
        if self._chart is not None:
            return self._chart.dropped_rows
        return self._traces.dropped_rows

    @property
    def displayed(self) -> bool:
        """Whether a page may be showing the plot (displayed, and in sight where reported)."""
        return self.part.shown

    @property
    def fps(self) -> float | None:
        """This plot's frame-rate cap, or ``None`` for the clock's.

        A line plot following a time window is capped at the rate its window
        moves by a pixel (``_PIXELS`` across the window, in event time taken as
        wall time): a 5 min window needs 3.3 frames/s, a 30 s one 33. Each frame
        redraws the whole figure in the page, so frames that move nothing by a
        pixel are skipped; the data they carried comes with the next one.
        """
        if self.window is None or not self._time_axis or self._chart is not None:
            return self._fps
        if self._zoom is not None:
            return self._fps
        pixel = _PIXELS * 1000.0 / self.window  # frames/s that move the window by 1 px
        cap = self._fps if self._fps is not None else (self.clock.fps if self.clock else None)
        return pixel if cap is None else min(cap, pixel)

    @property
    @owned
    def view_mode(self) -> str:
        """``"following"``, ``"zoomed"`` or ``"paused"``."""
        if self._paused:
            return "paused"
        return "zoomed" if self._zoom is not None else "following"

    def _mode_clicked(self) -> None:
        if self.view_mode == "following":
            self.pause()
            return
        if self._paused:
            self.resume()
        self.follow()

    def _show_mode(self) -> None:
        """Say under the plot what it does, what its button will do, and any error or note."""
        mode = self.view_mode
        following = mode == "following"
        notes = []
        if mode == "zoomed":
            notes.append("zoomed (double-click the plot to follow)")
        elif mode == "paused":
            notes.append("paused")
        if self._unsubscribed:
            notes.append(_UNSUBSCRIBED)
        if self._error:
            notes.append(f"frame failed: {self._error}")
        self.part.bar = {
            "button": "pause" if following else "follow",
            "tooltip": "Stop redrawing (the data keeps buffering)"
            if following
            else "Follow the newest data again",
            "note": " · ".join(notes),
            "error": bool(self._error),
        }

    def _new_ui(self) -> None:
        """Start a new view state: the page drops its own zoom for the plot's next range.

        Until then (plotly.js's ``uirevision``) a range the user dragged stays on
        the page across frames, however many arrive before the kernel has read it.
        """
        self._uirevision += 1
        self.figure.layout.uirevision = self._uirevision

    @owned
    def pause(self) -> None:
        """Stop drawing frames until :meth:`resume`."""
        super().pause()
        self._show_mode()
        self.part.publish()

    @owned
    def resume(self) -> None:
        """Draw frames again; the next frame catches up with what was buffered."""
        super().resume()
        self._show_mode()
        self.part.publish()

    @owned
    def mark_unsubscribed(self, unsubscribed: bool = True) -> None:
        """Say on the plot that its channel is no longer subscribed (or is again)."""
        if unsubscribed != self._unsubscribed:
            self._unsubscribed = unsubscribed
            self._show_mode()
            self.part.publish()

    @owned
    def update_layout(self, *args: Any, **kwargs: Any) -> None:
        """Change the figure's layout as ``go.Figure.update_layout`` does; the page follows.

        An x range set here zooms there (see :meth:`zoom`).
        """
        self.figure.update_layout(*args, **kwargs)
        xrange = self.figure.layout.xaxis.range
        if self._chart is None and xrange is not None and self._user_range(xrange):
            self.zoom(*xrange)
            return
        self.part.publish()

    @owned
    def to_figure(self) -> go.Figure:
        """A copy of the current frame as a ``plotly.graph_objects.Figure``."""
        self._catch_up()
        return go.Figure(self.figure)

    @owned
    def zoom(self, start: float | pd.Timestamp | str, end: float | pd.Timestamp | str) -> None:
        """Show exactly ``[start, end]`` at full resolution and stop following.

        Times may be timestamps/strings (UTC) or epoch ms; the range is re-read
        from the source now and on every frame after (it keeps extending while
        ``end`` is at or past the newest data).

        Raises:
            ValueError: If ``end`` is not after ``start``, or the plot is not a line plot.
        """
        if self._chart is not None:
            raise ValueError(f"zoom follows time: a {self.kind} plot has no time axis")
        lo, hi = self._to_x(start), self._to_x(end)
        if not hi > lo:
            raise ValueError("zoom end must be after its start")
        self._zoom = (lo, hi)
        self._zoom_live = hi >= self._traces.newest
        self._new_ui()
        self._draw_zoom()
        self._show_mode()
        self.part.publish()

    @owned
    def follow(self) -> None:
        """Follow the newest data again (as a double-click on the plot does)."""
        if self._zoom is None:
            return
        self._zoom = None
        self._new_ui()
        for series in self._traces.series.values():
            series.dirty = True
        self._draw(newest_moved=True)
        self._show_mode()
        self.part.publish()

    def _to_x(self, value: float | pd.Timestamp | str) -> float:
        if isinstance(value, int | float):
            return float(value)
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
        return float(stamp.value // 1000) / 1000.0

    def _user_range(self, xrange: Sequence[Any]) -> bool:
        """Whether ``xrange`` differs from the range the plot itself last drew."""
        if len(xrange) != 2:
            return False
        lo, hi = (self._to_x(v) for v in xrange)
        drawn = self._zoom if self._zoom is not None else self._set_range
        return drawn is None or not np.allclose((lo, hi), drawn, rtol=0, atol=1e-3)

    def _on_event(self, content: dict[str, Any]) -> None:
        """A click or a zoom in the page (on the owner's thread)."""
        if content.get("button") == "mode":
            self._mode_clicked()
            return
        relayout = content.get("relayout")
        if not isinstance(relayout, dict) or self._chart is not None:
            return  # Bars and bins: the page zooms them by itself; they keep updating.
        if relayout.get("autorange") is True:
            self._asked, self._asked_follow = None, True
        else:
            asked = self._page_range(relayout.get("range"))
            if asked is None:
                return
            self._asked, self._asked_follow = asked, False
        # A storm of zooms is read once: the last one asked when the queue is through.
        if self.clock is None:
            self._settle()
        elif not self._settling:
            self._settling = True
            self.clock.post(self._settle)

    def _page_range(self, xrange: Any) -> tuple[float, float] | None:
        """A range the page sent, if it is two times or numbers, increasing, and not ours."""
        if not isinstance(xrange, list) or len(xrange) != 2:
            return None
        if not all(isinstance(v, int | float | str) and not isinstance(v, bool) for v in xrange):
            return None
        try:
            lo, hi = (self._to_x(v) for v in xrange)
        except (TypeError, ValueError):
            log.warning("plot %s: ignored a page range it cannot read: %r", self, xrange)
            return None
        if not hi > lo or not self._user_range((lo, hi)):
            return None
        return lo, hi

    def _settle(self) -> None:
        self._settling = False
        asked, follow = self._asked, self._asked_follow
        self._asked, self._asked_follow = None, False
        if follow:
            self.follow()
        elif asked is not None:
            self.zoom(*asked)

    def pending(self) -> bool:
        """Whether the clock should render: shown and in sight, not paused, the source changed.

        Out of sight (every page showing it has it scrolled away or hidden), the
        plot sends nothing; the first frame back catches up, as after :meth:`resume`.

        A plot whose widget was closed directly (``plot.widget.close()``) closes.
        """
        if not self._closed and self._surface is not None and self._surface.comm is None:
            self.close()
        return (
            not self._closed
            and not self._paused
            and self.displayed
            and self.source.version != self._version
        )

    def show_error(self, error: BaseException | None) -> None:
        """Show the error of the last frame under the chart (``None`` clears it)."""
        text = "" if error is None else f"{type(error).__name__}: {error}"
        if text != self._error:
            self._error = text
            self._show_mode()
            self.part.publish()

    # -- frames ---------------------------------------------------------------

    @owned
    def render(self) -> None:
        """Draw one frame now, whatever the clock, pause or display state.

        Sends nothing when the source has not changed since the last frame.

        Raises:
            SchemaError: If the x or a y column holds text.
        """
        version = self.source.version
        if version == self._version:
            return
        self._version = version
        if self._chart is not None:
            self._chart.render(self.source)
        else:
            newest = self._traces.newest
            self._traces.ingest(self.source)
            if self._zoom is not None:
                if self._zoom_live and self._traces.newest > self._zoom[1]:
                    self._zoom = (self._zoom[0], self._traces.newest)
                self._draw_zoom()
            else:
                self._draw(newest_moved=self._traces.newest != newest)
        self.part.publish()

    def _draw_zoom(self) -> None:
        assert self._zoom is not None
        lo, hi = self._zoom
        arrays = read_range(
            self.source,
            x=self.x,
            ys=self.ys,
            color=self.color,
            facet=self.facet,
            start=lo,
            end=hi,
            max_points=self.max_points,
            groups=self._traces.groups if self.color else None,
            facets=self._traces.facets if self.facet else None,
        )
        new_keys = [key for key in arrays if key not in self._trace_of]
        if new_keys:
            self._add_traces(new_keys, dict(arrays))
        empty = np.empty(0)
        with self.figure.batch_update():
            for key, index in self._trace_of.items():
                xs, ys = arrays.get(key, (empty, empty))
                trace = self.figure.data[index]
                trace.x = xs
                trace.y = ys
            self.figure.layout.xaxis.range = [lo, hi]
            self.figure.layout.xaxis.autorange = False
            for axis in self._y_axes():
                self.figure.layout[axis].autorange = True

    def _y_axes(self) -> list[str]:
        return ["yaxis" if row == 0 else f"yaxis{row + 1}" for row in range(len(self._rows))]

    def _draw(self, *, newest_moved: bool) -> None:
        dirty = {key: s.arrays() for key, s in self._traces.series.items() if s.dirty}
        if not self._webgl and any(len(xy[0]) > self.webgl_threshold for xy in dirty.values()):
            self._webgl = True
            # Plotly cannot change a trace's type: drop them all, re-add as scattergl.
            dirty = {key: s.arrays() for key, s in self._traces.series.items()}
            self.figure.data = ()
            self._trace_of.clear()
            self._legend.clear()
        new_keys = [key for key in self._traces.series if key not in self._trace_of]
        rows_before = len(self._rows)
        if new_keys:
            self._add_traces(new_keys, dirty)
        if not dirty and not (newest_moved and self.window is not None):
            return
        layout = self._row_layout() if len(self._rows) != rows_before else None
        if layout is not None:
            # A new axis goes in a relayout of its own, as one object: batched with
            # its own sub-properties, plotly.js refuses the whole update ("cannot set
            # yaxis2.domain and a parent attribute simultaneously").
            for row in range(max(rows_before, 1), len(self._rows)):
                self.figure.layout[f"yaxis{row + 1}"] = layout.pop(f"yaxis{row + 1}")
        with self.figure.batch_update():
            if layout is not None:
                self.figure.update_layout(layout)
            for key, (xs, ys) in dirty.items():
                trace = self.figure.data[self._trace_of[key]]
                trace.x = xs
                trace.y = ys
            if self.window is not None and np.isfinite(self._traces.newest):
                # Until a window's worth has arrived, start at the first point
                # rather than squeezing the data against the right edge.
                newest = self._traces.newest
                start = max(newest - self.window, min(self._traces.oldest, newest - 1.0))
                self._set_range = (start, newest)
                self.figure.layout.xaxis.range = [start, newest]

    def _add_traces(
        self, keys: list[TraceKey], arrays: dict[TraceKey, tuple[np.ndarray, np.ndarray]]
    ) -> None:
        """Add traces for ``keys`` carrying their data (taken out of ``arrays``)."""
        for ycol, facet, _ in keys:
            if (ycol, facet) not in self._rows:
                self._rows.append((ycol, facet))
        traces = []
        for key in keys:
            self._trace_of[key] = len(self._trace_of)
            traces.append(self._make_trace(key, *arrays.pop(key, (np.empty(0), np.empty(0)))))
        self.figure.add_traces(traces)

    def _make_trace(self, key: TraceKey, xs: np.ndarray, ys: np.ndarray) -> Any:
        ycol, facet, group = key
        row = self._rows.index((ycol, facet))
        name = group if self.color else ycol
        # A stable hash, not arrival order: the same group gets the same colour every run.
        colour = (
            group_colour(self._palette, group)
            if self.color
            else self._palette[self.ys.index(ycol) % len(self._palette)]
        )
        first_of_name = name not in self._legend
        self._legend.add(name)
        kind = go.Scattergl if self._webgl else go.Scatter
        return kind(
            x=xs,
            y=ys,
            mode=self.mode,
            name=name,
            legendgroup=name,
            showlegend=first_of_name,
            line={"color": colour, "width": _LINE_WIDTH},
            marker={"color": colour},
            xaxis="x",
            yaxis="y" if row == 0 else f"y{row + 1}",
        )

    def _row_label(self, ycol: str, facet: str) -> str:
        return f"{ycol} · {facet}" if facet and len(self.ys) > 1 else facet or ycol

    def _row_layout(self) -> dict[str, Any]:
        count = len(self._rows)
        height = (1.0 - _ROW_GAP * (count - 1)) / count
        update: dict[str, Any] = {}
        for i, (ycol, facet) in enumerate(self._rows):
            top = 1.0 - i * (height + _ROW_GAP)
            label = self._row_label(ycol, facet)
            name = "yaxis" if i == 0 else f"yaxis{i + 1}"
            update[name] = {
                **_AXIS,
                "domain": [max(0.0, top - height), top],
                "title": {"text": label},
            }
            if i:
                update[name]["anchor"] = "x"
        last = "y" if count == 1 else f"y{count}"
        update["xaxis"] = {"anchor": last}
        if count > 1 and "height" not in self._user_layout:
            update["height"] = 160 + 170 * count
        return update

    # -- lifecycle and display -----------------------------------------------

    def _parts(self) -> list[Part]:
        return [self.part]

    @owned
    def close(self) -> None:
        """Stop rendering, leave the clock, leave the last frame in the page, close the widget."""
        if self._closed:
            return
        self._freeze()
        self._leave_clock()
        self._close_surface()

    @owned
    def to_svg(self) -> str:
        """The chart as it stands now, drawn up to date, as self-contained SVG.

        A following plot spans its whole ``window``; a zoomed one, its zoom.

        What a closed plot leaves in the page and what exports and pages with no
        widget manager show: no plotly.js, no network, a few tens of KB.
        """
        self._catch_up()
        note = f"{self.source.channel}: static snapshot ({self.view_mode})"
        title = self.figure.layout.title.text
        if self._chart is not None:
            return self._chart.to_svg(
                title=str(title) if title else None, height=self.figure.layout.height, note=note
            )
        rows = [self._row_label(ycol, facet) for ycol, facet in self._rows]
        axis_rows = {"y" if i == 0 else f"y{i + 1}": i for i in range(max(len(rows), 1))}
        traces = [
            SnapshotTrace(
                name=str(trace.name),
                colour=str(trace.line.color),
                row=axis_rows.get(trace.yaxis or "y", 0),
                x=np.asarray(trace.x if trace.x is not None else (), dtype=float),
                y=np.asarray(trace.y if trace.y is not None else (), dtype=float),
                show_legend=trace.showlegend is not False,
            )
            for trace in self.figure.data
        ]
        xrange = self.figure.layout.xaxis.range
        x_range = (float(xrange[0]), float(xrange[1])) if xrange else None
        if x_range is not None and self._zoom is None and self.window is not None:
            # Following: the snapshot spans the view's whole window (as the live view
            # does once a window's worth has arrived), not only what arrived so far.
            x_range = (x_range[1] - self.window, x_range[1])
        return plot_svg(
            traces,
            rows=rows or self.ys[:1],
            x_range=x_range,
            time_axis=self._time_axis,
            title=str(title) if title else None,
            mode=self.mode,
            height=self.figure.layout.height,
            note=note,
        )

    @owned
    def to_html(self) -> str:
        """The chart as self-contained HTML (its :meth:`to_svg` in a div)."""
        return f"<div class='nnb-plot'>{self.to_svg()}</div>"

    def __repr__(self) -> str:
        state = "closed" if self._closed else self.view_mode
        kind = "" if self._chart is None else f" kind={self.kind}"
        return (
            f"<LivePlot {self.source.channel!r}{kind} y={self.ys} "
            f"traces={len(self.figure.data)} {state}>"
        )
