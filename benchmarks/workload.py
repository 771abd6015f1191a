"""What the in-process benchmarks feed and how they time it.

The reference metric event (one per millisecond, eight sources, four metric
names), the same events as 100-event columnar batches as a client decodes them,
and median wall and CPU time over a few runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from nexus_nb.columnar import format_timestamp
from nexus_nb.protocol import EventColumns, event_columns

BASE = 1_762_134_840_000_000_000
NAMES = ("cpu_usage", "memory_usage", "disk_io", "network_rx")
CHANNEL = "telemetry.metrics"


def metric(i: int, channel: str = CHANNEL) -> dict[str, Any]:
    """The ``i``-th reference metric event message, ``seq`` ``i + 1``."""
    stamp = format_timestamp(BASE + i * 1_000_000)
    return {
        "type": "event",
        "channel": channel,
        "timestamp": stamp,
        "data": {
            "event_type": "system.metric",
            "source": f"server-{i % 8:02d}",
            "metric_name": NAMES[i % 4],
            "value": (i * 7919 % 1000) / 10,
            "timestamp": stamp,
        },
        "seq": i + 1,
    }


def columnar(messages: Sequence[dict[str, Any]], batch: int = 100) -> list[EventColumns]:
    """The messages (of one channel) as columnar batches, encoded and decoded as on the wire."""
    chunks = [messages[i : i + batch] for i in range(0, len(messages), batch)]
    return [
        EventColumns.from_message(
            orjson.loads(
                event_columns(
                    chunk[0]["channel"],
                    [m["seq"] for m in chunk],
                    [m["timestamp"] for m in chunk],
                    [m["data"] for m in chunk],
                )
            )
        )
        for chunk in chunks
    ]


class Timing:
    """Median wall and CPU seconds of a few runs."""

    def __init__(self, wall: float, cpu: float) -> None:
        self.wall = wall
        self.cpu = cpu

    def __truediv__(self, count: float) -> Timing:
        return Timing(self.wall / count, self.cpu / count)


def median_time(run: Callable[[], object], repeats: int = 3) -> Timing:
    """Median wall and CPU time of ``run`` in seconds.

    On a shared machine wall time also counts waiting for a core, so ratios use CPU.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return Timing(statistics.median(walls), statistics.median(cpus))
