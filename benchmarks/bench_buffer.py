"""What a RingBuffer costs: append and extend per event, export, memory.

Run: ``.venv/bin/python benchmarks/bench_buffer.py`` (about 20-40 s, one core).
Compare the ratios printed in one run; absolute figures drift between machines.
Each figure is the median of a few repeats, timed twice: wall (``perf_counter``)
and this process's CPU (``process_time``). On a shared machine wall time also
counts time the process waited for a core, so the ratios use CPU time.

Targets: append flat within 1.5x from 10k to 1M rows; >= 1000x cheaper than
``pd.concat`` per event (the naive bounded buffer: concatenate a one-row frame,
trim to ``maxlen``, measured at each size, since its cost grows with the frame);
``to_dataframe()`` of 1M rows < 100 ms; < 64 B per buffered metric event.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from figures import figure
from workload import Timing, columnar, median_time, metric

from nexus_nb.buffer import RingBuffer
from nexus_nb.columnar import flatten

POOL = 50_000
TIMED = 100_000


def full_buffer(maxlen: int, pool: list[dict[str, Any]]) -> RingBuffer:
    buffer = RingBuffer("telemetry.metrics", maxlen=maxlen)
    while buffer.appended < maxlen:
        buffer.extend(pool[: maxlen - buffer.appended])
    return buffer


def append_cost(buffer: RingBuffer, pool: list[dict[str, Any]]) -> Timing:
    """Seconds per appended event on a full (evicting) buffer."""
    messages = pool[:TIMED] if len(pool) >= TIMED else (pool * (TIMED // len(pool) + 1))[:TIMED]

    def run() -> None:
        append = buffer.append
        for item in messages:
            append(item)
        len(buffer)  # include moving the staged rows into the columns

    return median_time(run) / TIMED


def extend_cost(buffer: RingBuffer, pool: list[dict[str, Any]], batch: int = 100) -> Timing:
    chunks = [pool[i : i + batch] for i in range(0, len(pool), batch)]

    def run() -> None:
        for chunk in chunks:
            buffer.extend(chunk)
        len(buffer)

    return median_time(run) / (len(chunks) * batch)


def extend_columns_cost(buffer: RingBuffer, pool: list[dict[str, Any]]) -> Timing:
    """Seconds per event stored from decoded columnar batches (what a columnar client gets)."""
    chunks = columnar(pool)

    def run() -> None:
        for chunk in chunks:
            buffer.extend(chunk)
        len(buffer)

    return median_time(run) / len(pool)


def concat_cost(pool: list[dict[str, Any]], *, maxlen: int, count: int) -> Timing:
    """Seconds per event of the naive bounded buffer: one ``pd.concat`` per event, then trim.

    The frame starts full (``maxlen`` rows), as the buffer it is compared with;
    each event is concatenated as a one-row frame and the oldest row cut off.
    """
    rows = [flatten(m) for m in pool]
    start = pd.DataFrame((rows * (maxlen // len(rows) + 1))[:maxlen])
    new = rows[:count]

    def run() -> None:
        frame = start
        for row in new:
            frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True).iloc[-maxlen:]

    pd.concat([start, pd.DataFrame(new[:1])], ignore_index=True)  # warm-up, untimed
    return median_time(run) / count


SIZES = (10_000, 100_000, 1_000_000)
#: Naive concats timed per size (median of 3 runs): few enough at 1M rows.
CONCATS = {10_000: 200, 100_000: 50, 1_000_000: 10}


def main() -> None:
    pool = [metric(i) for i in range(POOL)]
    results: list[tuple[str, Timing, float, str]] = []
    appends: dict[int, Timing] = {}
    concats: dict[int, Timing] = {}
    for maxlen in SIZES:
        buffer = full_buffer(maxlen, pool)
        appends[maxlen] = append_cost(buffer, pool)
        results.append((f"append, maxlen {maxlen:,} (full)", appends[maxlen], 1e6, "µs/event"))
        concats[maxlen] = concat_cost(pool, maxlen=maxlen, count=CONCATS[maxlen])
        results.append(
            (f"pd.concat + trim per event, {maxlen:,} rows", concats[maxlen], 1e6, "µs/event")
        )
    big = buffer
    extend = extend_cost(full_buffer(100_000, pool), pool)
    results.append(("extend, batches of 100, maxlen 100,000", extend, 1e6, "µs/event"))
    columnar = extend_columns_cost(full_buffer(100_000, pool), pool)
    results.append(("extend, columnar batches of 100, maxlen 100,000", columnar, 1e6, "µs/event"))
    export = median_time(big.to_dataframe)
    results.append(("to_dataframe(), 1M rows", export, 1e3, "ms"))
    start = big.appended - 1000
    read = median_time(lambda: big.read(["timestamp", "value", "source"], start=start), 5)
    results.append(("read() of the last 1000 rows of 1M", read, 1e6, "µs"))

    width = max(len(name) for name, *_ in results)
    print(f"{'what':<{width}}  {'wall':>9}  {'cpu':>9}  unit")
    for name, timing, scale, unit in results:
        print(f"{name:<{width}}  {timing.wall * scale:>9.2f}  {timing.cpu * scale:>9.2f}  {unit}")
    print(f"{'memory per buffered event, 1M rows':<{width}}  {big.nbytes / len(big):>9.1f}  B")
    print()
    cpu = {maxlen: timing.cpu for maxlen, timing in appends.items()}
    print(
        f"append cpu 1M / 10k        {cpu[1_000_000] / cpu[10_000]:8.2f}x"
        f"  (max/min {max(cpu.values()) / min(cpu.values()):.2f}x; target <= 1.5x)"
    )
    for maxlen in SIZES:
        ratio = concats[maxlen].cpu / cpu[maxlen]
        print(f"pd.concat / append at {maxlen:>9,} {ratio:6.0f}x  (target >= 1000x)")
    print(f"append / extend (100k)     {cpu[100_000] / extend.cpu:8.2f}x")
    print(f"extend / columnar (100k)   {extend.cpu / columnar.cpu:8.2f}x")
    print(f"to_dataframe 1M            {export.wall * 1e3:8.1f}  ms wall (target < 100 ms)")
    print(f"bytes per event            {big.nbytes / len(big):8.1f}  B (target < 64 B)")
    for maxlen in SIZES:
        figure(
            f"append_{maxlen}",
            cpu[maxlen] * 1e6,
            "µs/event",
            what=f"`RingBuffer.append` per event, maxlen {maxlen:,} (full)",
            baseline=concats[maxlen].cpu * 1e6,
            against="naive bounded `pd.concat` per event",
        )
    figure("extend_100", extend.cpu * 1e6, "µs/event", what="`extend` by 100-event batches")
    figure(
        "extend_columns_100",
        columnar.cpu * 1e6,
        "µs/event",
        what="`extend` by 100-event columnar batches",
        baseline=extend.cpu * 1e6,
        against="`extend` by 100 event messages",
    )
    figure("to_dataframe_1m", export.wall * 1e3, "ms", what="`to_dataframe()` of 1M rows")
    figure("bytes_per_event", big.nbytes / len(big), "B", what="memory per buffered metric event")


if __name__ == "__main__":
    main()
