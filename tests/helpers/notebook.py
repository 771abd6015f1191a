"""Executing a demo notebook under a real kernel, with the test's own cells after it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import nbformat

from tests.helpers.paths import NOTEBOOKS

# The test's own cell, run after the notebook's cells in the same kernel: what it
# observes of the notebook's live objects (the notebooks print no test scaffolding).
OBSERVE: dict[str, str] = {
    "01-quickstart.ipynb": "len(df)",
    "02-telemetry-dashboard.ipynb": 'len(stream["telemetry.metrics"])',
    "03-capture-and-export.ipynb": "len(replayed)",
    "04-your-own-server.ipynb": "len(df)",
    "05-explore.ipynb": "len(requests)",
}
STOP_CODE = re.compile(r"```python\n(.*?)```", re.DOTALL)
# ipykernel's own notice about its TCP transport, printed at every start.
KERNEL_NOTICE = re.compile(
    r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP.*$", re.MULTILINE
)
# Run after the notebook's own cells: lists asyncio tasks still running nexus_nb code
# (coroutines defined in a nexus_nb file), the threads nexus_nb started that still
# run (a plain call's server or reader), and the frames the frame clock still draws
# in a second (its thread, one per kernel, stays for the next views; a view left
# on a closed stream keeps its last frame and draws nothing).
PROBE = """\
import asyncio as _asyncio
import threading as _threading
from nexus_nb.widgets import FrameClock as _FrameClock


def _left():
    return sorted(
        getattr(t.get_coro(), "__qualname__", "?")
        for t in _asyncio.all_tasks()
        if not t.done()
        and "nexus_nb" in getattr(getattr(t.get_coro(), "cr_code", None), "co_filename", "")
    ) + sorted(
        t.name for t in _threading.enumerate()
        if t.name.startswith("nexus_nb") and t.name != "nexus_nb frames"
    )


# Tasks may end on their own at their next tick (a frame clock ticks at 10 Hz):
# wait for that, bounded by 2 s.
for _ in range(40):
    if not _left():
        break
    await _asyncio.sleep(0.05)
await _asyncio.sleep(1)  # the frames of the last events received before the stop
_frames = _FrameClock.shared().frames
await _asyncio.sleep(1)
_drawn = _FrameClock.shared().frames - _frames
print("NNB_TASKS_LEFT=" + ",".join(_left() + ([f"frames:{_drawn}"] if _drawn else [])))
"""


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
    tasks and threads still running). Their reports go to ``nb.metadata["nnb_rows"]`` /
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


def summary_rows(nb: Any) -> int:
    """The rows the test's own cell counted after the notebook ran (see :data:`OBSERVE`)."""
    rows: int = nb.metadata["nnb_rows"]
    return rows


def execute_all_in(python: Path, workdir: Path, jupyter_path: Path) -> dict[str, int]:
    """Run every demo notebook with a kernel of the interpreter ``python`` (another venv).

    Installs that venv's kernel spec under ``jupyter_path`` (the caller puts it on
    ``JUPYTER_PATH``) and returns, per notebook, the rows its own cell counted.

    Raises:
        nbclient.exceptions.CellExecutionError: A cell raised.
    """
    import subprocess

    subprocess.run(
        [
            str(python),
            "-m",
            "ipykernel",
            "install",
            "--prefix",
            str(jupyter_path.parent.parent),
            "--name",
            "nnb-venv",
            "--display-name",
            "nexus_nb (venv)",
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    rows = {}
    for path in sorted(NOTEBOOKS.glob("0[1-5]-*.ipynb")):
        work = workdir / path.stem
        work.mkdir()
        nb = execute_notebook(path, work, kernel_name="nnb-venv", timeout=90)
        assert nb.metadata["nnb_tasks_left"] == "", (path.name, nb.metadata["nnb_tasks_left"])
        rows[path.name] = summary_rows(nb)
    return rows
