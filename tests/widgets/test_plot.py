"""LivePlot against an in-memory source, with its frames captured at the widget's comm."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest

from nexus_nb.buffer import RingBuffer
from nexus_nb.columnar import format_timestamp
from nexus_nb.exceptions import SchemaError
from nexus_nb.widgets import FrameClock, LivePlot
from nexus_nb.widgets.testing import MemorySource, RecordingComm, record_messages, send_from_page
from tests.helpers.waiting import poll

T0 = 1_700_000_000_000_000_000  # ns since the epoch
MS = 1_000_000  # ns per ms
WIDGET = "application/vnd.jupyter.widget-view+json"


def _append(src: MemorySource, ms: Any, value: Any, **text: list[str]) -> None:
    cols: dict[str, object] = {"timestamp": T0 + (np.asarray(ms) * MS).astype(np.int64)}
    cols["value"] = np.asarray(value, dtype=np.float64)
    cols.update({k: np.array(v, dtype=object) for k, v in text.items()})
    src.append(cols)  # type: ignore[arg-type]


def _plot(src: MemorySource, **kwargs: object) -> tuple[LivePlot, RecordingComm]:
    """A plot whose widget is displayed in a page that the recorder plays."""
    plot = LivePlot(src, **kwargs)  # type: ignore[arg-type]
    return plot, record_messages(plot)


def _numbers(ref: Any, buffers: Sequence[memoryview]) -> np.ndarray:
    """A frame's array: a buffer index decodes as float64, a list is taken as it is."""
    if isinstance(ref, int):
        return np.frombuffer(buffers[ref], dtype=np.float64)
    return np.asarray(ref)


def _layouts(rec: RecordingComm) -> list[dict[str, Any]]:
    return [frame["layout"] for frame, _ in rec.frames if "layout" in frame]


def _page(plot: LivePlot, **content: Any) -> None:
    """A page event on the plot (its part is the surface's first)."""
    send_from_page(plot, {"t": "event", "part": 0, **content})


def test_each_color_group_gets_one_trace_and_a_new_group_a_new_trace() -> None:
    src = MemorySource()
    _append(src, np.arange(6), np.arange(6), source=["a", "b"] * 3)
    plot, _ = _plot(src, color="source")
    plot.render()
    assert [t.name for t in plot.figure.data] == ["a", "b"]
    assert plot.figure.data[0].y.tolist() == [0.0, 2.0, 4.0]
    _append(src, [6, 7], [6, 7], source=["c", "a"])
    plot.render()
    assert [t.name for t in plot.figure.data] == ["a", "b", "c"]
    assert plot.figure.data[0].y.tolist() == [0.0, 2.0, 4.0, 7.0]
    assert plot.figure.data[2].y.tolist() == [6.0]


def test_missing_group_values_form_their_own_trace() -> None:
    src = MemorySource()
    src.append({"timestamp": [T0, T0 + MS], "value": [1.0, 2.0], "source": ["a", None]})
    plot, _ = _plot(src, color="source")
    plot.render()
    assert [t.name for t in plot.figure.data] == ["a", "(missing)"]


def test_groups_past_max_groups_are_dropped_and_counted() -> None:
    src = MemorySource()
    _append(src, np.arange(5), np.arange(5), source=["a", "b", "c", "d", "a"])
    plot, _ = _plot(src, color="source", max_groups=2)
    plot.render()
    assert [t.name for t in plot.figure.data] == ["a", "b"]
    assert plot.dropped_rows == 2


def test_points_older_than_the_window_are_gone_and_the_range_scrolls() -> None:
    src = MemorySource()
    _append(src, np.arange(0, 10_000, 1000), np.arange(10))
    plot, _ = _plot(src, window=4000)
    plot.render()
    x = plot.figure.data[0].x
    assert x.min() >= x.max() - 4000
    assert len(x) == 5
    _append(src, [20_000], [1.0])
    plot.render()
    assert plot.figure.data[0].x.tolist() == [T0 / MS + 20_000]
    assert list(plot.figure.layout.xaxis.range) == [T0 / MS + 16_000, T0 / MS + 20_000]


def test_a_duration_window_applies_to_decimated_traces_too() -> None:
    src = MemorySource(maxlen=200_000)
    _append(src, np.arange(100_000) * 10.0, np.sin(np.arange(100_000)))
    plot, _ = _plot(src, window="1min", max_points=400)
    plot.render()
    x = plot.figure.data[0].x
    assert len(x) <= 400
    assert x.max() - x.min() <= 60_000
    assert x.max() == T0 / MS + 999_990


def test_time_goes_as_float64_epoch_ms_binary_on_a_date_axis() -> None:
    src = MemorySource()
    _append(src, [0, 1, 2], [1, 2, 3])
    plot, rec = _plot(src)
    plot.render()
    assert plot.figure.layout.xaxis.type == "date"
    assert plot.figure.data[0].x.dtype == np.float64
    assert plot.figure.data[0].x[0] == T0 / MS
    [(frame, buffers)] = rec.frames
    [[index, x, y]] = frame["data"]
    assert index == 0
    assert isinstance(x, int)  # a buffer index: binary, not a JSON list
    assert np.frombuffer(buffers[x], dtype=np.float64).tolist() == [T0 / MS + i for i in range(3)]
    assert np.frombuffer(buffers[y], dtype=np.float64).tolist() == [1.0, 2.0, 3.0]
    _append(src, [3], [4])
    plot.render()
    frame, buffers = rec.frames[-1]
    [[_, x, _]] = frame["data"]
    assert np.frombuffer(buffers[x], dtype=np.float64)[-1] == T0 / MS + 3


def test_several_y_columns_become_stacked_rows_sharing_x() -> None:
    src = MemorySource()
    src.append({"timestamp": T0 + np.arange(3) * MS, "cpu": [1.0, 2, 3], "mem": [4.0, 5, 6]})
    plot, _ = _plot(src, y=["cpu", "mem"])
    plot.render()
    assert [(t.name, t.yaxis, t.xaxis) for t in plot.figure.data] == [
        ("cpu", "y", "x"),
        ("mem", "y2", "x"),
    ]
    top, bottom = plot.figure.layout.yaxis.domain, plot.figure.layout.yaxis2.domain
    assert bottom[1] < top[0]
    assert plot.figure.layout.yaxis2.title.text == "mem"


def test_a_facet_column_gives_one_row_per_value_with_one_legend_entry_per_group() -> None:
    src = MemorySource()
    _append(
        src,
        np.arange(4),
        np.arange(4),
        metric_name=["cpu", "mem", "cpu", "mem"],
        source=["a", "a", "b", "b"],
    )
    plot, _ = _plot(src, facet="metric_name", color="source")
    plot.render()
    rows = {(t.name, t.yaxis) for t in plot.figure.data}
    assert rows == {("a", "y"), ("a", "y2"), ("b", "y"), ("b", "y2")}
    assert sum(bool(t.showlegend) for t in plot.figure.data) == 2
    assert plot.figure.layout.yaxis.title.text == "cpu"


def test_rows_with_nan_y_are_not_plotted() -> None:
    src = MemorySource()
    _append(src, [0, 1, 2], [1.0, np.nan, 3.0])
    plot, _ = _plot(src)
    plot.render()
    assert plot.figure.data[0].y.tolist() == [1.0, 3.0]


def test_text_in_the_y_column_raises_schema_error() -> None:
    src = MemorySource()
    _append(src, [0], [1.0], label=["x"])
    plot, _ = _plot(src, y="label")
    with pytest.raises(SchemaError, match="label"):
        plot.render()


def test_traces_switch_to_scattergl_above_the_threshold() -> None:
    src = MemorySource()
    _append(src, np.arange(50), np.arange(50), source=["a", "b"] * 25)
    plot, _ = _plot(src, color="source", webgl_threshold=40, max_points=None)
    plot.render()
    assert {t.type for t in plot.figure.data} == {"scatter"}
    _append(src, np.arange(50, 100), np.arange(50), source=["a", "b"] * 25)
    plot.render()
    assert [(t.type, t.name, len(t.x)) for t in plot.figure.data] == [
        ("scattergl", "a", 50),
        ("scattergl", "b", 50),
    ]


def test_nothing_is_sent_when_the_source_version_is_unchanged() -> None:
    src = MemorySource()
    _append(src, [0, 1], [1, 2])
    plot, rec = _plot(src)
    plot.render()
    assert rec.frames
    rec.clear()
    plot.render()
    plot.render()
    assert rec.messages == []


def test_a_frame_sends_only_rows_appended_since_the_last_frame_in_one_message() -> None:
    src = MemorySource()
    _append(src, np.arange(10), np.arange(10), source=["a", "b"] * 5)
    plot, rec = _plot(src, color="source")
    plot.render()
    rec.clear()
    _append(src, [10], [99.0], source=["b"])
    plot.render()
    assert len(rec.messages) == 1
    [(frame, buffers)] = rec.frames
    [[index, _, y]] = frame["data"]  # only the trace that changed
    assert index == 1
    assert _numbers(y, buffers)[-1] == 99.0
    assert "traces" not in frame  # no style changed
    assert set(frame["layout"]) == {"xaxis"}  # the window moved, nothing else


def test_bytes_per_frame_stay_flat_from_ten_thousand_to_a_million_rows() -> None:
    sizes = []
    for rows in (10_000, 1_000_000):
        src = MemorySource(maxlen=rows + 1000)
        _append(src, np.arange(rows) * (300_000 / rows), np.random.default_rng(0).random(rows))
        plot, rec = _plot(src)
        plot.render()
        rec.clear()
        _append(src, 300_000 + np.arange(100), np.ones(100))
        plot.render()
        sizes.append(rec.total_bytes)
    assert max(sizes) < 64 * 1024
    assert max(sizes) < 1.5 * min(sizes)


def test_a_paused_plot_is_not_rendered_by_the_clock_and_catches_up_on_resume() -> None:
    src = MemorySource()
    clock = FrameClock(timer=lambda: 0.0)
    plot, rec = _plot(src, clock=clock)
    plot.pause()
    rec.clear()
    _append(src, [0, 1], [1, 2])
    assert clock.tick(now=1.0) == 0
    assert rec.messages == []
    plot.resume()
    assert clock.tick(now=2.0) == 1
    assert plot.figure.data[0].y.tolist() == [1.0, 2.0]


def test_a_plot_out_of_sight_in_every_page_sends_nothing_and_catches_up_when_seen() -> None:
    src = MemorySource()
    clock = FrameClock(timer=lambda: 0.0)
    plot, rec = _plot(src, clock=clock)
    rec.clear()
    send_from_page(plot, {"t": "sight", "view": "page-1", "part": 0, "sight": False})
    _append(src, [0, 1], [1, 2])
    assert not plot.displayed
    assert clock.tick(now=1.0) == 0
    assert rec.messages == []
    send_from_page(plot, {"t": "sight", "view": "page-1", "part": 0, "sight": True})
    assert clock.tick(now=2.0) == 1
    assert plot.figure.data[0].y.tolist() == [1.0, 2.0]
    [(frame, _)] = rec.frames
    assert [index for index, _, _ in frame["data"]] == [0]


def test_a_plot_that_is_not_displayed_is_not_rendered_by_the_clock() -> None:
    src = MemorySource()
    clock = FrameClock(timer=lambda: 0.0)
    plot = LivePlot(src, clock=clock)
    _append(src, [0, 1], [1, 2])
    assert not plot.displayed
    assert clock.tick(now=1.0) == 0
    assert plot.figure.data == ()
    rec = record_messages(plot)  # a page shows it
    assert plot.displayed
    assert clock.tick(now=2.0) == 1
    assert len(plot.figure.data[0].y) == 2
    assert rec.frames


def test_a_failing_frame_shows_its_error_until_a_frame_succeeds() -> None:
    src = MemorySource()
    clock = FrameClock(timer=lambda: 0.0)
    plot, rec = _plot(src, y="label", clock=clock)
    _append(src, [0], [1.0], label=["<b>not a number</b>"])
    clock.tick(now=1.0)
    # The page writes the note as text (textContent), so markup in it stays text.
    assert "SchemaError" in plot.part.bar["note"]
    assert plot.part.bar["error"] is True
    assert rec.frames[-1][0]["bar"] == plot.part.bar
    assert clock.errors == 1


class _Flaky(MemorySource):
    """A source whose reads fail while ``broken``."""

    broken = True

    def read(self, columns: Sequence[str], *, start: int = 0) -> tuple[int, dict[str, np.ndarray]]:
        if self.broken:
            raise RuntimeError("disk on fire")
        return super().read(columns, start=start)


def test_a_frame_that_succeeds_after_a_failure_clears_the_error() -> None:
    src = _Flaky()
    clock = FrameClock(timer=lambda: 0.0)
    plot, rec = _plot(src, clock=clock)
    _append(src, [0], [1.0])
    clock.tick(now=1.0)
    assert plot.part.bar["note"] == "frame failed: RuntimeError: disk on fire"
    src.broken = False
    _append(src, [1], [2.0])
    clock.tick(now=2.0)
    assert plot.part.bar["note"] == ""
    assert plot.part.bar["error"] is False
    assert rec.frames[-1][0]["bar"]["error"] is False


def test_the_static_fallback_holds_the_widget_view_and_plain_html() -> None:
    src = MemorySource()
    _append(src, [0, 1], [1, 2])
    plot, _ = _plot(src, title="cpu")
    plot.render()
    bundle = plot._repr_mimebundle_()
    assert WIDGET in bundle
    assert bundle[WIDGET]["model_id"] == plot.widget.model_id
    html = bundle["text/html"]
    assert "<svg" in html
    assert "<polyline" in html
    assert "cpu" in html
    assert "<script" not in html
    assert "cdn" not in html
    assert repr(plot).startswith("<LivePlot 'telemetry.metrics'")
    plot.close()
    assert WIDGET not in plot._repr_mimebundle_()


def test_a_large_backlog_reads_only_rows_inside_the_window() -> None:
    reads: list[int] = []

    class Counting(MemorySource):
        def read(self, columns, *, start=0):  # type: ignore[no-untyped-def]
            first, data = super().read(columns, start=start)
            reads.append(len(next(iter(data.values()))) * len(columns))
            return first, data

    src = Counting(maxlen=300_000)
    _append(src, np.arange(300_000) * 10.0, np.ones(300_000))
    plot = LivePlot(src, window=10_000)
    plot.render()
    assert reads[-1] <= 2 * 1001  # timestamp and value of the last 10 s only


def test_until_a_window_has_filled_the_range_starts_at_the_first_point() -> None:
    src = MemorySource()
    _append(src, np.arange(5_000, 7_000, 500), np.arange(4))
    plot, _ = _plot(src, window=60_000)
    plot.render()
    assert list(plot.figure.layout.xaxis.range) == [T0 / MS + 5_000, T0 / MS + 6_500]


def test_a_new_facet_axis_reaches_the_page_whole_with_its_height_and_x_anchor() -> None:
    # The page merges a frame's layout entries into its copy one top-level key at a
    # time: each entry must come whole (never a dotted path such as "yaxis2.domain").
    src = MemorySource()
    _append(src, [0, 1], [1.0, 2.0], metric_name=["cpu", "cpu"])
    plot, rec = _plot(src, facet="metric_name")
    plot.render()
    _append(src, [2, 3, 4], [1.0, 2.0, 3.0], metric_name=["mem", "disk", "mem"])
    plot.render()
    payloads = _layouts(rec)
    assert payloads
    for layout in payloads:
        assert not [key for key in layout if "." in key], layout
    merged = {key: value for layout in payloads for key, value in layout.items()}
    assert merged["height"] == 160 + 170 * 3
    assert merged["xaxis"]["anchor"] == "y3"
    assert {"yaxis2", "yaxis3"} <= set(merged)
    assert merged["yaxis3"]["domain"] == list(plot.figure.layout.yaxis3.domain)
    assert merged["yaxis3"]["title"]["text"] == "disk"


def test_zoom_into_a_range_draws_every_row_under_the_budget() -> None:
    src = MemorySource()
    _append(src, np.arange(10_000.0), np.sin(np.arange(10_000.0)))
    plot, _ = _plot(src, window=None, max_points=2000)
    plot.render()
    assert len(plot.figure.data[0].x) <= 2000
    t0 = T0 / MS
    plot.zoom(t0 + 1000, t0 + 1499)
    assert plot.view_mode == "zoomed"
    xs = np.asarray(plot.figure.data[0].x)
    assert len(xs) == 500
    np.testing.assert_allclose(xs, t0 + np.arange(1000.0, 1500.0))
    np.testing.assert_allclose(plot.figure.data[0].y, np.sin(np.arange(1000.0, 1500.0)))


def test_zoom_over_the_budget_keeps_each_buckets_min_and_max() -> None:
    src = MemorySource()
    rng = np.random.default_rng(1)
    values = rng.normal(size=20_000)
    _append(src, np.arange(20_000.0), values)
    plot, _ = _plot(src, window=None, max_points=400)
    plot.render()
    t0 = T0 / MS
    plot.zoom(t0, t0 + 19_999)
    ys = np.asarray(plot.figure.data[0].y)
    assert len(ys) <= 400
    assert ys.max() == values.max()
    assert ys.min() == values.min()
    bid = np.minimum((np.arange(20_000) / ((19_999) / 100)).astype(int), 99)
    xs = np.asarray(plot.figure.data[0].x) - t0
    kept = set(np.round(xs).astype(int).tolist())
    for b in range(100):
        rows = np.flatnonzero(bid == b)
        assert int(rows[np.argmax(values[rows])]) in kept
        assert int(rows[np.argmin(values[rows])]) in kept


def test_relayout_from_code_zooms_and_autorange_from_the_page_returns_to_follow() -> None:
    src = MemorySource()
    _append(src, np.arange(1000.0), np.arange(1000.0))
    plot, _ = _plot(src, window="10s")
    plot.render()
    assert plot.view_mode == "following"
    t0 = T0 / MS
    plot.update_layout(xaxis_range=[t0 + 100, t0 + 199])
    assert plot.view_mode == "zoomed"
    assert len(plot.figure.data[0].x) == 100
    _append(src, np.arange(1000.0, 1100.0), np.arange(100.0))
    plot.render()
    assert len(plot.figure.data[0].x) == 100  # A past range stays put while data arrives.
    _page(plot, relayout={"autorange": True})  # a double-click on the plot
    assert plot.view_mode == "following"
    assert plot.figure.layout.xaxis.range[1] == t0 + 1099


def test_a_zoom_in_the_page_zooms_and_the_plots_own_range_echoed_back_does_not() -> None:
    src = MemorySource()
    _append(src, np.arange(1000.0), np.arange(1000.0))
    plot, _ = _plot(src, window="10s")
    plot.render()
    drawn = list(plot.figure.layout.xaxis.range)
    _page(plot, relayout={"range": drawn})  # what plotly.js reports of a range it was given
    assert plot.view_mode == "following"
    t0 = T0 / MS
    _page(plot, relayout={"range": [t0 + 10, t0 + 19]})
    assert plot.view_mode == "zoomed"
    assert len(plot.figure.data[0].x) == 10
    _page(plot, relayout={"range": [t0 + 19, t0 + 10]})  # not a range: ignored
    assert list(plot.figure.layout.xaxis.range) == [t0 + 10, t0 + 19]


def test_update_layout_with_an_x_range_zooms() -> None:
    src = MemorySource()
    _append(src, np.arange(1000.0), np.arange(1000.0))
    plot, rec = _plot(src, window=None)
    plot.render()
    rec.clear()
    t0 = T0 / MS
    plot.update_layout(xaxis_range=[t0 + 500, t0 + 549])
    assert plot.view_mode == "zoomed"
    np.testing.assert_allclose(plot.figure.data[0].x, t0 + np.arange(500.0, 550.0))
    [(frame, buffers)] = rec.frames
    assert frame["layout"]["xaxis"]["range"] == [t0 + 500, t0 + 549]
    [[_, x, _]] = frame["data"]
    assert len(_numbers(x, buffers)) == 50


def test_update_layout_with_a_title_sends_only_that_layout_entry() -> None:
    src = MemorySource()
    _append(src, [0, 1], [1.0, 2.0])
    plot, rec = _plot(src)
    plot.render()
    rec.clear()
    plot.update_layout(title="cpu load")
    [(frame, _)] = rec.frames
    assert frame["layout"] == {"title": {"text": "cpu load"}}
    assert "data" not in frame
    assert "traces" not in frame
    assert plot.view_mode == "following"


def test_to_figure_is_an_independent_figure_of_the_current_frame() -> None:
    src = MemorySource()
    _append(src, [0, 1], [1.0, 2.0], source=["a", "b"])
    plot, _ = _plot(src, color="source", title="cpu")
    plot.render()
    _append(src, [2], [3.0], source=["a"])  # not rendered yet: to_figure catches up
    figure = plot.to_figure()
    assert isinstance(figure, go.Figure)
    assert figure is not plot.figure
    assert [t.name for t in figure.data] == ["a", "b"]
    assert figure.data[0].y.tolist() == [1.0, 3.0]
    assert figure.layout.title.text == "cpu"
    figure.update_layout(title="mine")
    figure.data[0].name = "renamed"
    assert plot.figure.layout.title.text == "cpu"
    assert plot.figure.data[0].name == "a"


def test_mark_unsubscribed_shows_the_note_under_the_plot_until_subscribed_again() -> None:
    src = MemorySource()
    plot, rec = _plot(src)
    plot.mark_unsubscribed()
    assert "not subscribed" in plot.part.bar["note"]
    assert rec.frames[-1][0]["bar"]["note"] == plot.part.bar["note"]
    rec.clear()
    plot.mark_unsubscribed()  # unchanged: nothing sent
    assert rec.messages == []
    plot.mark_unsubscribed(False)
    assert plot.part.bar["note"] == ""
    assert rec.frames[-1][0]["bar"]["note"] == ""


def test_a_zoom_and_a_follow_each_bump_the_layouts_uirevision() -> None:
    src = MemorySource()
    _append(src, np.arange(1000.0), np.arange(1000.0))
    plot, rec = _plot(src, window="10s")
    plot.render()
    before = plot.figure.layout.uirevision
    rec.clear()
    t0 = T0 / MS
    plot.zoom(t0 + 10, t0 + 20)
    assert plot.figure.layout.uirevision == before + 1
    [(frame, _)] = rec.frames
    assert frame["layout"]["uirevision"] == before + 1  # the page drops its own zoom
    _append(src, [1000.0], [1.0])
    plot.render()  # a frame that neither zooms nor follows keeps it
    assert plot.figure.layout.uirevision == before + 1
    plot.follow()
    assert plot.figure.layout.uirevision == before + 2
    assert rec.frames[-1][0]["layout"]["uirevision"] == before + 2


def test_a_storm_of_page_zooms_under_a_clock_is_read_once_and_the_last_wins() -> None:
    src = MemorySource()
    _append(src, np.arange(1000.0), np.arange(1000.0))
    clock = FrameClock(thread=True)
    release = threading.Event()
    try:
        plot = LivePlot(src, window=None, clock=clock)
        rec = clock.call(lambda: record_messages(plot))
        plot.render()
        before = clock.call(lambda: plot.figure.layout.uirevision)
        clock.call(rec.clear)
        t0 = T0 / MS
        clock.post(lambda: release.wait(5))  # the clock's thread is busy meanwhile
        for i in range(50):
            _page(plot, relayout={"range": [t0 + i, t0 + 100 + i]})
        release.set()
        last = [t0 + 49, t0 + 149]
        assert poll(
            lambda: clock.call(lambda: list(plot.figure.layout.xaxis.range) == last),
            timeout=5,
            step=0.01,
        )
        clock.call(lambda: None)  # anything still queued has run
        assert clock.call(lambda: plot.figure.layout.uirevision) == before + 1
        assert clock.call(lambda: len(rec.frames)) == 1
        assert clock.call(lambda: plot.view_mode) == "zoomed"
    finally:
        release.set()
        clock.close()


def test_a_zoom_reaching_now_keeps_extending() -> None:
    src = MemorySource()
    _append(src, np.arange(1000.0), np.arange(1000.0))
    plot, _ = _plot(src, window=None)
    plot.render()
    t0 = T0 / MS
    plot.zoom(t0 + 900, t0 + 999)
    _append(src, np.arange(1000.0, 1050.0), np.arange(50.0))
    plot.render()
    assert len(plot.figure.data[0].x) == 150


class _CountingBuffer(RingBuffer):
    """A RingBuffer that remembers how many rows each read returned."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows_read: list[int] = []

    def read(self, columns: Sequence[str], **kwargs: Any) -> tuple[int, dict[str, np.ndarray]]:
        first, cols = super().read(columns, **kwargs)
        self.rows_read.append(max((len(v) for v in cols.values()), default=0))
        return first, cols


def _ring_events(buf: RingBuffer, ms: range, source: list[str | None]) -> None:
    buf.extend(
        {
            "type": "event",
            "channel": "telemetry.metrics",
            "timestamp": format_timestamp(T0 + i * MS),
            "data": {
                "value": float(i),
                **({"source": source[i % len(source)]} if source[i % len(source)] else {}),
            },
        }
        for i in ms
    )


def test_a_zoom_reads_only_the_rows_of_its_range_from_a_buffer() -> None:
    buf = _CountingBuffer(maxlen=200_000)
    _ring_events(buf, range(200_000), ["a"])
    plot, _ = _plot(buf, window=None, max_points=2000)  # type: ignore[arg-type]
    plot.render()
    buf.rows_read.clear()
    t0 = T0 / MS
    plot.zoom(t0 + 50_000, t0 + 50_499)
    assert buf.rows_read
    assert max(buf.rows_read) == 500
    np.testing.assert_array_equal(plot.figure.data[0].y, np.arange(50_000.0, 50_500.0))


def test_a_zoom_over_rows_out_of_time_order_draws_every_row_of_the_range_in_time_order() -> None:
    buf = RingBuffer(maxlen=1000)
    _ring_events(buf, range(500, 1000), ["a"])
    _ring_events(buf, range(0, 500), ["a"])  # a late backlog: arrival order is not time order
    plot, _ = _plot(buf, window=None)  # type: ignore[arg-type]
    plot.render()
    t0 = T0 / MS
    plot.zoom(t0 + 400, t0 + 599)
    np.testing.assert_array_equal(plot.figure.data[0].y, np.arange(400.0, 600.0))
    assert bool(np.all(np.diff(plot.figure.data[0].x) > 0))


def test_a_decimated_zoom_over_rows_out_of_time_order_is_in_time_order() -> None:
    buf = RingBuffer(maxlen=10_000)
    _ring_events(buf, range(5000, 10_000), ["a"])
    _ring_events(buf, range(0, 5000), ["a"])
    plot, _ = _plot(buf, window=None, max_points=400)  # type: ignore[arg-type]
    plot.render()
    t0 = T0 / MS
    plot.zoom(t0 + 1000, t0 + 8999)
    x = np.asarray(plot.figure.data[0].x)
    assert 0 < len(x) <= 400
    assert bool(np.all(np.diff(x) >= 0))
    assert x[0] == t0 + 1000
    assert x[-1] == t0 + 8999


def test_rows_without_a_colour_value_are_one_missing_group_live_and_zoomed() -> None:
    buf = RingBuffer(maxlen=1000)
    _ring_events(buf, range(1000), ["a", None])
    plot, _ = _plot(buf, color="source", window=None)  # type: ignore[arg-type]
    plot.render()
    live = {t.name: len(t.x) for t in plot.figure.data}
    t0 = T0 / MS
    plot.zoom(t0, t0 + 999)
    zoomed = {t.name: len(t.x) for t in plot.figure.data}
    assert live == zoomed == {"a": 500, "(missing)": 500}


def test_numbered_groups_get_different_colours_up_to_the_palette_size() -> None:
    src = MemorySource()
    names = [f"server-{i:02d}" for i in range(10)]
    _append(src, np.arange(10.0), np.arange(10.0), source=names)
    plot, _ = _plot(src, color="source")
    plot.render()
    colours = {t.name: t.line.color for t in plot.figure.data}
    assert len(set(colours.values())) == 10, colours


def test_a_page_at_the_wrong_revision_asks_for_sync_and_gets_every_trace_again() -> None:
    src = MemorySource()
    _append(src, np.arange(6), np.arange(6), source=["a", "b", "c"] * 2)
    plot, rec = _plot(src, color="source")
    plot.render()
    rec.clear()
    # The page missed frames (a model built late, a reload): it holds an older revision.
    send_from_page(plot, {"t": "sync", "part": 0})
    [(frame, buffers)] = rec.frames
    assert frame["base"] is None  # a keyframe: applied whatever the page holds
    assert frame["rev"] == plot.part.rev
    assert frame["count"] == 3
    assert [trace["name"] for trace in frame["traces"]] == ["a", "b", "c"]
    for index, x, y in frame["data"]:
        trace = plot.figure.data[index]
        np.testing.assert_array_equal(_numbers(x, buffers), trace.x)
        np.testing.assert_array_equal(_numbers(y, buffers), trace.y)
    assert "template" in frame["layout"]
    _append(src, [6], [6.0], source=["a"])
    plot.render()
    assert rec.frames[-1][0]["base"] == frame["rev"]  # frames go on from the keyframe


def test_a_page_in_step_is_sent_deltas_each_from_the_revision_before() -> None:
    src = MemorySource()
    plot, rec = _plot(src, color="source")
    opened = plot.part.rev
    for i in range(4):
        _append(src, [i], [float(i)], source=["a", "b"][i % 2 : i % 2 + 1])
        plot.render()
    frames = [frame for frame, _ in rec.frames]
    assert [frame["base"] for frame in frames] == list(range(opened, opened + 4))
    assert [frame["rev"] for frame in frames] == list(range(opened + 1, opened + 5))
    assert "template" not in {key for frame in frames for key in frame.get("layout", {})}


def test_a_group_gets_the_same_colour_whatever_the_arrival_order() -> None:
    colours = []
    for order in (["a", "b"], ["b", "a"]):
        src = MemorySource()
        _append(src, np.arange(2.0), np.arange(2.0), source=order)
        plot, _ = _plot(src, color="source")
        plot.render()
        colours.append({t.name: t.line.color for t in plot.figure.data})
    assert colours[0] == colours[1]


def test_the_mode_button_pauses_while_following_and_follows_while_zoomed_or_paused() -> None:
    src = MemorySource()
    _append(src, np.arange(1000.0), np.arange(1000.0))
    plot, rec = _plot(src, window="10s")
    plot.render()

    def click() -> None:
        _page(plot, button="mode")

    assert plot.part.bar["button"] == "pause"
    click()
    assert plot.view_mode == "paused"
    assert plot.paused
    assert plot.part.bar["button"] == "follow"
    assert "paused" in plot.part.bar["note"]
    assert rec.frames[-1][0]["bar"] == plot.part.bar  # the page's button follows
    click()
    assert plot.view_mode == "following"
    assert not plot.paused
    t0 = T0 / MS
    plot.zoom(t0 + 10, t0 + 20)
    assert plot.part.bar["button"] == "follow"
    assert "zoomed" in plot.part.bar["note"]
    click()
    assert plot.view_mode == "following"
    assert plot.part.bar["button"] == "pause"
    assert plot.part.bar["note"] == ""


def test_a_following_plots_snapshot_spans_its_whole_window() -> None:
    src = MemorySource()
    _append(src, np.arange(11) * 100, np.arange(11))  # one second of data
    plot = LivePlot(src, window="30s")
    svg = plot.to_svg()
    # Ticks every 5 s across the 30 s before the newest point (T0 + 1 s), not
    # tenths of a second across the one second that has arrived.
    assert re.findall(r"<text[^>]*>(\d\d:\d\d:\d\d)</text>", svg) == [
        "22:12:55",
        "22:13:00",
        "22:13:05",
        "22:13:10",
        "22:13:15",
        "22:13:20",
    ]
    plot.zoom(T0 / MS, T0 / MS + 500)
    zoomed = re.findall(r"<text[^>]*>(\d\d:\d\d:[\d.]+)</text>", plot.to_svg())
    assert zoomed[0] == "22:13:20.000"  # a zoomed plot's snapshot spans its zoom
    assert zoomed[-1] <= "22:13:20.500"


@pytest.mark.parametrize(
    "xrange", [["not", "a time"], [None, 1.0], [5.0, 1.0], [1.0], "0,1", [[1], [2]]]
)
def test_a_page_range_that_cannot_be_read_is_ignored(xrange: object) -> None:
    src = MemorySource()
    _append(src, [0, 1, 2], [1, 2, 3])
    plot, _ = _plot(src)
    plot.render()
    send_from_page(plot, {"t": "event", "part": 0, "relayout": {"range": xrange}})
    assert plot.view_mode == "following"
