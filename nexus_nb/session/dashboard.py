"""One call that lays out a whole live view of a stream: status, controls, plots, tables."""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from nexus_nb.protocol import CHANNELS
from nexus_nb.session.base import BaseStream
from nexus_nb.widgets import ChannelControls, FrameClock, LivePlot, LiveTable, StatusBar
from nexus_nb.widgets.display import Displayable
from nexus_nb.widgets.owner import owned
from nexus_nb.widgets.surface import Part
from nexus_nb.widgets.view import LiveView

__all__ = ["PLOTS", "TABLES", "Dashboard"]

#: What to plot per metric-like channel: keyword arguments for :class:`LivePlot`.
PLOTS: Mapping[str, Mapping[str, Any]] = {
    "telemetry.metrics": {"y": "value", "color": "source", "facet": "metric_name"},
    "ai.requests": {"y": "latency_ms", "color": "model"},
}
#: Channels shown as tables of their latest events.
TABLES: Sequence[str] = ("system.alerts", "tasks.updates")


class Dashboard(Displayable):
    """Status bar, channel controls, a plot per metric channel and alert/task tables.

    Built from the stream's buffered channels (subscribe first): a
    :class:`~nexus_nb.widgets.LivePlot` for each channel in :data:`PLOTS`, a
    :class:`~nexus_nb.widgets.LiveTable` for each in :data:`TABLES`. Ticking a
    channel in the controls re-subscribes on the live connection at once
    (:meth:`Stream.resubscribe`, started on the stream's reader thread so the
    views never wait on the network), a filter when Enter is pressed; the controls
    follow the live subscriptions (a ``resubscribe`` from code shows there within
    a frame), and a plot or table whose channel is no longer subscribed says so
    (it keeps showing what was buffered). Views of channels subscribed later
    appear when the dashboard is built again.

    The whole dashboard is one widget (one
    :class:`~nexus_nb.widgets.surface.Surface`) drawing every view's part; the
    views never build widgets of their own.

    Args:
        stream: The stream to show.
        window: Time window of the plots (``"5min"``, or seconds).
        rows: Rows per table.
        fps: Frame-rate cap of each plot and table. The page's cost is paid per
            frame (tens of milliseconds of a core per plot frame with software
            rendering: see the docs' performance page), so the default keeps a
            dashboard light on a laptop without a GPU; raise it for smoother
            scrolling. ``None`` uses the frame clock's.
        channels: Channels offered in the controls (default: the seven reference
            channels plus any the stream buffers).
        clock: The frame clock of every view (default: the shared one in a kernel).
    """

    def __init__(
        self,
        stream: BaseStream,
        *,
        window: str | float = "5min",
        rows: int = 12,
        fps: float | None = 1.0,
        channels: Sequence[str] | None = None,
        clock: FrameClock | None = None,
    ) -> None:
        self.clock = clock
        self.stream = stream
        offered = list(channels or dict.fromkeys([*CHANNELS, *stream.channels]))
        self.status = StatusBar(stream, clock=clock)
        self.controls = ChannelControls(
            offered,
            selected=_selection(stream),
            on_change=stream.submit_resubscribe,
            live=True,
            title="Channels",
            clock=clock,
        )
        self.plots = [
            LivePlot(stream[ch], window=window, title=ch, fps=fps, clock=clock, **options)
            for ch, options in PLOTS.items()
            if ch in stream
        ]
        self.tables = [
            LiveTable(stream[ch], rows=rows, fps=fps, clock=clock) for ch in TABLES if ch in stream
        ]
        self._follow = _Follow(self, clock)

    def _parts(self) -> list[Part]:
        return [
            self.status.part,
            self.controls.part,
            *(plot.part for plot in self.plots),
            *(table.part for table in self.tables),
        ]

    @owned
    def close(self) -> None:
        """Stop every view, leave the last frame in the page, close the widget.

        The stream keeps running.
        """
        if self._closed:
            return
        self._freeze()
        self._closed = True
        self.status.close()
        self._follow.close()
        self.controls.close()
        for plot in self.plots:
            plot.close()
        for table in self.tables:
            table.close()
        self._close_surface()

    def _widget_closed(self) -> bool:
        """Whether the widget was built and then closed directly (``dashboard.widget.close()``)."""
        return self._surface is not None and self._surface.comm is None

    @owned
    def to_html(self) -> str:
        """The dashboard as self-contained HTML: the status line, each plot and each table."""
        parts = [self.status.to_html()]
        parts += [plot.to_html() for plot in self.plots]
        parts += [table.to_html() for table in self.tables]
        return "\n".join(str(part) for part in parts)

    def __repr__(self) -> str:
        return (
            f"<Dashboard {self.stream.client.url} plots={len(self.plots)} "
            f"tables={len(self.tables)}>"
        )


class _Follow(LiveView):
    """Keeps a dashboard in step with the client's live subscriptions, on the frame clock.

    The controls show them, and each plot and table says whether its channel is
    still subscribed. It also closes the dashboard whose widget was closed
    directly (its views have no widget of their own to notice it by).
    """

    def __init__(self, dashboard: Dashboard, clock: FrameClock | None) -> None:
        super().__init__(fps=2.0, clock=clock)
        # Weak: the clock holds this, and must not keep a forgotten dashboard alive.
        self._dashboard = weakref.ref(dashboard)
        self.stream = dashboard.stream
        self.controls = dashboard.controls
        self._shown = _selection(self.stream)
        self._mark(dashboard)
        self._join_clock()

    def pending(self) -> bool:
        dashboard = self._dashboard()
        if dashboard is not None and not dashboard._closed and dashboard._widget_closed():
            dashboard.close()
        return not self._closed and _selection(self.stream) != self._shown

    def render(self) -> None:
        self._shown = _selection(self.stream)
        self.controls.sync(self._shown)
        dashboard = self._dashboard()
        if dashboard is not None:
            self._mark(dashboard)

    def _mark(self, dashboard: Dashboard) -> None:
        subscribed = self.stream.subscriptions
        views: list[LivePlot | LiveTable] = [*dashboard.plots, *dashboard.tables]
        for view in views:
            view.mark_unsubscribed(view.source.channel not in subscribed)

    def show_error(self, error: BaseException | None) -> None:
        if error is not None:
            self.controls.part.update(
                message=f"could not show the subscriptions: {error}", failed=True
            )

    def close(self) -> None:
        self._leave_clock()


def _selection(stream: BaseStream) -> dict[str, Mapping[str, Any] | None]:
    return {ch: _last(filters) for ch, filters in stream.subscriptions.items()}


def _last(filters: Sequence[Mapping[str, Any] | None]) -> Mapping[str, Any] | None:
    # The controls edit one filter per channel: show the most recent one asked for.
    return filters[-1] if filters else None
