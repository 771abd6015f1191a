"""What live aggregates cost per event: one and four ``resample``/``latest`` views.

Run: ``.venv/bin/python benchmarks/bench_aggregate.py`` (about 20-60 s, one core).
Baseline, in the same run: the buffer alone (extend in batches of 100). The cost
of an aggregate is (buffer with views - buffer alone) / events / views, CPU time.

Targets: <= 1 us per event per aggregate; flat in the buckets held (the same
stream folded into 1 s buckets with 10 and with 1000 buckets held).
"""

from __future__ import annotations

from typing import Any

from figures import figure
from workload import Timing, median_time, metric

from nexus_nb.buffer import RingBuffer

EVENTS = 200_000
BATCH = 100


def run(messages: list[dict[str, Any]], views: int, max_buckets: int = 1000) -> Timing:
    chunks = [messages[i : i + BATCH] for i in range(0, len(messages), BATCH)]

    def go() -> None:
        buf = RingBuffer("telemetry.metrics", maxlen=100_000)
        makers = [
            lambda: buf.resample("1s", by="source", agg={"value": "mean"}, max_buckets=max_buckets),
            lambda: buf.resample("1s", by="metric_name", agg={"value": ["p95", "max"]}),
            lambda: buf.latest(by="source"),
            lambda: buf.resample("100ms", agg={"value": ["sum", "count"]}),
        ]
        for make in makers[:views]:
            make()
        for chunk in chunks:
            buf.extend(chunk)
        len(buf)

    return median_time(go)


def main() -> None:
    messages = [metric(i) for i in range(EVENTS)]  # 1 ms apart: 1000 events a second
    base = run(messages, 0)
    print(f"buffer alone:        {base.cpu / EVENTS * 1e9:8.0f} ns/event (CPU)")
    for views in (1, 4):
        t = run(messages, views)
        per = (t.cpu - base.cpu) / EVENTS / views
        print(
            f"{views} aggregate(s):      {t.cpu / EVENTS * 1e9:8.0f} ns/event, "
            f"{per * 1e9:6.0f} ns/event/aggregate (target <= 1000), "
            f"x{t.cpu / base.cpu:.2f} of the buffer alone"
        )
        figure(
            f"per_aggregate_{views}",
            per * 1e9,
            "ns/event/aggregate",
            what=f"maintaining {views} live aggregate(s), per event and aggregate",
            baseline=base.cpu / EVENTS * 1e9,
            against="`RingBuffer.extend` alone, per event",
        )
    few = run(messages, 1, max_buckets=10)
    many = run(messages, 1, max_buckets=1000)
    print(
        f"buckets held 10 vs 1000: {(few.cpu - base.cpu) / EVENTS * 1e9:.0f} vs "
        f"{(many.cpu - base.cpu) / EVENTS * 1e9:.0f} ns/event (ratio {many.cpu / few.cpu:.2f})"
    )
    figure(
        "buckets_1000",
        (many.cpu - base.cpu) / EVENTS * 1e9,
        "ns/event",
        what="one aggregate holding 1000 buckets",
        baseline=(few.cpu - base.cpu) / EVENTS * 1e9,
        against="the same holding 10",
    )


if __name__ == "__main__":
    main()
