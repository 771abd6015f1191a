"""One call that lays out a whole live view of a stream: status, controls, plots, tables."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets

from nexus_nb.protocol import CHANNELS
from nexus_nb.session.base import BaseStream
from nexus_nb.widgets import ChannelControls, FrameClock, LivePlot, LiveTable, StatusBar
from nexus_nb.widgets.display import Displayable
from nexus_nb.widgets.owner import owned
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
    a frame). Views of channels subscribed later appear when the dashboard is
    built again.

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
            clock=clock,
        )
        self._follow = _Follow(stream, self.controls, clock)
        self.plots = [
            LivePlot(stream[ch], window=window, title=ch, fps=fps, clock=clock, **options)
            for ch, options in PLOTS.items()
            if ch in stream
        ]
        self.tables = [
            LiveTable(stream[ch], rows=rows, fps=fps, clock=clock) for ch in TABLES if ch in stream
        ]
        self.widget = ipywidgets.VBox(
            [
                self.status.widget,
                ipywidgets.Accordion(children=[self.controls.widget], titles=("Channels",)),
                *(plot.widget for plot in self.plots),
                *(table.widget for table in self.tables),
            ]
        )

    @owned
    def close(self) -> None:
        """Stop every view, leave the last frame in the page, close the widgets.

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
        self.widget.close()

    def _displayed(self) -> None:
        views: list[LiveView] = [self.status, *self.plots, *self.tables]
        for view in views:
            view._displayed()

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
    """Keeps the controls showing the client's live subscriptions, on the frame clock."""

    def __init__(
        self, stream: BaseStream, controls: ChannelControls, clock: FrameClock | None
    ) -> None:
        super().__init__(fps=2.0, clock=clock)
        self.stream = stream
        self.controls = controls
        self._shown = _selection(stream)
        self._join_clock()

    def pending(self) -> bool:
        return not self._closed and _selection(self.stream) != self._shown

    def render(self) -> None:
        self._shown = _selection(self.stream)
        self.controls.sync(self._shown)

    def show_error(self, error: BaseException | None) -> None:
        if error is not None:
            self.controls.message.value = html.escape(f"could not show the subscriptions: {error}")

    def close(self) -> None:
        self._leave_clock()


def _selection(stream: BaseStream) -> dict[str, Mapping[str, Any] | None]:
    return {ch: _last(filters) for ch, filters in stream.subscriptions.items()}


def _last(filters: Sequence[Mapping[str, Any] | None]) -> Mapping[str, Any] | None:
    # The controls edit one filter per channel: show the most recent one asked for.
    return filters[-1] if filters else None
