"""Zoom re-render cost with 1M rows buffered, against a full-buffer baseline in the same run.

Prints kernel time for ``read_range`` (locate the range with searchsorted, read
only its rows, min/max envelope over the budget) and the bytes per trace it
would send, next to ``to_dataframe()`` + boolean filter + ``decimate_minmax``,
both on a full :class:`~nexus_nb.buffer.RingBuffer` of 1M metric events fed as
the client feeds it (batches of 100). Median of 3, CPU time.

Targets: under 50 ms of kernel time and under 64 KB per trace.
"""

from __future__ import annotations

import numpy as np
from figures import figure
from workload import median_time, metric

from nexus_nb.buffer import RingBuffer
from nexus_nb.widgets.decimate import decimate_minmax
from nexus_nb.widgets.zoomrange import read_range

ROWS = 1_000_000
MAX_POINTS = 2000


def main() -> None:
    """Print the figures."""
    buf = RingBuffer("telemetry.metrics", maxlen=ROWS)
    for start in range(0, ROWS, 100):  # one event per ms: time in arrival order
        buf.extend([metric(i) for i in range(start, start + 100)])
    _, cols = buf.read(["timestamp"])
    ms = (cols["timestamp"] // 1000) / 1000.0
    for label, rows in (("500 rows", 500), ("100k rows", 100_000), ("all 1M rows", ROWS)):
        lo_i = max(0, ROWS // 2 - rows // 2) if rows < ROWS else 0
        lo, hi = float(ms[lo_i]), float(ms[min(ROWS - 1, lo_i + rows - 1)])

        def zoom(lo: float = lo, hi: float = hi) -> dict[object, tuple[np.ndarray, np.ndarray]]:
            return read_range(buf, x="timestamp", ys=["value"], color=None, facet=None,
                              start=lo, end=hi, max_points=MAX_POINTS)  # fmt: skip

        def baseline(lo: float = lo, hi: float = hi) -> tuple[np.ndarray, np.ndarray]:
            df = buf.to_dataframe()
            x = df["timestamp"].astype("int64").to_numpy() / 1e6
            keep = (x >= lo) & (x <= hi)
            return decimate_minmax(x[keep], df["value"].to_numpy()[keep], buckets=MAX_POINTS // 4)

        arrays = zoom()
        nbytes = max(x.nbytes + y.nbytes for x, y in arrays.values())
        z, b = median_time(zoom).cpu * 1e3, median_time(baseline).cpu * 1e3
        print(f"zoom {label:>11}: {z:7.2f} ms, {nbytes / 1024:5.1f} KB/trace; "
              f"to_dataframe+filter+decimate {b:7.2f} ms; ratio {b / z:5.1f}x")  # fmt: skip
        key = label.split()[0].replace("all", "1m").lower()
        figure(
            f"zoom_{key}",
            z,
            "ms",
            what=f"zoomed re-render of {label} of 1M buffered",
            baseline=b,
            against="`to_dataframe()` + filter + decimate",
        )
        figure(f"zoom_{key}_kb", nbytes / 1024, "KB/trace", what=f"zoomed frame, {label}")


if __name__ == "__main__":
    main()
