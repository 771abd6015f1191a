"""Min/max decimation: the stateless function, the incremental buckets, the trace series."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nexus_nb.widgets import decimate_minmax
from nexus_nb.widgets.decimate import MinMaxBuckets
from nexus_nb.widgets.series import TraceSeries

finite = st.floats(-1e6, 1e6, allow_nan=False)


def _bucket_ids(x: np.ndarray, buckets: int) -> np.ndarray:
    width = (x.max() - x.min()) / buckets or 1.0
    return np.minimum(((x - x.min()) / width).astype(np.int64), buckets - 1)


@settings(max_examples=60, deadline=None)
@given(
    y=arrays(np.float64, st.integers(1, 400), elements=finite),
    buckets=st.integers(1, 40),
)
def test_decimation_keeps_every_buckets_min_and_max_in_input_order(
    y: np.ndarray, buckets: int
) -> None:
    x = np.arange(len(y), dtype=np.float64)
    dx, dy = decimate_minmax(x, y, buckets=buckets)
    assert len(dx) <= 4 * buckets or len(dx) == len(y)
    assert np.all(np.diff(dx) > 0)  # a subsequence of the input, order kept
    assert np.array_equal(dy, y[dx.astype(np.int64)])
    if len(y) > 4 * buckets:
        ids = _bucket_ids(x, buckets)
        kept_ids = ids[dx.astype(np.int64)]
        for b in np.unique(ids):
            in_bucket = y[ids == b]
            assert in_bucket.min() in dy[kept_ids == b]
            assert in_bucket.max() in dy[kept_ids == b]


def test_a_single_spike_survives_decimation_of_a_million_points() -> None:
    y = np.zeros(1_000_000)
    y[123_457] = 42.0
    dx, dy = decimate_minmax(np.arange(len(y), dtype=np.float64), y, buckets=500)
    assert len(dx) <= 2000
    assert dy.max() == 42.0
    assert dx[dy.argmax()] == 123_457


def test_decimation_drops_nan_values() -> None:
    dx, dy = decimate_minmax(np.arange(4.0), np.array([1.0, np.nan, 3.0, np.nan]), buckets=2)
    assert dx.tolist() == [0.0, 2.0]
    assert dy.tolist() == [1.0, 3.0]


def test_decimation_rejects_a_non_positive_bucket_count() -> None:
    with pytest.raises(ValueError, match="buckets"):
        decimate_minmax(np.arange(3.0), np.arange(3.0), buckets=0)


@settings(max_examples=40, deadline=None)
@given(
    y=arrays(np.float64, st.integers(1, 600), elements=finite),
    cuts=st.lists(st.integers(0, 600), max_size=6),
)
def test_incremental_buckets_equal_one_shot_buckets_whatever_the_batching(
    y: np.ndarray, cuts: list[int]
) -> None:
    x = np.arange(len(y), dtype=np.float64) * 0.7
    whole = MinMaxBuckets(5.0, capacity=200)
    whole.add(x, y)
    pieces = MinMaxBuckets(5.0, capacity=200)
    edges = sorted({0, len(y), *(c for c in cuts if c < len(y))})
    for lo, hi in itertools.pairwise(edges):
        pieces.add(x[lo:hi], y[lo:hi])
    for a, b in zip(whole.points(), pieces.points(), strict=True):
        assert np.array_equal(a, b)
    assert len(pieces) == len(whole)


def test_buckets_keep_first_last_min_and_max_of_each_bucket_in_x_order() -> None:
    buckets = MinMaxBuckets(10.0, capacity=8)
    x = np.array([3.0, 1.0, 2.0, 5.0, 4.0, 12.0])
    y = np.array([0.0, 7.0, -9.0, 1.0, 2.0, 5.0])
    buckets.add(x, y)
    px, py = buckets.points()
    assert px.tolist() == [1.0, 2.0, 5.0, 12.0]
    assert py.tolist() == [7.0, -9.0, 1.0, 5.0]


def test_buckets_forget_buckets_that_end_before_the_window() -> None:
    buckets = MinMaxBuckets(10.0, capacity=100)
    buckets.add(np.arange(0.0, 100.0), np.ones(100))
    buckets.evict(50.0)
    px, _ = buckets.points(since=50.0)
    assert px.min() >= 50.0
    assert len(buckets) == 50


def test_buckets_past_capacity_drop_the_oldest_and_count_late_points() -> None:
    buckets = MinMaxBuckets(1.0, capacity=10)
    buckets.add(np.arange(0.0, 100.0), np.arange(100.0))
    px, _ = buckets.points()
    assert px.min() >= 90.0
    buckets.add(np.array([5.0]), np.array([1.0]))
    assert buckets.dropped == 90 + 1  # 90 already too old in the first batch


def test_growing_buckets_widen_to_cover_the_whole_span() -> None:
    buckets = MinMaxBuckets(1.0, capacity=50, grow=True)
    for start in range(0, 10_000, 500):
        xs = np.arange(start, start + 500, dtype=np.float64)
        buckets.add(xs, np.sin(xs))
    px, _ = buckets.points()
    assert px.min() == 0.0
    assert px.max() == 9_999.0
    assert len(px) <= 200
    assert len(buckets) == 10_000


def test_trace_series_is_exact_below_max_points_and_bounded_above() -> None:
    series = TraceSeries(max_points=100, window=None)
    series.extend(np.arange(50.0), np.arange(50.0))
    assert not series.decimated
    assert series.arrays()[0].tolist() == list(np.arange(50.0))
    series.extend(np.arange(50.0, 10_000.0), np.arange(50.0, 10_000.0))
    assert series.decimated
    px, py = series.arrays()
    assert len(px) <= 100
    assert py.max() == 9_999.0


def test_trace_series_sorts_out_of_order_points_by_time() -> None:
    series = TraceSeries(max_points=100, window=None)
    series.extend(np.array([1.0, 3.0, 2.0]), np.array([10.0, 30.0, 20.0]))
    px, py = series.arrays()
    assert px.tolist() == [1.0, 2.0, 3.0]
    assert py.tolist() == [10.0, 20.0, 30.0]


@settings(max_examples=200)
@given(
    arrays(np.float64, st.integers(2, 300), elements=st.integers(0, 50).map(float)),
    arrays(np.float64, 300, elements=st.integers(-5, 5).map(float)),
    st.integers(1, 20),
)
def test_points_in_x_order_pick_the_same_representatives_as_sorting_them(
    x: np.ndarray, y: np.ndarray, width: int
) -> None:
    from nexus_nb.widgets.decimate import _representatives_by_sorting, _representatives_in_order

    xs = np.sort(x)
    ys = y[: len(xs)]
    bid = (xs // width).astype(np.int64)
    fast = _representatives_in_order(bid, ys)
    slow = _representatives_by_sorting(bid, xs, ys)
    assert [list(a) for a in fast] == [list(b) for b in slow]


@settings(max_examples=200)
@given(
    arrays(np.float64, st.integers(2, 400), elements=st.integers(0, 60).map(lambda v: v / 7)),
    arrays(np.float64, 400, elements=st.integers(-5, 5).map(float)),
    st.integers(1, 40),
)
def test_points_in_x_order_are_bucketed_by_search_exactly_as_by_the_formula(
    x: np.ndarray, y: np.ndarray, buckets: int
) -> None:
    from nexus_nb.widgets.decimate import _representatives_by_sorting

    xs = np.sort(x)  # duplicates and boundaries that round: binary search must still agree
    ys = y[: len(xs)]
    dx, dy = decimate_minmax(xs, ys, buckets=buckets)
    if len(xs) <= 4 * buckets:
        assert np.array_equal(dx, xs)
        return
    width = (xs.max() - xs.min()) / buckets or 1.0
    bid = np.minimum(((xs - xs.min()) / width).astype(np.int64), buckets - 1)
    _, *picks = _representatives_by_sorting(bid, xs, ys)
    chosen = np.unique(np.concatenate(picks))
    assert np.array_equal(dx, xs[chosen])
    assert np.array_equal(dy, ys[chosen])
