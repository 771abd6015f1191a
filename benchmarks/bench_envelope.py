"""Which envelope a zoomed plot should draw: min/max per pixel column, or MinMaxLTTB.

Both reduce 1M points of a noisy series with rare spikes to a 2,000-point budget
for a plot 500 pixel columns wide (4 points per column, as ``LivePlot`` sends).
MinMaxLTTB (Van Der Donckt et al., 2023; ``tsdownsample``'s default) pre-selects
each column's min and max, then keeps 2,000 of those by largest triangle. Its
pre-selection ratio here is 4: 4,000 candidates from 1,000 half-columns.

Fidelity is what the drawn line covers in each pixel column: a line through the
kept points spans ``[lo, hi]`` in a column; the full data spans ``[lo*, hi*]``.
Reported: columns whose span is exact, and the worst missed span as a fraction
of the data's y range. Time is CPU, median of 3, the same run for both.

Run: ``.venv/bin/python benchmarks/bench_envelope.py`` (about 20 s).
"""

from __future__ import annotations

import numpy as np
from figures import figure
from workload import median_time

from nexus_nb.widgets.decimate import decimate_minmax

ROWS = 1_000_000
PIXELS = 500
BUDGET = 4 * PIXELS


def _lttb(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """Largest-triangle-three-buckets over the given points: indexes of the kept ones."""
    edges = np.linspace(1, len(x) - 1, n_out - 1).astype(np.int64)
    kept = [0]
    for lo, hi, nxt in zip(edges[:-1], edges[1:], np.r_[edges[2:], len(x)], strict=True):
        ax, ay = x[kept[-1]], y[kept[-1]]
        cx, cy = x[hi:nxt].mean(), y[hi:nxt].mean()
        area = np.abs((ax - cx) * (y[lo:hi] - ay) - (ax - x[lo:hi]) * (cy - ay))
        kept.append(lo + int(area.argmax()))
    kept.append(len(x) - 1)
    return np.asarray(kept)


def minmax_lttb(x: np.ndarray, y: np.ndarray, n_out: int, ratio: int = 4) -> np.ndarray:
    """MinMaxLTTB: per-bucket min and max as candidates, then LTTB down to ``n_out``."""
    buckets = n_out * ratio // 2
    bid = np.minimum(((x - x[0]) / ((x[-1] - x[0]) / buckets)).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.r_[True, bid[1:] != bid[:-1]])
    candidates = []
    for a, b in zip(starts, np.r_[starts[1:], len(x)], strict=True):
        run = y[a:b]
        candidates += sorted({a + int(run.argmin()), a + int(run.argmax())})
    index = np.asarray([0, *candidates, len(x) - 1])
    index = np.unique(index)
    return index[_lttb(x[index], y[index], n_out)]


def column_spans(x: np.ndarray, y: np.ndarray, lo: float, width: float) -> np.ndarray:
    """Per pixel column, the min and max y of the polyline through ``(x, y)`` in it."""
    spans = np.full((PIXELS, 2), [np.inf, -np.inf])
    col = np.clip(((x - lo) / width).astype(np.int64), 0, PIXELS - 1)
    np.minimum.at(spans[:, 0], col, y)
    np.maximum.at(spans[:, 1], col, y)
    # A segment crossing columns covers both ends' values in each column between.
    for a, b, ya, yb in zip(col[:-1], col[1:], y[:-1], y[1:], strict=True):
        if b > a + 1:
            spans[a + 1 : b, 0] = np.minimum(spans[a + 1 : b, 0], min(ya, yb))
            spans[a + 1 : b, 1] = np.maximum(spans[a + 1 : b, 1], max(ya, yb))
    return spans


def main() -> None:
    """Print the figures."""
    rng = np.random.default_rng(7)
    x = np.arange(ROWS, dtype=np.float64)
    y = np.cumsum(rng.normal(size=ROWS)) * 0.01 + rng.normal(size=ROWS)
    spikes = rng.choice(ROWS, 40, replace=False)
    y[spikes] += rng.choice([-1, 1], 40) * rng.uniform(8, 20, 40)
    lo, width = x[0], (x[-1] - x[0]) / PIXELS
    truth = column_spans(x, y, lo, width)
    y_range = float(y.max() - y.min())

    def ours() -> np.ndarray:
        return decimate_minmax(x, y, buckets=PIXELS)[0].astype(np.int64)

    def theirs() -> np.ndarray:
        return minmax_lttb(x, y, BUDGET)

    results = {}
    for name, pick in (("min/max", ours), ("MinMaxLTTB", theirs)):
        kept = pick()
        spans = column_spans(x[kept], y[kept], lo, width)
        missed = np.maximum(spans[:, 0] - truth[:, 0], 0) + np.maximum(truth[:, 1] - spans[:, 1], 0)
        exact = float(np.mean(missed == 0))
        spikes_kept = float(np.isin(spikes, kept).mean())
        cpu = median_time(pick).cpu * 1e3
        results[name] = cpu
        print(
            f"{name:>10}: {cpu:7.1f} ms CPU, {len(kept)} points, exact columns {exact:6.1%}, "
            f"worst missed span {missed.max() / y_range:6.2%} of the y range, spikes kept "
            f"{spikes_kept:.0%}"
        )
        key = "minmax" if name == "min/max" else "minmaxlttb"
        figure(
            f"{key}_exact_columns",
            exact * 100,
            "%",
            what=f"{name}: pixel columns drawn exactly",
            better="higher",
        )
        figure(
            f"{key}_spikes", spikes_kept * 100, "%", what=f"{name}: spikes kept", better="higher"
        )
    figure(
        "minmax_ms",
        results["min/max"],
        "ms",
        what="min/max envelope of 1M points to 2,000",
        baseline=results["MinMaxLTTB"],
        against="MinMaxLTTB (ratio 4) on the same points",
    )


if __name__ == "__main__":
    main()
