"""``to_arrow()`` of 1M buffered rows against ``pa.Table.from_pandas(buf.to_dataframe())``.

Run: ``.venv/bin/python benchmarks/bench_arrow.py`` (about 30-60 s, one core).
Memory is what ``to_arrow()`` holds once it returns: the numpy copies Arrow wraps
(``tracemalloc``) plus Arrow's own buffers (``pa.total_allocated_bytes`` growth),
against one copy of the data (the frame's ``memory_usage``).

Targets: under 20 ms for 1M rows; no more memory than one copy of the data.
"""

from __future__ import annotations

import tracemalloc

import pyarrow as pa
from figures import figure
from workload import median_time, metric

from nexus_nb.buffer import RingBuffer

ROWS = 1_000_000


def main() -> None:
    pool = [metric(i) for i in range(50_000)]
    buf = RingBuffer("telemetry.metrics", maxlen=ROWS)
    while buf.appended < ROWS:
        buf.extend(pool[: ROWS - buf.appended])
    frame_time = median_time(buf.to_dataframe)
    arrow_time = median_time(buf.to_arrow)
    base_time = median_time(lambda: pa.Table.from_pandas(buf.to_dataframe()))
    frame = buf.to_dataframe()
    frame_bytes = int(frame.memory_usage(deep=False, index=False).sum())
    tracemalloc.start()
    before = pa.total_allocated_bytes()
    table = buf.to_arrow()
    arrow_own = pa.total_allocated_bytes() - before + tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"rows: {len(buf)}, columns: {table.num_columns}")
    print(f"to_dataframe():                       {frame_time.cpu * 1e3:7.1f} ms CPU")
    print(f"to_arrow():                           {arrow_time.cpu * 1e3:7.1f} ms CPU (target < 20)")
    print(f"from_pandas(to_dataframe()) baseline: {base_time.cpu * 1e3:7.1f} ms CPU")
    print(f"ratio to_arrow / baseline: {arrow_time.cpu / base_time.cpu:.2f}")
    figure(
        "to_arrow_1m",
        arrow_time.cpu * 1e3,
        "ms",
        what="`to_arrow()` of 1M rows",
        baseline=base_time.cpu * 1e3,
        against="`pa.Table.from_pandas(to_dataframe())`",
    )
    figure(
        "to_arrow_memory",
        arrow_own / 1e6,
        "MB",
        what="memory `to_arrow()` of 1M rows holds",
        baseline=frame_bytes / 1e6,
        against="one copy of the rows (the frame's `memory_usage`)",
    )
    print(
        f"memory: to_arrow() holds {arrow_own / 1e6:.1f} MB, one copy (the frame) is "
        f"{frame_bytes / 1e6:.1f} MB (x{arrow_own / max(frame_bytes, 1):.2f})"
    )


if __name__ == "__main__":
    main()
