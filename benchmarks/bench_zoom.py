"""Zoom re-render cost with 1M rows buffered, against a full-buffer baseline in the same run.

Prints kernel time for ``read_range`` (locate the range with searchsorted, read
only its rows, min/max envelope over the budget) and the bytes per trace it
would send, next to ``to_dataframe()`` + boolean filter + ``decimate_minmax``.
The source is the in-memory test double (numpy columns), not a RingBuffer.
"""

from __future__ import annotations

import time

import numpy as np

from nexus_nb.widgets.decimate import decimate_minmax
from nexus_nb.widgets.testing import MemorySource
from nexus_nb.widgets.zoomrange import read_range

ROWS = 1_000_000
T0 = 1_700_000_000_000  # ms


def _best(fn: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times) * 1000.0


def main() -> None:
    """Print the figures."""
    src = MemorySource(maxlen=ROWS)
    ms = np.arange(ROWS, dtype=np.int64)
    src.append(
        {"timestamp": (T0 + ms) * 1_000_000, "value": np.random.default_rng(0).normal(size=ROWS)}
    )
    for label, span in (("500 rows", 499), ("100k rows", 99_999), ("all 1M rows", ROWS - 1)):
        lo, hi = float(T0 + 400_000), float(T0 + 400_000 + span)
        if span == ROWS - 1:
            lo, hi = float(T0), float(T0 + span)

        def zoom(lo: float = lo, hi: float = hi) -> dict[object, tuple[np.ndarray, np.ndarray]]:
            return read_range(src, x="timestamp", ys=["value"], color=None, facet=None,
                              start=lo, end=hi, max_points=2000)  # fmt: skip

        def baseline(lo: float = lo, hi: float = hi) -> tuple[np.ndarray, np.ndarray]:
            df = src.to_dataframe()
            x = df["timestamp"].astype("int64").to_numpy() / 1e6
            keep = (x >= lo) & (x <= hi)
            return decimate_minmax(x[keep], df["value"].to_numpy()[keep], buckets=500)

        arrays = zoom()
        nbytes = sum(x.nbytes + y.nbytes for x, y in arrays.values())
        z, b = _best(zoom), _best(baseline)
        print(f"zoom {label:>11}: {z:7.2f} ms, {nbytes / 1024:5.1f} KB/trace; "
              f"to_dataframe+filter+decimate {b:7.2f} ms; ratio {b / z:5.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
