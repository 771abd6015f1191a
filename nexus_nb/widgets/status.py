"""A status bar: connection state, per-channel rates and counts, render rates."""

from __future__ import annotations

import enum
import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.display import Displayable
from nexus_nb.widgets.htmlpart import HtmlPart
from nexus_nb.widgets.owner import owned
from nexus_nb.widgets.surface import Part
from nexus_nb.widgets.view import LiveView

__all__ = [
    "ChannelStatus",
    "StatusBar",
    "StatusBarState",
    "StatusSnapshot",
    "SupportsStatus",
    "render_status",
]


class StatusBarState(enum.StrEnum):
    """The connection states the status bar colours, as the strings it is given.

    Not :class:`nexus_nb.client.State`: widgets and client are sibling layers, so
    a view never imports the client. The session adapts a client to a
    :class:`StatusSnapshot` with ``state=client.state.value``; each value here is
    one of the client's (a test keeps them in step), and a state the bar does not
    colour (``closing``) is shown as given, in grey.
    """

    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


# Mid-tone colours, legible on JupyterLab's light and dark themes alike.
_STATE_COLOUR = {
    StatusBarState.CONNECTING: "#c99400",
    StatusBarState.OPEN: "#2f9e5a",
    StatusBarState.RECONNECTING: "#e0701b",
    StatusBarState.CLOSED: "#d64550",
}
_OTHER_STATE_COLOUR = "#8a8a8a"
_ALERT = "color:#d64550"
_MUTED = "color:var(--jp-ui-font-color2,#808080)"
_BORDER = "var(--jp-border-color2,rgba(128,128,128,0.35))"
_BOX = (
    "font:12px/1.5 var(--jp-ui-font-family,system-ui,sans-serif);"
    "color:var(--jp-ui-font-color1,inherit);font-variant-numeric:tabular-nums"
)
_ITEM = "white-space:nowrap"
_CELL = "padding:0 8px;white-space:nowrap;text-align:right"
_NAME_CELL = "padding:0 8px 0 0;white-space:nowrap;text-align:left"
_COLUMNS = ("ev/s", "rows", "dropped", "evicted")


@dataclass(frozen=True)
class ChannelStatus:
    """What one subscribed channel is doing.

    Attributes:
        rate: Events per second received recently.
        rows: Rows held in the channel's buffer.
        dropped: Events dropped before buffering (e.g. a full queue).
        overflowed: Rows evicted from the buffer because it was full.
    """

    rate: float
    rows: int
    dropped: int = 0
    overflowed: int = 0


@dataclass(frozen=True)
class StatusSnapshot:
    """One moment of a session's state, as the status bar shows it.

    Attributes:
        state: A :class:`StatusBarState` value; other strings are shown as given.
        detail: Free text: the URL while connecting, the close reason when closed.
        channels: Per-channel figures, by channel name.
        reconnects: Reconnections so far.
        last_error: The last error's text, if any.
        retry_in: Seconds until the next reconnection attempt, while reconnecting.
    """

    state: str
    detail: str = ""
    channels: Mapping[str, ChannelStatus] = field(default_factory=dict)
    reconnects: int = 0
    last_error: str | None = None
    retry_in: float | None = None


class SupportsStatus(Protocol):
    """Anything with a ``status()`` method, such as a session's stream."""

    def status(self) -> StatusSnapshot:
        """The current state."""
        ...


def render_status(
    snapshot: StatusSnapshot, *, frame_rate: float | None = None, message_rate: float | None = None
) -> str:
    """Return the status bar's HTML for ``snapshot``; every value is escaped.

    A header line holds the connection state (with its coloured dot), reconnects,
    the render rates and the last error; under it a compact table has one row per
    channel (events per second, rows buffered, events dropped, rows evicted),
    numbers right-aligned in tabular figures. Self-contained: no script, no
    stylesheet, theme colours through JupyterLab's CSS variables with fallbacks.

    Args:
        snapshot: The state to show.
        frame_rate: Rendered frames per second, if known.
        message_rate: Widget messages per second, if known.
    """
    items = [_headline(snapshot)]
    if snapshot.reconnects:
        items.append(f"<span style='{_MUTED}'>reconnects</span> {snapshot.reconnects:,}")
    if frame_rate is not None and message_rate is not None:
        items.append(
            f"<span style='{_MUTED}'>render</span> {frame_rate:.1f} fps, {message_rate:.0f} msg/s"
        )
    header = "".join(f"<span style='{_ITEM}'>{item}</span>" for item in items)
    parts = [f"<div style='display:flex;flex-wrap:wrap;gap:0 14px'>{header}</div>"]
    if snapshot.last_error:
        error = html.escape(snapshot.last_error)
        parts.append(f"<div style='{_ALERT};overflow-wrap:anywhere'>last error: {error}</div>")
    if snapshot.channels:
        parts.append(_channel_table(snapshot.channels))
    return f"<div class='nnb-status' style='{_BOX}'>{''.join(parts)}</div>"


def _headline(snapshot: StatusSnapshot) -> str:
    """The state word after its coloured dot, with the retry time and detail."""
    state = str(snapshot.state)
    colour = _STATE_COLOUR.get(state, _OTHER_STATE_COLOUR)  # type: ignore[call-overload]
    headline = f"<b>{html.escape(state)}</b>"
    if state == StatusBarState.RECONNECTING and snapshot.retry_in is not None:
        headline += f" (next retry in {snapshot.retry_in:.1f} s)"
    if snapshot.detail:
        label = "reason" if state == StatusBarState.CLOSED else "detail"
        headline += (
            f" <span style='{_MUTED}'>&middot; {label}:</span> {html.escape(snapshot.detail)}"
        )
    return f"<span style='color:{colour}'>&#9679;</span> {headline}"


def _channel_table(channels: Mapping[str, ChannelStatus]) -> str:
    """One row per channel; zero drops and evictions faint, non-zero drops in red."""
    line = f"border-bottom:1px solid {_BORDER}"
    head = f"<th style='{_NAME_CELL};{_MUTED};font-weight:normal;{line}'>channel</th>" + "".join(
        f"<th style='{_CELL};{_MUTED};font-weight:normal;{line}'>{name}</th>" for name in _COLUMNS
    )
    rows = []
    for name, ch in channels.items():
        cells = [
            f"<td style='{_NAME_CELL}'><code>{html.escape(name)}</code></td>",
            f"<td style='{_CELL}'>{ch.rate:,.0f}</td>",
            f"<td style='{_CELL}'>{ch.rows:,}</td>",
            _count_cell(ch.dropped, _ALERT + ";font-weight:bold"),
            _count_cell(ch.overflowed, ""),
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        # Layout and margins set here: an export's stylesheet gives tables a fixed
        # layout and centres them.
        "<table style='border-collapse:collapse;table-layout:auto;margin:2px 0 0 0;"
        "font-size:12px;border:none'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _count_cell(count: int, style: str) -> str:
    if not count:
        return f"<td style='{_CELL};opacity:0.45'>0</td>"
    return f"<td style='{_CELL};{style}'>{count:,}</td>"


class StatusBar(LiveView, Displayable):
    """A live status of a session, redrawn ``fps`` times a second at most.

    A header line (connection state, reconnects, render rates, last error) over
    one compact row per channel; see :func:`render_status`.

    The connection part comes from ``snapshot()`` (the session adapts its client
    to :class:`StatusSnapshot`); render frames and widget messages per second come
    from the frame clock. Nothing is sent when the text is unchanged.

    Args:
        snapshot: Returns the current state; called once per frame. An object
            with a ``status()`` method (a :class:`~nexus_nb.Stream`) is taken too.
        fps: Redraws per second, at most.
        clock: The frame clock; default the running loop's shared clock.

    Raises:
        ValueError: If ``fps`` is not positive.
    """

    def __init__(
        self,
        snapshot: Callable[[], StatusSnapshot] | SupportsStatus,
        *,
        fps: float = 2.0,
        clock: FrameClock | None = None,
    ) -> None:
        if not fps > 0:
            raise ValueError("fps must be positive")
        self.snapshot: Callable[[], StatusSnapshot] = (
            snapshot.status if hasattr(snapshot, "status") else snapshot
        )
        super().__init__(fps=fps, clock=clock)
        #: The bar's block in its surface (or in a dashboard's).
        self.part = HtmlPart(meter=self.meter)
        self._join_clock()

    def _parts(self) -> list[Part]:
        return [self.part]

    def pending(self) -> bool:
        """Whether the clock should redraw: open and shown (the snapshot always may change).

        A bar whose widget was closed directly (``bar.widget.close()``) closes.
        """
        if not self._closed and self._surface is not None and self._surface.comm is None:
            self.close()
        return not (self._closed or self._paused) and self.part.shown

    @owned
    def render(self) -> None:
        """Redraw from a fresh snapshot now; exceptions from ``snapshot`` propagate.

        Nothing is sent when the text is unchanged.
        """
        clock = self.clock
        rates: dict[str, float | None] = {"frame_rate": None, "message_rate": None}
        if clock is not None:
            rates = {"frame_rate": clock.frame_rate(), "message_rate": clock.message_rate()}
        self.part.show(render_status(self.snapshot(), **rates))

    def show_error(self, error: BaseException | None) -> None:
        """Show why the snapshot failed until a redraw succeeds."""
        if error is not None:
            text = html.escape(f"{type(error).__name__}: {error}")
            self.part.show(f"<span style='{_ALERT}'>status failed: {text}</span>")

    @owned
    def close(self) -> None:
        """Stop redrawing, leave the last frame in the page, leave the clock, close the widget."""
        self._freeze()
        self._leave_clock()
        self._close_surface()

    @owned
    def to_html(self) -> str:
        """The status bar's last frame as HTML (drawn now if none was yet)."""
        if not self.part.html:
            self._catch_up()
        return self.part.html

    def __repr__(self) -> str:
        return f"<StatusBar fps={self._fps:g}>"
