"""Live resample aggregates equal pandas' groupby on the same events."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_nb.buffer import RingBuffer

T0 = pd.Timestamp("2025-11-03T01:54:00Z")
FNS = ["mean", "sum", "count", "min", "max", "first", "last", "p50", "p90", "p95", "p99"]

values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-1000, 1000),
    st.none(),
    st.sampled_from(["text", "n/a"]),  # a type change: text where numbers were
)
events = st.lists(
    st.tuples(st.integers(0, 6000), st.sampled_from(["a", "b", "c"]), values),
    min_size=1,
    max_size=60,
)


def message(ms: int, model: str, value: Any) -> dict[str, Any]:
    stamp = (T0 + pd.Timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")
    data: dict[str, Any] = {"model": model, "n": 1}
    if value is not None:
        data["lat"] = value
    return {"type": "event", "channel": "ai", "timestamp": stamp, "data": data}


def expected(rows: list[tuple[int, str, Any]], every: str, held: set[pd.Timestamp]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime([T0 + pd.Timedelta(milliseconds=ms) for ms, _, _ in rows]),
            "model": [model for _, model, _ in rows],
            "lat": [
                float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
                for _, _, v in rows
            ],
        }
    )
    grouped = frame.groupby([pd.Grouper(key="timestamp", freq=every), "model"])["lat"]
    out = grouped.agg(["mean", "sum", "count", "min", "max", "first", "last"])
    for name, q in {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}.items():
        out[name] = grouped.quantile(q)
    out = out.add_prefix("lat_")
    out["count"] = grouped.size()
    out = out[out["count"] > 0].reset_index()
    return out[out["timestamp"].isin(held)].reset_index(drop=True)


@settings(max_examples=60, deadline=None)
@given(
    rows=events,
    every_ms=st.sampled_from([100, 250, 1000]),
    k=st.integers(1, 8),
    created_after=st.integers(0, 60),
)
def test_resample_equals_pandas_groupby_with_late_events_and_eviction(
    rows: list[tuple[int, str, Any]], every_ms: int, k: int, created_after: int
) -> None:
    buf = RingBuffer("ai")
    every = f"{every_ms}ms"
    before, after = rows[:created_after], rows[created_after:]
    for row in before:
        buf.append(message(*row))
    view = buf.resample(every, by="model", agg={"lat": FNS}, max_buckets=k)
    for row in after:
        buf.append(message(*row))
        len(buf)  # store each event on its own, so lateness is judged event by event
    # Created later, the view starts from what the buffer holds as one batch.
    late, held, evicted = _simulate(before, after, every_ms, k)
    got = view.to_dataframe()
    want = expected(rows, every, {T0 + pd.Timedelta(milliseconds=b) for b in held})
    assert list(got.columns) == ["timestamp", "model", *[f"lat_{f}" for f in FNS], "count"]
    pd.testing.assert_frame_equal(got, want, check_dtype=False, check_freq=False, rtol=1e-9)
    assert view.late == late
    assert view.evicted == evicted


def _simulate(
    before: list[Any], after: list[Any], every_ms: int, k: int
) -> tuple[int, set[int], int]:
    """The reference model: newest ``k`` buckets held; older events late once one left."""
    held: set[int] = set()
    floor, late, evicted = -(2**62), 0, 0
    batches = ([[r[0] - r[0] % every_ms for r in before]] if before else []) + [
        [r[0] - r[0] % every_ms] for r in after
    ]
    for buckets in batches:
        keep = [b for b in buckets if b >= floor]
        late += len(buckets) - len(keep)
        held.update(keep)
        while len(held) > k:
            oldest = min(held)
            held.remove(oldest)
            floor = max(floor, oldest + every_ms)
            evicted += 1
    return late, held, evicted


def test_a_resample_created_before_data_follows_the_stream_and_new_groups() -> None:
    buf = RingBuffer("ai")
    view = buf.resample("1s", by="model", agg={"lat": ["mean", "p95"]})
    assert len(view) == 0
    assert view.to_dataframe().empty
    buf.append(message(0, "a", 1.0))
    buf.append(message(10, "b", 3.0))
    version = view.version
    buf.append(message(1500, "a", 5.0))
    assert view.version > version
    frame = view.to_dataframe()
    assert frame["model"].tolist() == ["a", "b", "a"]
    assert frame["lat_mean"].tolist() == [1.0, 3.0, 5.0]
    assert str(frame["timestamp"].dt.tz) == "UTC"


def test_groups_beyond_the_bound_are_counted_not_folded() -> None:
    buf = RingBuffer("ai")
    view = buf.resample("1s", by="model", agg={"lat": "sum"}, max_groups=2)
    for ms, model in [(0, "a"), (1, "b"), (2, "c"), (3, "c"), (4, "a")]:
        buf.append(message(ms, model, 1))
    assert view.to_dataframe()["lat_sum"].tolist() == [2.0, 1.0]
    assert view.overflow == 2


def test_an_unknown_aggregate_or_a_bad_span_is_refused() -> None:
    buf = RingBuffer("ai")
    with pytest.raises(ValueError, match="unknown aggregate 'median'"):
        buf.resample("1s", agg={"lat": "median"})
    with pytest.raises(ValueError, match="positive duration"):
        buf.resample("0s", agg={"lat": "sum"})


def test_a_resample_is_a_source_a_live_table_renders_and_updates() -> None:
    from nexus_nb.widgets import LiveTable
    from nexus_nb.widgets.source import Source

    buf = RingBuffer("ai")
    view = buf.resample("1s", by="model", agg={"lat": ["mean", "p95"]})
    assert isinstance(view, Source)
    buf.append(message(0, "gpt-4", 120.0))
    table = LiveTable(view, rows=10)
    table.render()
    assert "gpt-4" in table.part.html
    assert "claude" not in table.part.html
    buf.append(message(2500, "claude", 80.0))
    table.render()
    assert "claude" in table.part.html


def test_counters_include_staged_events_without_another_read() -> None:
    buf = RingBuffer("ai")
    view = buf.resample("1s", agg={"lat": "sum"}, max_buckets=1)
    buf.append(message(5000, "a", 1))
    buf.append(message(9000, "a", 1))  # evicts the 5 s bucket
    assert view.evicted == 1  # reading the counter stores the staged events first
    buf.append(message(200, "a", 1))  # older than the only bucket held
    assert view.late == 1


def test_a_live_plot_of_a_resample_draws_each_bucket_once_as_it_changes() -> None:
    from nexus_nb.widgets import LivePlot

    buf = RingBuffer("ai")
    view = buf.resample("1s", by="model", agg={"lat": "mean"})
    plot = LivePlot(view, y="lat_mean", color="model", window=None)
    try:
        buf.append(message(0, "gpt-4", 100.0))
        plot.render()
        buf.append(message(300, "gpt-4", 300.0))  # the same bucket, a new mean
        buf.append(message(1200, "gpt-4", 50.0))  # the next bucket
        plot.render()
        (trace,) = plot.figure.data
        assert list(trace.y) == [200.0, 50.0]
        assert len(trace.x) == 2
    finally:
        plot.close()
