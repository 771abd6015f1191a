"""TraceSet: folding source rows into per-trace series, without any plotting."""

from __future__ import annotations

import numpy as np

from nexus_nb.widgets.testing import MemorySource
from nexus_nb.widgets.traces import TraceSet


def _set(**kwargs: object) -> TraceSet:
    options: dict[str, object] = {
        "x": "timestamp",
        "ys": ["value"],
        "color": "source",
        "facet": "metric",
        "window": None,
        "max_points": 100,
        "max_groups": 2,
        "max_facets": 1,
    }
    options.update(kwargs)
    return TraceSet(**options)  # type: ignore[arg-type]


def test_rows_past_the_group_or_facet_limit_are_dropped_and_counted_once() -> None:
    src = MemorySource()
    src.append(
        {
            "timestamp": np.arange(4) * 1_000_000,
            "value": [1.0, 2.0, 3.0, 4.0],
            "source": ["a", "b", "c", "c"],
            "metric": ["cpu", "cpu", "cpu", "mem"],
        }
    )
    traces = _set()
    traces.ingest(src)
    assert sorted(traces.series) == [("value", "cpu", "a"), ("value", "cpu", "b")]
    assert traces.dropped_rows == 2


def test_each_ingest_reads_only_new_rows() -> None:
    src = MemorySource()
    traces = _set(color=None, facet=None)
    for i in range(3):
        src.append({"timestamp": [i * 1_000_000], "value": [float(i)]})
        traces.ingest(src)
    [series] = traces.series.values()
    assert series.arrays()[1].tolist() == [0.0, 1.0, 2.0]
    assert traces.newest == 2.0


def test_rows_with_a_missing_x_are_skipped() -> None:
    src = MemorySource()
    src.append({"t": [1.0, np.nan, 3.0], "value": [1.0, 2.0, 3.0]})
    traces = _set(x="t", color=None, facet=None)
    traces.ingest(src)
    [series] = traces.series.values()
    assert series.arrays()[0].tolist() == [1.0, 3.0]
