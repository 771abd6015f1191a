"""A status bar: connection state, per-channel rates and counts, render rates."""

from __future__ import annotations

import enum
import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from nexus_nb.widgets.clock import FrameClock
from nexus_nb.widgets.display import Displayable
from nexus_nb.widgets.meter import MeteredHTML
from nexus_nb.widgets.owner import owned
from nexus_nb.widgets.view import LiveView, ViewCount

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


_STATE_COLOUR = {
    StatusBarState.CONNECTING: "#b58100",
    StatusBarState.OPEN: "#146c43",
    StatusBarState.RECONNECTING: "#c05600",
    StatusBarState.CLOSED: "#b02a37",
}


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

    Args:
        snapshot: The state to show.
        frame_rate: Rendered frames per second, if known.
        message_rate: Widget messages per second, if known.
    """
    state = str(snapshot.state)
    colour = _STATE_COLOUR.get(state, "#444")  # type: ignore[call-overload]
    headline = html.escape(state)
    if state == StatusBarState.RECONNECTING and snapshot.retry_in is not None:
        headline += f" (next retry in {snapshot.retry_in:.1f} s)"
    if snapshot.detail:
        label = "reason" if state == StatusBarState.CLOSED else "detail"
        headline += f" &middot; {label}: {html.escape(snapshot.detail)}"
    parts = [f"<b style='color:{colour}'>&#9679; {headline}</b>"]
    if snapshot.reconnects:
        parts.append(f"reconnects {snapshot.reconnects}")
    for name, ch in snapshot.channels.items():
        counts = f"{ch.rate:,.0f} ev/s, {ch.rows:,} rows"
        if ch.dropped:
            counts += f", <span style='color:#b02a37'>{ch.dropped:,} dropped</span>"
        if ch.overflowed:
            counts += f", {ch.overflowed:,} overflowed"
        parts.append(f"<code>{html.escape(name)}</code> {counts}")
    if frame_rate is not None and message_rate is not None:
        parts.append(f"render {frame_rate:.1f} fps, {message_rate:.0f} msg/s")
    text = " | ".join(parts)
    if snapshot.last_error:
        error = html.escape(snapshot.last_error)
        text += f"<br><span style='color:#b02a37'>last error: {error}</span>"
    return f"<div style='font:12px var(--jp-ui-font-family,sans-serif)'>{text}</div>"


class StatusBar(LiveView, Displayable):
    """A one-line live status of a session, redrawn ``fps`` times a second at most.

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
        self.widget = MeteredHTML(value="")
        self.widget._nnb_meter = self.meter
        self._views: ViewCount = ViewCount(self.widget)
        self._join_clock()

    def pending(self) -> bool:
        """Whether the clock should redraw: open and shown (the snapshot always may change)."""
        if not self._closed and self.widget.comm is None:
            self.close()  # The widget was closed directly.
        return not (self._closed or self._paused) and self._views.shown

    @owned
    def render(self) -> None:
        """Redraw from a fresh snapshot now; exceptions from ``snapshot`` propagate."""
        clock = self.clock
        rates: dict[str, float | None] = {"frame_rate": None, "message_rate": None}
        if clock is not None:
            rates = {"frame_rate": clock.frame_rate(), "message_rate": clock.message_rate()}
        self.widget.value = render_status(self.snapshot(), **rates)

    def show_error(self, error: BaseException | None) -> None:
        """Show why the snapshot failed until a redraw succeeds."""
        if error is not None:
            text = html.escape(f"{type(error).__name__}: {error}")
            self.widget.value = f"<span style='color:#b00020'>status failed: {text}</span>"

    @owned
    def close(self) -> None:
        """Stop redrawing, leave the clock and close the widget."""
        self._freeze()
        self._leave_clock()
        self.widget.close()

    @owned
    def to_html(self) -> str:
        """The status line's last frame as HTML (drawn now if none was yet)."""
        if not self.widget.value:
            self._catch_up()
        return str(self.widget.value)

    def __repr__(self) -> str:
        return f"<StatusBar fps={self._fps:g}>"
