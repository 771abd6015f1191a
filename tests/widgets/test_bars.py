"""LivePlot(kind="bar"): the newest value per category, checked against pandas on the same rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from nexus_nb.buffer import RingBuffer
from nexus_nb.widgets import LivePlot
from nexus_nb.widgets.chart import group_colour
from nexus_nb.widgets.testing import MemorySource, record_messages, send_from_page

T0 = 1_700_000_000_000_000_000  # ns since the epoch
MS = 1_000_000  # ns per ms


def _append(src: MemorySource, ms: Any, cpu: Any, **text: list[str | None]) -> None:
    cols: dict[str, object] = {"timestamp": T0 + (np.asarray(ms) * MS).astype(np.int64)}
    cols["cpu"] = np.asarray(cpu, dtype=np.float64)
    cols.update({k: np.array(v, dtype=object) for k, v in text.items()})
    src.append(cols)  # type: ignore[arg-type]


def _bars(plot: LivePlot, index: int = 0) -> dict[str, float]:
    trace = plot.figure.data[index]
    return dict(zip(trace.x, np.asarray(trace.y, dtype=float).tolist(), strict=True))


def test_bar_heights_equal_pandas_groupby_last_over_every_batch() -> None:
    rng = np.random.default_rng(7)
    src = MemorySource()
    plot = LivePlot(src, x="source", y="cpu", kind="bar", window=None)
    for batch in range(5):
        n = 200
        cpu = rng.normal(50, 10, n)
        cpu[rng.random(n) < 0.2] = np.nan  # a missing value never hides the previous one
        names = rng.choice(["web", "db", "cache", "queue"], n).tolist()
        _append(src, batch * 1000 + np.arange(n), cpu, source=names)
        plot.render()
        expected = src.to_dataframe().groupby("source", sort=False)["cpu"].last()
        assert _bars(plot) == expected.to_dict()
        assert list(plot.figure.data[0].x) == list(expected.index)  # first-seen order


def test_bars_over_latest_by_source_show_each_sources_newest_cpu_and_update_in_place() -> None:
    buf = RingBuffer("telemetry.metrics")
    stamp = pd.Timestamp("2025-11-03T01:54:00Z")

    def publish(ms: int, source: str, cpu: float) -> None:
        when = (stamp + pd.Timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")
        data = {"source": source, "cpu": cpu}
        buf.append({"channel": "telemetry.metrics", "timestamp": when, "data": data})

    for ms, (source, cpu) in enumerate([("a", 1.0), ("b", 2.0), ("a", 3.0), ("c", 4.0)]):
        publish(ms, source, cpu)
    plot = LivePlot(buf.latest(by="source"), x="source", y="cpu", kind="bar")
    rec = record_messages(plot)
    plot.render()
    assert _bars(plot) == {"a": 3.0, "b": 2.0, "c": 4.0}
    order = list(plot.figure.layout.xaxis.categoryarray)
    rec.clear()
    publish(10, "b", 9.0)
    plot.render()
    assert _bars(plot) == {"a": 3.0, "b": 9.0, "c": 4.0}
    # Latest re-orders its rows by update time; the axis keeps first-seen order.
    assert list(plot.figure.layout.xaxis.categoryarray) == order
    [(frame, buffers)] = rec.frames
    assert "traces" not in frame  # no new trace, no style changed
    assert "layout" not in frame  # the same categories
    [[index, x, y]] = frame["data"]
    assert index == 0
    # Categories as text, heights as float64 binary.
    heights = np.frombuffer(buffers[y], dtype=np.float64).tolist()
    assert dict(zip(x, heights, strict=True)) == {"a": 3.0, "b": 9.0, "c": 4.0}
    assert plot.dropped_rows == 0


def test_a_frame_whose_values_did_not_change_sends_nothing() -> None:
    src = MemorySource()
    _append(src, [0, 1], [1.0, 2.0], source=["a", "b"])
    plot = LivePlot(src, x="source", y="cpu", kind="bar")
    rec = record_messages(plot)
    plot.render()
    rec.clear()
    _append(src, [2], [np.nan], source=["a"])  # a new row, but no new value
    plot.render()
    assert rec.messages == []


def test_categories_past_max_categories_are_dropped_counted_and_noted_on_the_chart() -> None:
    src = MemorySource()
    _append(src, np.arange(3), [1.0, 2.0, 3.0], source=["a", "b", "a"])
    plot = LivePlot(src, x="source", y="cpu", kind="bar", max_categories=2)
    plot.render()
    assert plot.figure.layout.annotations == ()
    _append(src, np.arange(3, 7), [4.0, 5.0, 6.0, 7.0], source=["c", "d", "b", "c"])
    plot.render()
    assert _bars(plot) == {"a": 3.0, "b": 6.0}
    assert plot.dropped_rows == 3
    [note] = plot.figure.layout.annotations
    assert "3 rows dropped" in note.text
    assert "max_categories=2" in note.text
    assert "max_categories=2" in plot.to_svg()


def test_rows_of_a_rewriting_source_are_not_counted_twice_past_the_limit() -> None:
    buf = RingBuffer("telemetry.metrics")
    for i, source in enumerate("abc"):
        stamp = pd.Timestamp("2025-11-03T01:54:00Z") + pd.Timedelta(seconds=i)
        when = stamp.isoformat().replace("+00:00", "Z")
        data = {"source": source, "cpu": float(i)}
        buf.append({"channel": "telemetry.metrics", "timestamp": when, "data": data})
    plot = LivePlot(buf.latest(by="source"), x="source", y="cpu", kind="bar", max_categories=2)
    plot.render()
    plot.render()  # unchanged
    when = "2025-11-03T01:55:00Z"
    buf.append({"channel": "telemetry.metrics", "timestamp": when, "data": {"source": "a"}})
    plot.render()
    assert plot.dropped_rows == 1  # the one held row of "c", however many frames re-read it


def test_a_color_column_gives_one_trace_per_group_side_by_side_in_the_groups_colours() -> None:
    src = MemorySource()
    _append(
        src,
        np.arange(6),
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        host=["h1", "h1", "h2", "h2", "h1", "h2"],
        region=["eu", "us", "eu", "us", "eu", "eu"],
    )
    plot = LivePlot(src, x="host", y="cpu", color="region", kind="bar")
    plot.render()
    assert [t.name for t in plot.figure.data] == ["eu", "us"]
    assert _bars(plot, 0) == {"h1": 5.0, "h2": 6.0}
    assert _bars(plot, 1) == {"h1": 2.0, "h2": 4.0}
    assert plot.figure.layout.barmode == "group"
    line = LivePlot(src, y="cpu", color="region")
    line.render()
    # The same group has the same colour in a bar and a line plot.
    assert [t.marker.color for t in plot.figure.data] == [t.line.color for t in line.figure.data]


def test_color_equal_to_x_colours_each_category_by_its_stable_hash() -> None:
    src = MemorySource()
    _append(src, np.arange(3), [1.0, 2.0, 3.0], source=["a", "b", "c"])
    plot = LivePlot(src, x="source", y="cpu", color="source", kind="bar")
    plot.render()
    [trace] = plot.figure.data
    palette = list(plot.figure.layout.template.layout.colorway)
    assert list(trace.marker.color) == [group_colour(palette, name) for name in "abc"]
    svg = plot.to_svg()
    assert svg.count("<rect") == 3 + 3
    assert all(f"fill='{group_colour(palette, name)}'" in svg for name in "abc")


def test_missing_categories_take_a_place_under_the_limit_only_once_they_occur() -> None:
    src = MemorySource()
    _append(src, [0], [1.0], source=["a"])
    plot = LivePlot(src, x="source", y="cpu", kind="bar", max_categories=2)
    plot.render()
    _append(src, [1, 2], [2.0, 3.0], source=["b", None])
    plot.render()
    assert _bars(plot) == {"a": 1.0, "b": 2.0}
    assert plot.dropped_rows == 1  # the missing one, third to come


def test_a_category_silent_for_longer_than_the_window_is_hidden() -> None:
    src = MemorySource()
    _append(src, [0, 1000], [1.0, 2.0], source=["old", "new"])
    plot = LivePlot(src, x="source", y="cpu", kind="bar", window="5s")
    plot.render()
    assert _bars(plot) == {"old": 1.0, "new": 2.0}
    _append(src, [6000], [3.0], source=["new"])
    plot.render()
    assert _bars(plot) == {"new": 3.0}
    assert list(plot.figure.layout.xaxis.categoryarray) == ["new"]
    _append(src, [7000], [4.0], source=["old"])
    plot.render()
    assert list(plot.figure.data[0].x) == ["old", "new"]  # back in its first-seen place


def test_a_closed_bar_plot_leaves_one_rectangle_per_bar() -> None:
    src = MemorySource()
    _append(src, np.arange(4), [1.0, 2.0, 3.0, 4.0], source=["a", "b", "c", "d"])
    plot = LivePlot(src, x="source", y="cpu", kind="bar")
    plot.render()
    svg = plot.to_svg()
    # The background, the plot area and its clip path, then one per bar.
    assert svg.count("<rect") == 3 + 4
    assert all(f">{name}</text>" in svg for name in "abcd")
    plot.close()
    assert plot.to_html().count("<rect") == 3 + 4


def test_a_new_page_view_starts_from_the_current_bars() -> None:
    src = MemorySource()
    _append(src, [0], [1.0], source=["a"])
    plot = LivePlot(src, x="source", y="cpu", kind="bar")
    record_messages(plot)
    plot.render()
    _append(src, [1], [2.0], source=["a"])
    plot.render()  # a change of height only, sent as a frame
    # What a page adding a view (Voila, a second tab, a reload) builds from.
    [part] = plot.widget.get_state()["parts"]
    frame, buffers = part["frame"], part["buffers"]
    assert frame["base"] is None
    [[_, x, y]] = frame["data"]
    assert x == ["a"]
    assert np.frombuffer(buffers[y], dtype=np.float64).tolist() == [2.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "pie"}, "kind must be one of line, bar, histogram"),
        ({"kind": "bar", "y": ["cpu", "mem"]}, "one y column and no facet"),
        ({"kind": "bar", "facet": "region"}, "one y column and no facet"),
        ({"kind": "bar", "max_categories": 0}, "must be positive"),
    ],
)
def test_bad_bar_arguments_raise_value_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LivePlot(MemorySource(), x="source", **kwargs)


def test_a_bar_plot_cannot_be_zoomed_in_time_and_ignores_the_pages_range() -> None:
    src = MemorySource()
    _append(src, [0], [1.0], source=["a"])
    plot = LivePlot(src, x="source", y="cpu", kind="bar")
    plot.render()
    with pytest.raises(ValueError, match="no time axis"):
        plot.zoom(0, 1)
    record_messages(plot)
    # A box zoom in the page: plotly.js zooms the bars there; the plot keeps updating.
    send_from_page(plot, {"t": "event", "part": 0, "relayout": {"range": [-0.5, 0.5]}})
    assert plot.view_mode == "following"
    plot.update_layout(xaxis_range=[-0.5, 0.5])
    assert plot.view_mode == "following"
    assert list(plot.figure.layout.xaxis.range) == [-0.5, 0.5]
