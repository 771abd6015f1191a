"""What recording costs: Recorder to Parquet per event, and reading the capture back.

Baseline in the same run: appending the same events to a RingBuffer (the cost
of having them in memory at all). Cases: one channel as event messages; two
interleaved channels (the recorder then also keeps each channel's own column
order); one channel as 100-event columnar batches (``Stream.record`` on a
``batch=`` subscription).

Run: ``.venv/bin/python benchmarks/bench_capture.py`` (about 10 s, one core).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from figures import figure
from workload import columnar, median_time, metric

from nexus_nb.buffer import RingBuffer
from nexus_nb.capture import Recorder, read_capture
from nexus_nb.protocol import EventColumns

EVENTS = 100_000


def per_event(run: Callable[[], object]) -> float:
    return median_time(run).cpu / EVENTS


def main() -> None:
    one = [metric(i) for i in range(EVENTS)]
    two = [metric(i, ("telemetry.metrics", "telemetry.events")[i % 2]) for i in range(EVENTS)]
    batches = columnar(one)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "capture.parquet"

        def record(items: list[Any]) -> Callable[[], None]:
            def run() -> None:
                with Recorder(path) as recorder:
                    for item in items:
                        if isinstance(item, EventColumns):
                            recorder.write_many(item)
                        else:
                            recorder.write(item)

            return run

        def buffer() -> None:
            ring = RingBuffer(maxlen=EVENTS)
            for message in one:
                ring.append(message)
            len(ring)

        base = per_event(buffer)
        cases = {
            "Recorder, 1 channel, messages": per_event(record(one)),
            "Recorder, 2 channels, messages": per_event(record(two)),
            "Recorder, 1 channel, columnar batches": per_event(record(batches)),
        }
        record(one)()
        read = per_event(lambda: read_capture(path))
        size = path.stat().st_size
    print(f"per event, {EVENTS:,} metric events, Parquet row groups of 10,000 (CPU):")
    print(f"  {'RingBuffer.append (baseline)':40} {base * 1e6:6.2f} µs  (1.00x)")
    for name, cost in cases.items():
        print(f"  {name:40} {cost * 1e6:6.2f} µs  ({cost / base:.2f}x)")
    print(f"  {'read_capture, 1 channel':40} {read * 1e6:6.2f} µs  ({read / base:.2f}x)")
    print(f"capture size: {size / EVENTS:.1f} B per event")
    keys = ("recorder_1", "recorder_2", "recorder_columns")
    for key, (name, cost) in zip(keys, cases.items(), strict=True):
        figure(
            key,
            cost * 1e6,
            "µs/event",
            what=f"{name} to Parquet",
            baseline=base * 1e6,
            against="`RingBuffer.append`",
        )
    figure("read_capture", read * 1e6, "µs/event", what="`read_capture` of 1 channel")
    figure("bytes_on_disk", size / EVENTS, "B/event", what="Parquet capture size")


if __name__ == "__main__":
    main()
