"""Run All on each demo notebook in a real JupyterLab: everything it shows stays live.

A reader (or a Binder visitor) clicks Run All and looks away; 5 s and 15 s after
the kernel went idle every plot must still receive new data and no widget may
show an error. Uses the fixtures' machinery in ``conftest_browser.py``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest_browser import Lab, NotebookPage, running_lab, wait_until

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[1-5]-*.ipynb"))

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# The newest x of each plot in the page (NaN for an empty one), in page order.
JS_PLOT_LASTS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => {
  let last = null;
  for (const tr of (gd.data || [])) {
    const xs = tr.x || [];
    if (!xs.length) continue;
    const v = xs[xs.length - 1];
    const n = typeof v === 'number' ? v : Date.parse(v);
    if (!Number.isNaN(n) && (last === null || n > last)) last = n;
  }
  return last;
})"""

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


def run_all(nbp: NotebookPage, timeout: float = 120) -> float:
    """Click Run All (the menu command) and return the monotonic time the kernel went idle."""
    nbp.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # Run All queues every cell at once; wait until some cell shows it is queued or running.
    wait_until(nbp.cells_busy, 10, step=0.1)
    nbp.wait_idle(timeout)
    return time.monotonic()


def plots_all_advance(nbp: NotebookPage, count: int, timeout: float = 15) -> list[float]:
    """Wait (bounded) until every one of ``count`` plots has data newer than now; return it."""
    # The views render in the page after the kernel went idle: wait (bounded) for them.
    shown = wait_until(lambda: len(v := nbp.page.evaluate(JS_PLOT_LASTS)) == count and v, 30)
    before = shown or nbp.page.evaluate(JS_PLOT_LASTS)
    assert len(before) == count, f"expected {count} plots in the page, found {before}"

    def advanced() -> list[float] | None:
        now = nbp.page.evaluate(JS_PLOT_LASTS)
        ok = all(n is not None and (b is None or n > b) for b, n in zip(before, now, strict=True))
        return now if ok else None

    after = wait_until(advanced, timeout, step=0.3)
    assert after, f"a plot stopped updating: {before} -> {nbp.page.evaluate(JS_PLOT_LASTS)}"
    return after


def output_changes(nbp: NotebookPage, index: int, timeout: float = 15) -> None:
    """Wait (bounded) until cell ``index``'s output text (a status line, a table) changes."""
    before = nbp.output_text(index)
    changed = wait_until(lambda: (t := nbp.output_text(index)) != before and t, timeout, step=0.3)
    assert changed, f"the output of cell {index} did not change: {before!r}"


def status_cell(nbp: NotebookPage) -> int:
    return next(i for i, src in enumerate(nbp.cell_sources()) if "StatusBar(" in src)


def table_cells(nbp: NotebookPage) -> list[int]:
    return [i for i, src in enumerate(nbp.cell_sources()) if "LiveTable(" in src]


def wait_until_after(start: float, seconds: float) -> None:
    # Pacing the check points of the test itself, not waiting for a result.
    delay = start + seconds - time.monotonic()
    if delay > 0:
        time.sleep(delay)


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
