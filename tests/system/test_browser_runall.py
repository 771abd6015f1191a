"""Run All on each demo notebook in a real JupyterLab: everything it shows stays live.

A reader (or a Binder visitor) clicks Run All and looks away; 5 s and 15 s after
the kernel went idle every plot must still receive new data and no widget may
show an error; the page received plotly.js once, however many plots it shows.
Saved from JupyterLab with its "save widget state" setting on, the notebook
holds plotly.js at most once (the views' state holds only their own frames).
And Run All ten times over in one page leaves every plot drawing every time.
Uses the fixtures' machinery in ``tests/helpers/lab.py``.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lab import (
    JS_PLOTLY,
    SAVE_WIDGET_STATE,
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
    with running_lab(root, settings=SAVE_WIDGET_STATE) as server:
        yield server


def plotly_copies(path: Path) -> int:
    """How many copies of plotly.js a saved notebook holds, as text or as a base64 buffer.

    As text (a bundle in a widget's ``_esm``, as plotly's ``FigureWidget`` stores:
    two copies, 10 MB, for this dashboard before the views were anywidgets of our
    own) its banner may be gone, but every copy names the ``plotly_react`` event once.
    """
    from nexus_nb.widgets.surface import plotly_js

    data = path.read_bytes()
    head = plotly_js()[:48]  # whole base64 groups: a buffer's encoding starts with these
    text = max(data.count(b"plotly.js v"), data.count(b"plotly_react"))
    return text + data.count(base64.b64encode(head))


def widget_states(path: Path) -> int:
    """How many widget models a saved notebook's ``metadata.widgets`` holds."""
    widgets = json.loads(path.read_text()).get("metadata", {}).get("widgets", {})
    return len(widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))


def output_changes(nbp: NotebookPage, index: int, timeout: float = 15) -> None:
    """Wait (bounded) until cell ``index``'s output text (a status line, a table) changes.

    The output is scrolled into view first: out of sight a view draws nothing.
    """
    nbp.show_output(index)
    drawn = poll(lambda: nbp.output_text(index), timeout, step=0.3)
    assert drawn, f"the output of cell {index} shows nothing in view"
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
    nbp = NotebookPage(page, lab).count_plotly().open(path.name)
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
        if live["plots"]:  # once per page, however many plots (a page asks once)
            assert page.evaluate(JS_PLOTLY)["loaded"]
            assert nbp.plotly_deliveries == 1, nbp.plotly_deliveries
        saved = nbp.save()
        size, copies, states = saved.stat().st_size, plotly_copies(saved), widget_states(saved)
        print(f"{path.name} saved with widget state: {size:,} bytes, {states} widget models,")
        print(f"  {copies} copies of plotly.js")
        if any(live.values()):
            assert states > 0, "the lab did not save the widget state"
        assert copies <= 1, f"{copies} copies of plotly.js in the saved notebook"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{nbp.diagnostics()}") from None
    finally:
        nbp.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")


EXPLORE = ROOT / "notebooks" / "05-explore.ipynb"
RUNS = 10


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_run_all_ten_times_in_one_page_leaves_every_plot_drawing_every_time(
    lab: Lab, page: Any
) -> None:
    # A copy of its own: the parametrized test above saves 05 with its outputs.
    name = f"again-{EXPLORE.name}"
    shutil.copyfile(EXPLORE, lab.root / name)
    nbp = NotebookPage(page, lab).count_plotly().open(name)
    rates = []
    start = time.monotonic()
    try:
        for run in range(RUNS):
            began = time.monotonic()
            run_all(nbp)
            plots_all_advance(nbp, LIVE[EXPLORE.name]["plots"])
            assert nbp.widget_error_text() == "", run
            assert nbp.widget_console_errors() == [], run
            # Kernel messages a second now: earlier runs' views, whose outputs Run All
            # cleared, must not keep sending (or the rate grows run by run).
            frames, at = nbp.kernel_frames, time.monotonic()
            page.wait_for_timeout(3000)  # Playwright hands frames over while it waits
            rates.append((nbp.kernel_frames - frames) / (time.monotonic() - at))
            print(f"run {run + 1}: {time.monotonic() - began:.1f} s, {rates[-1]:.0f} msg/s")
        print(f"{RUNS} Run Alls in {time.monotonic() - start:.0f} s")
        assert nbp.plotly_deliveries == 1, "plotly.js must come once per page"
        assert rates[-1] <= 2 * rates[0] + 5, f"kernel messages a second grew: {rates}"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{nbp.diagnostics()}") from None
    finally:
        nbp.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
