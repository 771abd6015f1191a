"""The demo notebooks run top to bottom under a real kernel and are committed clean.

Run as a script to strip outputs before committing::

    .venv/bin/python tests/system/test_notebooks.py --strip notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.helpers.paths import ROOT

ALL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# 05-explore is executed by tests/system/test_notebook_explore.py, which checks what it shows.
NOTEBOOKS = [p for p in ALL_NOTEBOOKS if p.stem != "05-explore"]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# The test's own cell, run after the notebook's cells in the same kernel: what it
# observes of the notebook's live objects (the notebooks print no test scaffolding).
OBSERVE: dict[str, str] = {
    "01-quickstart.ipynb": "len(df)",
    "02-telemetry-dashboard.ipynb": 'len(stream["telemetry.metrics"])',
    "03-capture-and-export.ipynb": "len(replayed)",
    "04-your-own-server.ipynb": "len(df)",
}
CLOSES_A_VIEW = re.compile(r"\b(stream|plot|dashboard|alerts|status)\.a?close\(\)")
STOP_CODE = re.compile(r"```python\n(.*?)```", re.DOTALL)
# ipykernel's own notice about its TCP transport, printed at every start.
KERNEL_NOTICE = re.compile(
    r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP.*$", re.MULTILINE
)
# Run after the notebook's own cells: lists asyncio tasks still running nexus_nb code
# (coroutines defined in a nexus_nb file).
PROBE = """\
import asyncio as _asyncio


def _left():
    return sorted(
        getattr(t.get_coro(), "__qualname__", "?")
        for t in _asyncio.all_tasks()
        if not t.done()
        and "nexus_nb" in getattr(getattr(t.get_coro(), "cr_code", None), "co_filename", "")
    )


# Tasks may end on their own at their next tick (a frame clock ticks at 10 Hz):
# wait for that, bounded by 2 s.
for _ in range(40):
    if not _left():
        break
    await _asyncio.sleep(0.05)
print("NNB_TASKS_LEFT=" + ",".join(_left()))
"""

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


def stop_code(nb: Any) -> str:
    """The code of the closing markdown cell's ``python`` block: how a reader stops it all."""
    last = nb.cells[-1]
    assert last.cell_type == "markdown", "the last cell must say how to stop"
    match = STOP_CODE.search(last.source)
    assert match, f"the last cell shows no python code to stop: {last.source!r}"
    return match.group(1)


def execute_notebook(
    path: Path,
    workdir: Path,
    *,
    kernel_name: str = "python3",
    timeout: int = 60,
    stop: bool = True,
) -> Any:
    """Execute a copy of ``path`` inside ``workdir`` with a real kernel; return it.

    After the notebook's cells the test's own cells run in the same kernel: one
    prints ``NNB_ROWS=`` (see :data:`OBSERVE`); with ``stop`` the closing markdown
    cell's stop code runs, then a probe prints ``NNB_TASKS_LEFT=`` (the nexus_nb
    tasks still running). Their reports go to ``nb.metadata["nnb_rows"]`` /
    ``["nnb_tasks_left"]`` and the cells are removed again. Without ``stop`` the
    kernel is shut down with everything live; its stdout/stderr is in
    ``nb.metadata["nnb_kernel_log"]``.

    Raises:
        nbclient.exceptions.CellExecutionError: A cell raised.
        nbclient.exceptions.CellTimeoutError: A cell ran longer than ``timeout`` s.
    """
    from nbclient import NotebookClient

    copy = workdir / path.name
    shutil.copyfile(path, copy)
    nb = nbformat.read(copy, as_version=4)
    own = [f'print("NNB_ROWS=" + str({OBSERVE[path.name]}))']
    if stop:
        own += [stop_code(nb), PROBE]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in own]
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        store_widget_state=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    log_path = workdir / "kernel.log"
    with log_path.open("w") as log:
        client.execute(stdout=log, stderr=log)
    nb.metadata["nnb_kernel_log"] = KERNEL_NOTICE.sub("", log_path.read_text()).strip()
    added = [nb.cells.pop() for _ in own][::-1]
    reports = "".join(o.text for c in added for o in c.outputs if o.output_type == "stream")
    rows = re.search(r"NNB_ROWS=(\d+)", reports)
    assert rows, reports
    nb.metadata["nnb_rows"] = int(rows.group(1))
    if stop:
        assert "NNB_TASKS_LEFT=" in reports, reports
        nb.metadata["nnb_tasks_left"] = reports.split("NNB_TASKS_LEFT=", 1)[1].strip()
    nbformat.write(nb, workdir / f"executed-{path.name}")
    return nb


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


def summary_rows(nb: Any) -> int:
    """The rows the test's own cell counted after the notebook ran (see :data:`OBSERVE`)."""
    rows: int = nb.metadata["nnb_rows"]
    return rows


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
        assert not strip(nb), f"{path.name} has outputs: run tests/system/test_notebooks.py --strip"


def test_notebooks_print_no_test_scaffolding_and_do_not_close_what_they_show() -> None:
    for path in ALL_NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "NB_OK" not in code, path.name
        assert not CLOSES_A_VIEW.search(code), f"{path.name} closes what it shows"
        assert "aclose()" in stop_code(nb), f"{path.name}: the closing cell must show how to stop"


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
