"""Run every benchmark in one go: ``make bench`` (or ``python benchmarks/run.py [NAME ...]``).

Each script prints its own figures as ratios against a baseline it measures in the
same run (raw websockets, the naive approach, the reference Node server), so the
numbers compare on a noisy two-core machine. Nothing here asserts a speed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = [
    "bench_buffer",
    "bench_capture",
    "bench_widgets",
    "bench_zoom",
    "bench_client",
    "bench_batch",
    "bench_fanout",
    "bench_redis",
    "soak",
]


def main(names: list[str]) -> int:
    """Run the named benchmarks (default: all that exist) and return the worst exit status."""
    status = 0
    for name in names or BENCHES:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"== {name}: not present, skipped")
            continue
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"== {name}: exit {rc} in {time.perf_counter() - start:.1f} s", flush=True)
        status = max(status, rc)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
