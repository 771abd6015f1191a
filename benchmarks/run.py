"""Run every benchmark in one go: ``make bench`` (or ``python benchmarks/run.py [NAME ...]``).

Each script prints its own figures as ratios against a baseline it measures in the
same run (raw websockets, the naive approach, the reference Node server), so the
numbers compare on a noisy two-core machine. Nothing here asserts a speed.

The figures the scripts state with ``figures.figure`` are written to
``benchmarks/results.json`` (only when every benchmark ran, so the file always
describes one whole run), and the run fails when a figure beats a baseline that
is called a ceiling: such a baseline would not be one. ``benchmarks/table.py
--write`` then renders the README's table from that file.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from figures import OUT

HERE = Path(__file__).parent
BENCHES = [
    "bench_buffer",
    "bench_aggregate",
    "bench_arrow",
    "bench_capture",
    "bench_widgets",
    "bench_zoom",
    "bench_browser",
    "bench_envelope",
    "bench_client",
    "bench_busy",
    "bench_frames",
    "bench_batch",
    "bench_fanout",
    "bench_connections",
    "bench_redis",
    "soak",
]


def main(names: list[str]) -> int:
    """Run the named benchmarks (default: all) and return the worst exit status."""
    status = 0
    with tempfile.NamedTemporaryFile(prefix="nexus-bench-", suffix=".jsonl") as out:
        env = dict(os.environ, **{OUT: out.name})
        for name in names or BENCHES:
            script = HERE / f"{name}.py"
            if not script.exists():
                print(f"== {name}: no such benchmark")
                status = 2
                continue
            print(f"== {name}", flush=True)
            start = time.perf_counter()
            rc = subprocess.call([sys.executable, str(script)], env=env)
            print(f"== {name}: exit {rc} in {time.perf_counter() - start:.1f} s", flush=True)
            status = max(status, rc)
        figures = [json.loads(line) for line in Path(out.name).read_text().splitlines()]
    broken = [f for f in figures if f["ceiling"] and f["value"] > f["baseline"]]
    for f in broken:
        print(
            f"CEILING BROKEN: {f['bench']} {f['key']} = {f['value']:.4g} {f['unit']} "
            f"is above its ceiling {f['against']} = {f['baseline']:.4g}"
        )
    if names or status:
        print(f"{len(figures)} figures; results.json not written (not a full, clean run)")
    else:
        write(figures)
    return max(status, 1 if broken else 0)


def write(figures: list[dict[str, Any]]) -> None:
    """Write ``results.json``: the figures of one whole run and where they were measured."""
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "figures": figures,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(figures)} figures written to benchmarks/results.json")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
