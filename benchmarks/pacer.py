"""A Nexus server that publishes numbered events at a fixed rate, on demand, in its own process.

Run as a script: ``python benchmarks/pacer.py KEY [RETENTION] [SLOW_TIMEOUT]``.
It prints its URL, then for each ``go TOTAL RATE`` line on stdin publishes
TOTAL events ``{"n": 1, 2, ..., "value", "note"}`` on ``telemetry.metrics``
(frames of about 350 bytes, as the demo's) at RATE per second, in steps of
5 ms, and prints ``done``. In a process of its own its pace does not depend on
a reader that blocks its loop (a busy "cell") or holds the GIL: ``bench_busy``
and the busy-cell tests both drive it.
"""

from __future__ import annotations

import asyncio
import sys

from nexus_nb.server import aserve

CHANNEL = "telemetry.metrics"
NOTE = "x" * 200


async def main(key: str, retention: int = 10_000, slow_timeout: float = 10.0) -> None:
    """Serve until stdin ends, publishing one paced run per ``go`` line."""
    loop = asyncio.get_running_loop()
    async with aserve(
        api_key=key, demo=False, retention=retention, slow_timeout=slow_timeout
    ) as server:
        print(server.url, flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            _, total, rate = line.split()
            count, pace, sent, start = int(total), float(rate), 0, loop.time()
            while sent < count:
                due = min(count, int((loop.time() - start) * pace) + 1)
                while sent < due:
                    sent += 1
                    server.publish(CHANNEL, {"n": sent, "value": float(sent), "note": NOTE})
                await asyncio.sleep(0.005)
            print("done", flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    retention = int(args[1]) if len(args) > 1 else 10_000
    slow_timeout = float(args[2]) if len(args) > 2 else 10.0
    asyncio.run(main(args[0], retention, slow_timeout))
