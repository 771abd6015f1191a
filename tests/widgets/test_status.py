"""StatusBar: the text for each connection state, rates from the clock."""

from __future__ import annotations

import pytest

from nexus_nb.client import State
from nexus_nb.widgets import ChannelStatus, FrameClock, StatusBar, StatusSnapshot
from nexus_nb.widgets.status import StatusBarState, render_status
from nexus_nb.widgets.testing import record_messages


def test_every_state_the_bar_colours_is_a_client_state_value() -> None:
    # The bar's enum is its own (widgets may not import the client), so a renamed
    # client state would silently lose its colour without this check.
    assert {state.value for state in StatusBarState} <= {state.value for state in State}


def test_connecting_shows_the_state_and_detail() -> None:
    text = render_status(StatusSnapshot(state="connecting", detail="ws://127.0.0.1:8080"))
    assert "connecting" in text
    assert "ws://127.0.0.1:8080" in text


def test_open_shows_rate_rows_and_drops_per_channel() -> None:
    snap = StatusSnapshot(
        state=StatusBarState.OPEN,
        channels={
            "telemetry.metrics": ChannelStatus(rate=1234.4, rows=50_000, dropped=3, overflowed=7),
            "system.alerts": ChannelStatus(rate=0.0, rows=2),
        },
    )
    text = render_status(snap, frame_rate=9.5, message_rate=38.0)
    assert "open" in text
    assert "<code>telemetry.metrics</code> 1,234 ev/s, 50,000 rows" in text
    assert "3 dropped" in text
    assert "7 overflowed" in text
    assert "<code>system.alerts</code> 0 ev/s, 2 rows</" not in text  # no zero counts shown
    assert "render 9.5 fps, 38 msg/s" in text


def test_reconnecting_shows_when_the_next_retry_is() -> None:
    snap = StatusSnapshot(state="reconnecting", retry_in=2.5, reconnects=3, last_error="refused")
    text = render_status(snap)
    assert "reconnecting (next retry in 2.5 s)" in text
    assert "reconnects 3" in text
    assert "last error: refused" in text


def test_closed_shows_the_reason_escaped() -> None:
    text = render_status(StatusSnapshot(state="closed", detail="<b>policy</b> 1008"))
    assert "closed" in text
    assert "reason: &lt;b&gt;policy&lt;/b&gt; 1008" in text


def test_the_bar_renders_only_when_the_text_changes_and_takes_rates_from_the_clock() -> None:
    snaps = [StatusSnapshot(state="open"), StatusSnapshot(state="open"), StatusSnapshot("closed")]
    clock = FrameClock()
    bar = StatusBar(lambda: snaps[0], clock=clock)
    rec = record_messages(bar.widget)
    bar.render()
    bar.render()
    assert len(rec.messages) == 1
    assert "render 0.0 fps, 0 msg/s" in bar.widget.value
    snaps.pop(0)
    snaps.pop(0)
    bar.render()
    assert len(rec.messages) == 2
    assert "closed" in bar.widget.value


def test_a_failing_snapshot_is_shown_by_the_clock() -> None:
    def broken() -> StatusSnapshot:
        raise KeyError("client gone")

    clock = FrameClock()
    bar = StatusBar(broken, clock=clock)
    bar.widget.set_state({"_view_count": 1})
    clock.tick(now=1.0)
    assert "status failed: KeyError" in bar.widget.value
    assert "text/html" in bar._repr_mimebundle_()


def test_a_non_positive_fps_is_rejected() -> None:
    with pytest.raises(ValueError, match="fps"):
        StatusBar(lambda: StatusSnapshot("open"), fps=0)
