"""Run every benchmark in one go: ``make bench`` (or ``python benchmarks/run.py [NAME ...]``).

Each script prints its own figures as ratios against a baseline it measures in the
same run (raw websockets, the naive approach, the reference Node server), so the
numbers compare on a noisy two-core machine. Nothing here asserts a speed.

``--runs N`` (``make bench`` runs 3) runs the whole set N times, one after the
other. The figures the scripts state with ``figures.figure`` are written to
``benchmarks/results.json`` as the median of the runs, with every run's value
and its ratio to the baseline of the same run (only when every benchmark ran
cleanly every time, so the file always describes whole runs), and the run
fails when a median beats a baseline that is called a ceiling: such a baseline
would not be one. ``benchmarks/table.py --write`` then renders the docs' table
from that file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
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


def run_once(names: list[str]) -> tuple[int, list[dict[str, Any]]]:
    """Run the named benchmarks once; return the worst exit status and their figures."""
    status = 0
    with tempfile.NamedTemporaryFile(prefix="nexus-bench-", suffix=".jsonl") as out:
        env = dict(os.environ, **{OUT: out.name})
        for name in names:
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
    return status, figures


def combine(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per figure: the median of the runs' values and baselines, and each run's.

    ``ratios`` holds each run's value over that same run's baseline: the claim the
    docs make is a ratio within one run, never across runs.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for figures in runs:
        for f in figures:
            row = rows.setdefault((f["bench"], f["key"]), {**f, "runs": [], "baselines": []})
            row["runs"].append(f["value"])
            row["baselines"].append(f["baseline"])
    for row in rows.values():
        row["value"] = statistics.median(row["runs"])
        bases = [b for b in row["baselines"] if b is not None]
        row["baseline"] = statistics.median(bases) if bases else None
        row["ratios"] = [
            v / b if b else None for v, b in zip(row["runs"], row["baselines"], strict=True)
        ]
    return list(rows.values())


def main(names: list[str], runs: int) -> int:
    """Run the named benchmarks (default: all) ``runs`` times; return the worst exit status."""
    status = 0
    results = []
    for index in range(runs):
        print(f"==== run {index + 1} of {runs}", flush=True)
        rc, figures = run_once(names or BENCHES)
        status = max(status, rc)
        results.append(figures)
    figures = combine(results)
    broken = [f for f in figures if f["ceiling"] and f["value"] > f["baseline"]]
    for f in broken:
        print(
            f"CEILING BROKEN: {f['bench']} {f['key']} = {f['value']:.4g} {f['unit']} "
            f"is above its ceiling {f['against']} = {f['baseline']:.4g}"
        )
    if names or status:
        print(f"{len(figures)} figures; results.json not written (not a full, clean run)")
    else:
        write(figures, runs)
    return max(status, 1 if broken else 0)


def write(figures: list[dict[str, Any]], runs: int) -> None:
    """Write ``results.json``: the figures of whole runs and where they were measured."""
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "runs": runs,
        "figures": figures,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(figures)} figures written to benchmarks/results.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--runs", type=int, default=1, help="whole runs; figures are medians")
    args = parser.parse_args()
    sys.exit(main(args.names, args.runs))
