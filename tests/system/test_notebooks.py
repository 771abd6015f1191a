"""The demo notebooks run top to bottom under a real kernel and are committed clean.

Run as a script to strip outputs before committing::

    .venv/bin/python -m tests.system.test_notebooks --strip notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.helpers.notebook import execute_notebook, stop_code
from tests.helpers.paths import ROOT

ALL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# 05-explore is executed by tests/system/test_notebook_explore.py, which checks what it shows.
NOTEBOOKS = [p for p in ALL_NOTEBOOKS if p.stem != "05-explore"]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
CLOSES_A_VIEW = re.compile(r"\b(stream|plot|dashboard|alerts|status)\.a?close\(\)")
# What each notebook must show besides live rows.
EXPECTED: dict[str, dict[str, bool]] = {
    "01-quickstart.ipynb": {"dataframe": True, "widget": True},
    "02-telemetry-dashboard.ipynb": {"dataframe": False, "widget": True},
    "03-capture-and-export.ipynb": {"dataframe": True, "widget": False},
    "04-your-own-server.ipynb": {"dataframe": False, "widget": True},
}


def strip(nb: Any) -> bool:
    """Remove outputs, execution counts and widget state in place; True if changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.get("outputs"):
                cell.outputs = []
                changed = True
            if cell.get("execution_count") is not None:
                cell.execution_count = None
                changed = True
        for key in ("execution", "collapsed", "scrolled"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    if "widgets" in nb.metadata:
        del nb.metadata["widgets"]
        changed = True
    return changed


def outputs(nb: Any) -> list[Any]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def output_text(nb: Any) -> str:
    parts = []
    for out in outputs(nb):
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out and "text/plain" in out.data:
            parts.append(out.data["text/plain"])
    return "\n".join(parts)


def has_dataframe_with_rows(nb: Any) -> bool:
    return any(
        "<table" in html and re.search(r"<tbody>\s*<tr", html)
        for out in outputs(nb)
        if (html := out.get("data", {}).get("text/html"))
    )


def has_frozen_views(nb: Any) -> bool:
    """After the stop code, each view's widget output is replaced by its last frame."""
    datas = [out.get("data", {}) for out in outputs(nb)]
    frozen = [d for d in datas if "nnb-snapshot" in (h := d.get("text/html", "")) or "<table" in h]
    return bool(frozen) and not any(WIDGET_MIME in d for d in datas)


def test_committed_notebooks_have_no_outputs_counts_or_widget_state() -> None:
    assert len(ALL_NOTEBOOKS) == 5, [p.name for p in ALL_NOTEBOOKS]
    for path in ALL_NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.nbformat == 4
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name
        assert not strip(nb), (
            f"{path.name} has outputs: run python -m tests.system.test_notebooks --strip"
        )


def test_notebooks_print_no_test_scaffolding_and_do_not_close_what_they_show() -> None:
    for path in ALL_NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "NB_OK" not in code, path.name
        assert not CLOSES_A_VIEW.search(code), f"{path.name} closes what it shows"
        stop = stop_code(nb)
        assert "stream.close()" in stop, f"{path.name}: the closing cell must show how to stop"
        assert "await" not in code + stop, f"{path.name}: the notebooks make plain calls"


def test_strip_removes_outputs_counts_and_widget_state() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1")
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("stream", text="x")]
    nb.cells = [cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}

    assert strip(nb)
    assert (cell.outputs, cell.execution_count, "widgets" in nb.metadata) == ([], None, False)
    assert not strip(nb)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_unattended_and_shows_live_data(path: Path, tmp_path: Path) -> None:
    nb = execute_notebook(path, tmp_path)

    assert nb.metadata["nnb_rows"] > 0
    assert "Traceback" not in output_text(nb)
    assert nb.metadata["nnb_tasks_left"] == "", "tasks left running after the stop code"
    expected = EXPECTED[path.name]
    if expected["dataframe"]:
        assert has_dataframe_with_rows(nb), "no DataFrame with rows in the outputs"
    if expected["widget"]:
        assert has_frozen_views(nb), "the closed views left no last frame (or a widget) behind"
    # Captures land in the temp copy, never in the repository.
    assert not list((ROOT / "notebooks").glob("*.parquet"))
    assert not (ROOT / "notebooks" / "captures").exists()


@pytest.mark.notebook
@pytest.mark.parametrize("name", ["01-quickstart.ipynb", "02-telemetry-dashboard.ipynb"])
def test_kernel_shutdown_with_everything_live_prints_no_warning_or_traceback(
    name: str, tmp_path: Path
) -> None:
    nb = execute_notebook(ROOT / "notebooks" / name, tmp_path, stop=False)

    assert nb.metadata["nnb_rows"] > 0
    assert nb.metadata["nnb_kernel_log"] == "", nb.metadata["nnb_kernel_log"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Strip outputs from notebooks in place.")
    parser.add_argument("--strip", nargs="+", type=Path, required=True, metavar="NOTEBOOK")
    args = parser.parse_args(argv)
    for path in args.strip:
        nb = nbformat.read(path, as_version=4)
        if strip(nb):
            nbformat.write(nb, path)
            print(f"stripped {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
