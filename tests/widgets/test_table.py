"""LiveTable: newest first, highlighting, escaping, bounded reads."""

from __future__ import annotations

import re

import pytest

from nexus_nb.widgets import FrameClock, LiveTable
from nexus_nb.widgets.table import MAX_CELL_WIDTH, PRIORITY_STYLE, SEVERITY_STYLE, STATUS_STYLE
from nexus_nb.widgets.testing import MemorySource, record_messages

T0 = 1_700_000_000_000_000_000


def _alerts(*rows: tuple[str, str]) -> MemorySource:
    src = MemorySource("system.alerts")
    src.append(
        {
            "timestamp": [T0 + i * 1_000_000 for i in range(len(rows))],
            "severity": [r[0] for r in rows],
            "message": [r[1] for r in rows],
        }
    )
    return src


def test_the_table_shows_the_newest_rows_first_and_only_the_last_n() -> None:
    src = _alerts(*[("info", f"m{i}") for i in range(30)])
    table = LiveTable(src, rows=5)
    table.render()
    html = table.part.html
    positions = [html.index(f">m{i}<") for i in (29, 28, 27, 26, 25)]
    assert positions == sorted(positions)
    assert ">m24<" not in html
    assert "2023-11-14 22:13:20.029Z" in html


def test_alert_rows_are_highlighted_by_severity() -> None:
    src = _alerts(("critical", "disk"), ("warning", "cpu"), ("weird", "x"))
    table = LiveTable(src)
    table.render()
    html = table.part.html
    assert f"style='{SEVERITY_STYLE['critical']}' data-severity='critical'" in html
    assert f"style='{SEVERITY_STYLE['warning']}' data-severity='warning'" in html
    assert "style='' data-severity='weird'" in html


def test_task_cells_are_highlighted_by_priority_and_status() -> None:
    src = MemorySource("tasks.updates")
    src.append(
        {
            "timestamp": [T0, T0 + 1],
            "priority": ["critical", "low"],
            "status": ["failed", "running"],
        }
    )
    table = LiveTable(src)
    table.render()
    html = table.part.html
    for style in (PRIORITY_STYLE["critical"], PRIORITY_STYLE["low"]):
        assert f";{style}'>" in html
    for style in (STATUS_STYLE["failed"], STATUS_STYLE["running"]):
        assert f";{style}'>" in html


def test_event_data_cannot_inject_markup() -> None:
    payload = "<img src=x onerror=alert(1)>"
    src = MemorySource("system.alerts<script>")
    src.append(
        {
            "timestamp": [T0],
            "severity": ["critical' onmouseover='alert(1)"],
            payload: [payload],
        }
    )
    table = LiveTable(src)
    table.render()
    html = table.part.html
    assert "<img" not in html
    assert "<script>" not in html
    assert "onmouseover='" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_an_unchanged_source_sends_nothing() -> None:
    src = _alerts(("info", "a"))
    table = LiveTable(src)
    rec = record_messages(table)
    table.render()
    assert len(rec.frames) == 1
    table.render()
    assert len(rec.frames) == 1


def test_the_clock_skips_a_table_that_is_not_displayed_or_paused() -> None:
    src = _alerts(("info", "a"))
    clock = FrameClock()
    table = LiveTable(src, clock=clock)
    assert clock.tick(now=1.0) == 0
    record_messages(table)
    table.pause()
    assert clock.tick(now=2.0) == 0
    table.resume()
    assert clock.tick(now=3.0) == 1
    assert ">a<" in table.part.html


def test_the_static_fallback_is_the_table_html() -> None:
    src = _alerts(("info", "a"))
    table = LiveTable(src, columns=["message"])
    table.render()
    bundle = table._repr_mimebundle_()
    assert bundle["text/html"] == table.part.html
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert repr(table) == "<LiveTable 'system.alerts' rows=20>"


def test_rows_outside_one_to_a_thousand_are_rejected() -> None:
    with pytest.raises(ValueError, match="rows"):
        LiveTable(MemorySource(), rows=0)


def test_long_cells_are_clipped_to_their_column_so_columns_never_overlap() -> None:
    long = "disk_usage on server-03 is 97.5 % " * 20
    src = _alerts(("critical", long), ("info", "short"))
    table = LiveTable(src)
    table.render()
    html = table.part.html
    # An export's stylesheet fixes the table layout (equal columns, text spilling
    # over); the table overrides it and every cell clips its own text.
    table_style = re.search(r"<table style='([^']*)'", html)
    assert table_style is not None
    assert "table-layout:auto" in table_style[1]
    cells = re.findall(r"<t[dh] (?:title='[^']*' )?style='([^']*)'>(<div style='([^']*)'>)?", html)
    assert len(cells) == 3 * 3
    for cell, div, clip in cells:
        assert "overflow:hidden" in cell
        assert div, "a cell without its clipping box"
        for rule in (f"max-width:{MAX_CELL_WIDTH}", "text-overflow:ellipsis", "white-space:nowrap"):
            assert rule in clip
    # The whole value is still there, and in the tooltip.
    assert f"title='{long}'" in html
    # A table wider than the page scrolls in its own box.
    assert html.startswith("<div class='nnb-table' style='overflow-x:auto")


def test_the_static_table_is_self_contained() -> None:
    table = LiveTable(_alerts(("info", "a")))
    table.render()
    html = table.part.html
    for markup in ("<script", "<link", "<style", "http"):
        assert markup not in html


def test_an_unsubscribed_table_says_so_above_what_was_buffered() -> None:
    table = LiveTable(_alerts(("info", "a")))
    rec = record_messages(table)
    table.render()
    table.mark_unsubscribed()
    assert len(rec.frames) == 2
    html = table.part.html
    assert "not subscribed: showing what was buffered" in html
    assert html.index("not subscribed") < html.index(">a<")
    table.mark_unsubscribed()  # unchanged: nothing sent
    assert len(rec.frames) == 2
    table.mark_unsubscribed(False)
    assert "not subscribed" not in table.part.html
    assert ">a<" in table.part.html


def test_the_unsubscribed_note_stays_across_frames() -> None:
    src = _alerts(("info", "a"))
    table = LiveTable(src)
    table.mark_unsubscribed()
    src.append({"timestamp": [T0 + 10**9], "severity": ["info"], "message": ["b"]})
    assert "not subscribed" in table.to_html()
    assert ">b<" in table.to_html()


def test_a_table_whose_widget_is_closed_directly_closes_and_stops_sending() -> None:
    src = _alerts(("info", "a"))
    clock = FrameClock()
    table = LiveTable(src, clock=clock)
    rec = record_messages(table)
    table.widget.close()
    assert clock.tick(now=1.0) == 0
    assert clock.views == 0
    assert rec.frames == []
