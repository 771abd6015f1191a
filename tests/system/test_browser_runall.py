"""Run All on each demo notebook in a real JupyterLab: everything it shows stays live.

A reader (or a Binder visitor) clicks Run All and looks away; 5 s and 15 s after
the kernel went idle every plot must still receive new data and no widget may
show an error. Uses the fixtures' machinery in ``tests/helpers/lab.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lab import (
    Lab,
    NotebookPage,
    plots_all_advance,
    poll,
    run_all,
    running_lab,
    wait_until_after,
)
from tests.helpers.paths import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[1-5]-*.ipynb"))

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# What each notebook shows live: plots (count), or a status line whose text changes.
LIVE: dict[str, dict[str, int]] = {
    "01-quickstart.ipynb": {"plots": 1},
    "02-telemetry-dashboard.ipynb": {"plots": 2},
    "03-capture-and-export.ipynb": {"plots": 0},
    "04-your-own-server.ipynb": {"plots": 1, "status": 1},
    "05-explore.ipynb": {"plots": 2, "tables": 2},
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("runall")
    for path in NOTEBOOKS:
        shutil.copyfile(path, root / path.name)
    with running_lab(root) as server:
        yield server


def output_changes(nbp: NotebookPage, index: int, timeout: float = 15) -> None:
    """Wait (bounded) until cell ``index``'s output text (a status line, a table) changes."""
    before = nbp.output_text(index)
    changed = poll(lambda: (t := nbp.output_text(index)) != before and t, timeout, step=0.3)
    assert changed, f"the output of cell {index} did not change: {before!r}"


def status_cell(nbp: NotebookPage) -> int:
    return next(i for i, src in enumerate(nbp.cell_sources()) if "StatusBar(" in src)


def table_cells(nbp: NotebookPage) -> list[int]:
    return [i for i, src in enumerate(nbp.cell_sources()) if "LiveTable(" in src]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_run_all_leaves_every_view_live_5_and_15_seconds_after_the_kernel_went_idle(
    path: Path, lab: Lab, page: Any
) -> None:
    nbp = NotebookPage(page, lab).open(path.name)
    idle = run_all(nbp)
    live = LIVE[path.name]
    try:
        for at in (5, 15):
            wait_until_after(idle, at)
            if live["plots"]:
                plots_all_advance(nbp, live["plots"])
            if live.get("status"):
                output_changes(nbp, status_cell(nbp))
            if live.get("tables"):
                tables = table_cells(nbp)
                assert len(tables) == live["tables"], tables
                for index in tables:  # a live aggregate's rows change as events arrive
                    output_changes(nbp, index)
            assert not nbp.cells_busy(), (
                "a cell was running: updates must come from the idle kernel"
            )
            assert nbp.widget_error_text() == ""
            assert nbp.widget_console_errors() == []
        errors = nbp.page.evaluate(
            "() => Array.from(document.querySelectorAll('.jp-OutputArea-output"
            '[data-mime-type="application/vnd.jupyter.stderr"]\')).map(e => e.innerText)'
        )
        assert not [e for e in errors if "Traceback" in e or "Error" in e], errors
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{nbp.diagnostics()}") from None
    finally:
        nbp.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
