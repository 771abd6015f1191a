"""Figures a benchmark states, collected by ``make bench`` into ``benchmarks/results.json``.

A script prints its own table for people and also calls :func:`figure` for each
number the README quotes. Under ``benchmarks/run.py`` (which sets
``NEXUS_BENCH_OUT``) every call appends one JSON line to that file; run alone, a
script writes nothing. ``run.py`` then writes ``results.json`` and checks every
*ceiling*: a baseline that no implementation can beat (raw receive, a bare
broadcast), so ``value / baseline`` above 1 means the baseline is wrong and the
run fails. ``benchmarks/table.py`` renders the README's table from that file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

OUT = "NEXUS_BENCH_OUT"


def figure(
    key: str,
    value: float,
    unit: str,
    *,
    what: str,
    baseline: float | None = None,
    against: str | None = None,
    ceiling: bool = False,
    better: str = "lower",
) -> None:
    """Record one figure of the running benchmark.

    Args:
        key: Stable id within the benchmark (``append_us_1m``).
        value: The figure, in ``unit``.
        unit: What the number counts (``µs/event``, ``events/s``, ``MB``).
        what: One line for the README's "what" column.
        baseline: The same quantity for the baseline, measured in the same run.
        against: What the baseline is (``bare websockets.broadcast()``).
        ceiling: The baseline is an upper bound on ``value`` (checked by ``run.py``).
        better: ``"lower"`` or ``"higher"``: which way the figure improves.

    Raises:
        ValueError: A ceiling without a baseline, or ``better`` not lower/higher.
    """
    if ceiling and baseline is None:
        raise ValueError(f"{key}: a ceiling needs a baseline")
    if better not in ("lower", "higher"):
        raise ValueError(f"{key}: better must be 'lower' or 'higher', not {better!r}")
    path = os.environ.get(OUT)
    if not path:
        return
    record = {
        "bench": Path(sys.argv[0]).stem,
        "key": key,
        "value": value,
        "unit": unit,
        "what": what,
        "baseline": baseline,
        "against": against,
        "ceiling": ceiling,
        "better": better,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
