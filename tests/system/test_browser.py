"""The live widgets render and keep updating in a real JupyterLab in headless Chromium.

Machinery (isolated lab, Chromium, probes) lives in ``tests/helpers/lab.py`` and
follows ``../shared/JUPYTER.md`` (beside the checkout). Each test starts its own lab on a free
127.0.0.1 port and stops it (``POST /api/shutdown``, then its own process group).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lab import (
    JS_PLOTLY,
    Lab,
    NotebookPage,
    each_plot_advances,
    plots_all_advance,
    poll,
    running_lab,
    write_notebook,
)
from tests.helpers.paths import ROOT

QUICKSTART = ROOT / "notebooks" / "01-quickstart.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

# The README's plain calls, as a reader types them.
WIDGET_CELLS = [
    "import nexus_nb as nnb\n"
    "server = nnb.serve()\n"
    "stream = nnb.connect(server.url, api_key=server.api_key)\n"
    'stream.subscribe(["telemetry.metrics", "system.alerts"])\n'
    'stream.wait_for("telemetry.metrics", rows=5, timeout=10)',
    "nnb.StatusBar(stream)",
    'nnb.LiveTable(stream["telemetry.metrics"], rows=10)',
    'stream.close(); server.close()\nprint("CLOSED_OK")',
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copyfile(QUICKSTART, root / QUICKSTART.name)
    write_notebook(root / "widgets.ipynb", WIDGET_CELLS)
    with running_lab(root) as server:
        yield server


def assert_no_widget_errors(nbp: NotebookPage) -> None:
    assert nbp.widget_error_text() == ""
    assert nbp.widget_console_errors() == []


def test_quickstart_plot_keeps_receiving_points_while_no_cell_runs(lab: Lab, page: Any) -> None:
    nbp = NotebookPage(page, lab).count_plotly().open(QUICKSTART.name)
    sources = nbp.cell_sources()

    nbp.run_cells(0, len(sources), timeout=60)  # every cell has finished after this
    first = poll(lambda: (s := nbp.plot_state())["points"] > 0 and s, 30)
    assert first, f"no points in the page's plot: {nbp.plot_state()}"
    later = poll(lambda: (s := nbp.plot_state())["points"] > first["points"] and s, 20, step=0.5)
    assert later, f"plot stuck at {first} while the kernel sat idle"
    assert later["last"] > first["last"]
    assert not nbp.cells_busy(), "a cell was running: the growth must come from the idle kernel"
    assert_no_widget_errors(nbp)
    assert page.evaluate(JS_PLOTLY)["loaded"]
    assert nbp.plotly_deliveries == 1


def test_live_table_rows_change_and_status_bar_shows_the_connection_open(
    lab: Lab, page: Any
) -> None:
    nbp = NotebookPage(page, lab).open("widgets.ipynb")
    nbp.run_cells(0, 3, timeout=60)

    status = poll(lambda: "open" in (t := nbp.output_text(1)).lower() and t, 20)
    assert status, f"status bar does not show an open connection: {nbp.output_text(1)!r}"
    table = poll(lambda: "\t" in (t := nbp.output_text(2)) and t, 20)
    assert table, f"no table rows rendered: {nbp.output_text(2)!r}"
    changed = poll(lambda: (t := nbp.output_text(2)) != table and "\t" in t and t, 20)
    assert changed, "the live table did not change while events arrived"
    assert_no_widget_errors(nbp)

    nbp.run_cells(3, 4, timeout=30)
    assert "CLOSED_OK" in nbp.output_text(3)


def test_a_reload_and_a_second_tab_rebuild_the_plot_from_the_kernel_and_keep_it_live(
    lab: Lab, page: Any
) -> None:
    nbp = NotebookPage(page, lab).count_plotly().open(QUICKSTART.name)
    nbp.run_cells(0, len(nbp.cell_sources()), timeout=60)
    plots_all_advance(nbp, 1)
    assert page.evaluate(JS_PLOTLY)["loaded"]
    nbp.save()  # the output now names the plot's widget model, as a reopened notebook does
    try:
        # A reload: the widget manager asks the running kernel for every model's state.
        nbp.open(QUICKSTART.name)
        plots_all_advance(nbp, 1)
        assert_no_widget_errors(nbp)
        assert nbp.plotly_deliveries == 2, "plotly.js must come once per page load"
        # A second tab on the same kernel (another window: Playwright gives a page of
        # its own context no sibling): both views draw the frames the kernel sends.
        second = page.context.browser.new_page(viewport=page.viewport_size)
        other = NotebookPage(second, lab).count_plotly().open(QUICKSTART.name)
        each_plot_advances(other.page, 1)
        assert_no_widget_errors(other)
        assert other.plotly_deliveries == 1
        page.bring_to_front()
        each_plot_advances(page, 1)
        other.page.bring_to_front()
        each_plot_advances(other.page, 1)
        assert not nbp.cells_busy(), "the updates must come from the idle kernel"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{nbp.diagnostics()}") from None
