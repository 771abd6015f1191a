"""LivePlot(kind="histogram"): counts over the window, checked against numpy.histogram."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from nexus_nb.buffer import RingBuffer
from nexus_nb.widgets import LivePlot
from nexus_nb.widgets.histogram import MAX_BINS, WindowHistogram, nice_edges
from nexus_nb.widgets.testing import MemorySource, RecordingComm, record_messages

T0 = 1_700_000_000_000_000_000  # ns since the epoch
MS = 1_000_000  # ns per ms


def _append(src: MemorySource, ms: Any, latency: Any, **text: Any) -> None:
    cols: dict[str, object] = {"timestamp": T0 + (np.asarray(ms) * MS).astype(np.int64)}
    cols["latency_ms"] = np.asarray(latency, dtype=np.float64)
    cols.update({k: np.array(v, dtype=object) for k, v in text.items()})
    src.append(cols)  # type: ignore[arg-type]


def _drawn(plot: LivePlot, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The edges and counts a trace shows: bars start at their left edge (offset 0)."""
    trace = plot.figure.data[index]
    assert trace.offset == 0
    lefts, widths = np.asarray(trace.x), np.asarray(trace.width)
    return np.r_[lefts, lefts[-1] + widths[-1]], np.asarray(trace.y)


def _window_rows(src: MemorySource, window_ms: float) -> pd.DataFrame:
    frame = src.to_dataframe()
    newest = frame["timestamp"].max()
    in_window: pd.DataFrame = frame[frame["timestamp"] >= newest - pd.Timedelta(window_ms, "ms")]
    return in_window


def test_counts_equal_numpy_histogram_over_the_windows_rows_as_it_slides() -> None:
    rng = np.random.default_rng(3)
    src = MemorySource()
    plot = LivePlot(src, x="latency_ms", kind="histogram", window="10s", bins=30)
    for second in range(40):
        ms = second * 1000 + np.sort(rng.integers(0, 1000, 150))
        latency = rng.lognormal(3, 0.5 + second / 40, len(ms))
        latency[rng.random(len(ms)) < 0.05] = np.nan
        _append(src, ms, latency)
        plot.render()
        edges, counts = _drawn(plot)
        values = _window_rows(src, 10_000)["latency_ms"].dropna().to_numpy()
        expected, _ = np.histogram(values, bins=edges)
        np.testing.assert_array_equal(counts, expected)
        assert len(counts) == 30
        assert edges[0] <= values.min()
        assert values.max() <= edges[-1]


def test_a_color_column_overlays_one_histogram_per_group_on_the_same_edges() -> None:
    rng = np.random.default_rng(5)
    src = MemorySource()
    plot = LivePlot(src, x="latency_ms", kind="histogram", color="region", window="5s", bins=20)
    for second in range(12):
        n = 300
        regions = rng.choice(["eu", "us", "ap"], n)
        latency = rng.normal(np.where(regions == "eu", 40.0, 80.0), 10.0)
        _append(src, second * 1000 + np.arange(n), latency, region=regions.tolist())
        plot.render()
    window = _window_rows(src, 5000)
    assert plot.figure.layout.barmode == "overlay"
    for index, trace in enumerate(plot.figure.data):
        edges, counts = _drawn(plot, index)
        values = window.loc[window["region"] == trace.name, "latency_ms"].to_numpy()
        np.testing.assert_array_equal(counts, np.histogram(values, bins=edges)[0])
    assert _drawn(plot, 0)[0].tolist() == _drawn(plot, 1)[0].tolist()


def test_fixed_edges_count_values_outside_them_and_note_it() -> None:
    src = MemorySource()
    _append(src, np.arange(6), [-1.0, 0.0, 5.0, 10.0, 10.5, 99.0])
    plot = LivePlot(src, x="latency_ms", kind="histogram", bins=[0, 5, 10], window=None)
    plot.render()
    edges, counts = _drawn(plot)
    assert edges.tolist() == [0.0, 5.0, 10.0]
    assert counts.tolist() == [1, 2]  # numpy's rule: the last bin holds its right edge
    [note] = plot.figure.layout.annotations
    assert note.text == "3 outside the bins"
    assert plot.dropped_rows == 0


def test_automatic_edges_are_round_stay_still_and_cover_a_new_outlier() -> None:
    src = MemorySource()
    _append(src, np.arange(100), np.linspace(12.0, 47.0, 100))
    plot = LivePlot(src, x="latency_ms", kind="histogram", bins=10, window=None)
    rec = record_messages(plot)
    plot.render()
    edges, _ = _drawn(plot)
    width = edges[1] - edges[0]
    assert width == 5.0
    assert edges[0] % width == 0
    rec.clear()
    _append(src, [100], [30.0])
    plot.render()
    [(frame, buffers)] = rec.frames
    assert "traces" not in frame  # same edges: no bar moved or widened
    [[index, _, y]] = frame["data"]  # the counts
    assert index == 0
    assert np.frombuffer(buffers[y], dtype=np.float64).tolist() == list(plot.figure.data[0].y)
    _append(src, [101], [480.0])
    plot.render()
    edges, counts = _drawn(plot)
    assert edges[-1] >= 480.0
    assert len(counts) == 10
    values = src.to_dataframe()["latency_ms"].to_numpy()
    np.testing.assert_array_equal(counts, np.histogram(values, bins=edges)[0])


def test_bytes_per_frame_depend_on_the_bins_never_on_the_rows() -> None:
    rng = np.random.default_rng(1)
    sizes = []
    for rows in (1_000, 100_000):
        src = MemorySource(maxlen=200_000)
        plot = LivePlot(src, x="latency_ms", kind="histogram", bins=40, window=None)
        rec: RecordingComm = record_messages(plot)
        _append(src, np.arange(rows), rng.uniform(0, 100, rows))
        plot.render()
        rec.clear()
        _append(src, np.arange(rows, 2 * rows), rng.uniform(0, 100, rows))
        plot.render()
        sizes.append(rec.total_bytes)
    assert sizes[0] > 0
    assert sizes[1] < sizes[0] * 1.5  # 100x the rows, the same bytes


def test_groups_past_max_groups_are_dropped_and_counted() -> None:
    src = MemorySource()
    _append(src, np.arange(5), [1.0, 2.0, 3.0, 4.0, 5.0], region=["a", "b", "c", "a", "c"])
    plot = LivePlot(src, x="latency_ms", kind="histogram", color="region", max_groups=2)
    plot.render()
    assert [t.name for t in plot.figure.data] == ["a", "b"]
    assert plot.dropped_rows == 2
    assert "2 rows over max_groups=2" in plot.figure.layout.annotations[0].text


def test_rows_over_the_held_limit_leave_early_and_are_counted() -> None:
    src = MemorySource()
    counts = WindowHistogram(
        x="latency_ms", color=None, window=None, bins=8, max_groups=20, max_rows=100
    )
    values = np.arange(250.0)
    for start in range(0, 250, 50):
        _append(src, np.arange(start, start + 50), values[start : start + 50])
        counts.ingest(src)
    assert counts.evicted_rows == 150
    expected, _ = np.histogram(values[-100:], bins=counts.edges)
    np.testing.assert_array_equal(counts.histogram()[0], expected)


def test_a_histogram_of_a_resampled_source_counts_its_current_rows_each_frame() -> None:
    buf = RingBuffer("telemetry.metrics")
    stamp = pd.Timestamp("2025-11-03T01:54:00Z")

    def publish(first: int, count: int) -> None:
        for i in range(first, first + count):
            when = (stamp + pd.Timedelta(milliseconds=250 * i)).isoformat().replace("+00:00", "Z")
            data = {"latency_ms": float(i % 7)}
            buf.append({"channel": "telemetry.metrics", "timestamp": when, "data": data})

    publish(0, 40)
    means = buf.resample("1s", agg={"latency_ms": "mean"})
    plot = LivePlot(means, x="latency_ms_mean", kind="histogram", bins=[0, 2, 3, 4, 6], window=None)
    for first in (40, 60):
        plot.render()
        edges, counts = _drawn(plot)
        expected, _ = np.histogram(means.to_dataframe()["latency_ms_mean"], bins=edges)
        np.testing.assert_array_equal(counts, expected)  # re-issued rows counted once
        assert counts.sum() == len(means)
        publish(first, 20)


def test_a_closed_histogram_leaves_one_rectangle_per_non_empty_bin() -> None:
    src = MemorySource()
    _append(src, np.arange(6), [1.0, 1.5, 2.5, 7.0, 9.0, 9.5])
    plot = LivePlot(src, x="latency_ms", kind="histogram", bins=[0, 2, 4, 6, 8, 10])
    plot.render()
    plot.close()
    svg = plot.to_html()
    assert svg.count("<rect") == 3 + 4  # background, area, clip; bins 0-2, 2-4, 6-8, 8-10
    assert "count" in svg


def test_nice_edges_are_round_multiples_covering_the_range() -> None:
    for lo, hi, bins in [(0.0, 1.0, 10), (3.3, 97.0, 30), (-5.0, 5.0, 7), (42.0, 42.0, 5)]:
        edges = nice_edges(lo, hi, bins)
        width = edges[1] - edges[0]
        assert len(edges) == bins + 1
        assert edges[0] <= lo
        assert hi <= edges[-1]
        mantissa = width / 10 ** np.floor(np.log10(width))
        assert round(mantissa, 9) in {1.0, 2.0, 2.5, 5.0}


@pytest.mark.parametrize("bins", [0, MAX_BINS + 1, [1.0], [0.0, 2.0, 1.0]])
def test_bad_bins_raise_value_error(bins: Any) -> None:
    with pytest.raises(ValueError, match=r"bins|edges"):
        LivePlot(MemorySource(), x="latency_ms", kind="histogram", bins=bins)
