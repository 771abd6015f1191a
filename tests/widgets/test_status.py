"""StatusBar: the text for each connection state, rates from the clock."""

from __future__ import annotations

import re

import pytest

from nexus_nb.client import State
from nexus_nb.widgets import ChannelStatus, FrameClock, StatusBar, StatusSnapshot
from nexus_nb.widgets.status import StatusBarState, render_status
from nexus_nb.widgets.testing import record_messages


def _text(markup: str) -> str:
    return re.sub(r"<[^>]+>", "", markup).replace("&middot;", "·")


def _rows(markup: str) -> dict[str, list[str]]:
    """The channel table's body rows as cell texts, by channel name."""
    body = re.search(r"<tbody>(.*)</tbody>", markup)
    assert body is not None, markup
    rows = [
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body[1])
    ]
    return {_text(cells[0]): [_text(c) for c in cells[1:]] for cells in rows}


def test_every_state_the_bar_colours_is_a_client_state_value() -> None:
    # The bar's enum is its own (widgets may not import the client), so a renamed
    # client state would silently lose its colour without this check.
    assert {state.value for state in StatusBarState} <= {state.value for state in State}


def test_connecting_shows_the_state_and_detail() -> None:
    text = render_status(StatusSnapshot(state="connecting", detail="ws://127.0.0.1:8080"))
    assert "connecting" in text
    assert "ws://127.0.0.1:8080" in text


def test_open_shows_rate_rows_dropped_and_evicted_in_a_row_per_channel() -> None:
    snap = StatusSnapshot(
        state=StatusBarState.OPEN,
        channels={
            "telemetry.metrics": ChannelStatus(rate=1234.4, rows=50_000, dropped=3, overflowed=7),
            "system.alerts": ChannelStatus(rate=0.0, rows=2),
        },
    )
    text = render_status(snap, frame_rate=9.5, message_rate=38.0)
    assert "<b>open</b>" in text
    header = re.findall(r"<th style='[^']*'>(.*?)</th>", text)
    assert header == ["channel", "ev/s", "rows", "dropped", "evicted"]
    assert _rows(text) == {
        "telemetry.metrics": ["1,234", "50,000", "3", "7"],
        "system.alerts": ["0", "2", "0", "0"],
    }
    # A drop is shouted in red; zero drops and evictions are faint, not alarming.
    assert "font-weight:bold'>3</td>" in text
    assert text.count("opacity:0.45'>0</td>") == 2
    assert "render 9.5 fps, 38 msg/s" in _text(text)


def test_the_channel_rows_do_not_wrap_and_align_their_numbers() -> None:
    snap = StatusSnapshot(state="open", channels={"ai.requests": ChannelStatus(rate=5, rows=9)})
    text = render_status(snap)
    assert "font-variant-numeric:tabular-nums" in text
    cells = re.findall(r"<t[dh] style='([^']*)'", text)
    assert cells
    assert all("white-space:nowrap" in style for style in cells)
    assert sum("text-align:right" in style for style in cells) == 8  # every number column


def test_the_bar_is_self_contained_and_follows_the_theme() -> None:
    snap = StatusSnapshot(state="open", channels={"a": ChannelStatus(rate=1, rows=1)})
    text = render_status(snap, frame_rate=1.0, message_rate=1.0)
    for markup in ("<script", "<link", "<style", "http"):
        assert markup not in text
    assert "var(--jp-ui-font-color1" in text
    assert "var(--jp-border-color2" in text


def test_no_channel_table_is_drawn_without_channels() -> None:
    assert "<table" not in render_status(StatusSnapshot(state="connecting"))


def test_reconnecting_shows_when_the_next_retry_is() -> None:
    snap = StatusSnapshot(state="reconnecting", retry_in=2.5, reconnects=3, last_error="refused")
    text = render_status(snap)
    assert "reconnecting (next retry in 2.5 s)" in _text(text)
    assert "reconnects 3" in _text(text)
    assert "last error: refused" in text


def test_closed_shows_the_reason_escaped() -> None:
    text = render_status(StatusSnapshot(state="closed", detail="<b>policy</b> 1008"))
    assert "closed" in text
    assert "reason: &lt;b&gt;policy&lt;/b&gt; 1008" in _text(text)


def test_the_bar_renders_only_when_the_text_changes_and_takes_rates_from_the_clock() -> None:
    snaps = [StatusSnapshot(state="open"), StatusSnapshot(state="open"), StatusSnapshot("closed")]
    clock = FrameClock()
    bar = StatusBar(lambda: snaps[0], clock=clock)
    rec = record_messages(bar)
    bar.render()
    bar.render()
    assert len(rec.frames) == 1
    assert "render 0.0 fps, 0 msg/s" in _text(bar.part.html)
    snaps.pop(0)
    snaps.pop(0)
    bar.render()
    assert len(rec.frames) == 2
    frame, _ = rec.frames[-1]
    assert "closed" in frame["html"]
    assert bar.messages_sent == 2


def test_the_clock_redraws_the_bar_only_once_it_is_displayed() -> None:
    clock = FrameClock()
    bar = StatusBar(lambda: StatusSnapshot("open"), clock=clock)
    assert clock.tick(now=1.0) == 0
    record_messages(bar)
    assert clock.tick(now=2.0) == 1
    assert "open" in bar.part.html


def test_a_failing_snapshot_is_shown_by_the_clock() -> None:
    def broken() -> StatusSnapshot:
        raise KeyError("client gone")

    clock = FrameClock()
    bar = StatusBar(broken, clock=clock)
    rec = record_messages(bar)
    clock.tick(now=1.0)
    assert "status failed: KeyError" in bar.part.html
    assert "status failed: KeyError" in rec.frames[-1][0]["html"]
    assert "text/html" in bar._repr_mimebundle_()


def test_the_static_fallback_draws_a_frame_if_none_was_drawn() -> None:
    bar = StatusBar(lambda: StatusSnapshot("connecting", detail="ws://x"))
    assert "connecting" in bar.to_html()
    assert bar.to_html() == bar.part.html


def test_a_bar_whose_widget_is_closed_directly_closes_and_leaves_the_clock() -> None:
    clock = FrameClock()
    bar = StatusBar(lambda: StatusSnapshot("open"), clock=clock)
    record_messages(bar)
    bar.widget.close()
    assert not bar.pending()
    assert clock.views == 0


def test_a_non_positive_fps_is_rejected() -> None:
    with pytest.raises(ValueError, match="fps"):
        StatusBar(lambda: StatusSnapshot("open"), fps=0)
