"""The benchmarks' bookkeeping: stated figures, ceilings and the docs' table built from them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import BENCHMARKS

# benchmarks/ is a folder of scripts, not a package: its modules import each other by name.
sys.path.insert(0, str(BENCHMARKS))

import figures
import table


def test_the_performance_page_table_is_the_one_rendered_from_the_committed_results() -> None:
    results = json.loads(table.RESULTS.read_text())
    assert table.block(table.PAGE.read_text()) == table.render(results)


def test_the_readme_carries_no_benchmark_table() -> None:
    # The figures live on the docs' performance page only, where the test above
    # keeps them in step with results.json; a copy in the README would drift.
    assert table.START not in (table.HERE.parent / "README.md").read_text()


def test_no_committed_figure_beats_a_baseline_called_a_ceiling() -> None:
    rows = json.loads(table.RESULTS.read_text())["figures"]
    broken = [r["key"] for r in rows if r["ceiling"] and r["value"] > r["baseline"]]
    assert rows
    assert broken == []


def test_a_figure_is_appended_as_one_json_line_under_make_bench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "figures.jsonl"
    monkeypatch.setenv(figures.OUT, str(out))
    figures.figure("a", 1.5, "ms", what="first")
    figures.figure("b", 2.0, "ev/s", what="second", baseline=4.0, against="raw", ceiling=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["key"], r["value"], r["ceiling"]) for r in rows] == [
        ("a", 1.5, False),
        ("b", 2.0, True),
    ]


def test_a_figure_outside_make_bench_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(figures.OUT, raising=False)
    monkeypatch.chdir(tmp_path)
    figures.figure("a", 1.0, "ms", what="alone")
    assert list(tmp_path.iterdir()) == []


def test_a_ceiling_without_a_baseline_is_refused() -> None:
    with pytest.raises(ValueError, match="a ceiling needs a baseline"):
        figures.figure("a", 1.0, "ms", what="x", ceiling=True)


def test_a_ratio_reads_as_times_better_whichever_way_the_figure_improves() -> None:
    cheaper = {"value": 0.5, "baseline": 500.0, "better": "lower"}
    faster = {"value": 700_000.0, "baseline": 100_000.0, "better": "higher"}
    assert table.ratio(cheaper) == "1,000x"
    assert table.ratio(faster) == "7.00x"
    assert table.ratio({"value": 1.0, "baseline": None, "better": "lower"}) == "—"
