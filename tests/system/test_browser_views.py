"""Bar and histogram views in a real JupyterLab: they update live with no cell running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lab import NotebookPage, poll, running_lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CELLS = [
    "import nexus_nb as nnb\n"
    "from IPython.display import display\n"
    "server = nnb.serve(rate=200)\n"
    "stream = nnb.connect(server.url, api_key=server.api_key)\n"
    'stream.subscribe(["telemetry.metrics", "ai.requests"])\n'
    "bars = nnb.LivePlot(stream['telemetry.metrics'].latest(by='source'),\n"
    "                    x='source', y='value', color='source', kind='bar')\n"
    "hist = nnb.LivePlot(stream['ai.requests'], x='completion_tokens', kind='histogram',\n"
    "                    window='60s', bins=30, color='status')\n"
    "display(bars)\n"
    "hist",
    "bars.close()\nhist.close()",
]

# Per plot in the page: its traces' type and heights (what the bars show).
JS_BARS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd =>
  (gd.data || []).map(tr => ({type: tr.type, x: Array.from(tr.x || []).length,
                              y: Array.from(tr.y || []).join(',')})))"""

JS_SNAPSHOT_BARS = """() => document.querySelector('.js-plotly-plot') ? null :
  Array.from(document.querySelectorAll('svg.nnb-snapshot')).map(
    s => s.querySelectorAll('g rect').length)"""


def _heights(page: Any) -> list[str] | None:
    """Each plot's heights as one string, once both plots show bars."""
    plots = page.evaluate(JS_BARS)
    if len(plots) != 2 or not all(any(t["y"] for t in traces) for traces in plots):
        return None
    assert all(t["type"] == "bar" for traces in plots for t in traces)
    return ["|".join(t["y"] for t in traces) for traces in plots]


def test_bars_over_latest_and_a_histogram_update_live_and_close_to_real_bars(
    tmp_path: Path, page: Any
) -> None:
    write_notebook(tmp_path / "views.ipynb", CELLS)
    with running_lab(tmp_path) as lab:
        nbp = NotebookPage(page, lab).open("views.ipynb")
        nbp.run_cells(0, 1, timeout=90)
        nbp.show_output(0)  # both plots in sight: out of sight a view draws nothing
        first = poll(lambda: _heights(page), 30)
        assert first, f"the plots got no bars:\n{nbp.diagnostics()}"
        bars, hist = page.evaluate(JS_BARS)
        # One bar per demo source; bins, never raw samples, in the histogram.
        assert sum(t["x"] for t in bars) <= 4
        assert all(t["x"] == 30 for t in hist)
        assert not nbp.cells_busy()

        def changed() -> bool:
            now = _heights(page)
            return bool(now) and all(a != b for a, b in zip(first, now or [], strict=True))

        assert poll(changed, 10, step=0.1), f"no live update: {first} -> {_heights(page)}"
        assert nbp.widget_error_text() == ""
        nbp.run_cells(1, 2, timeout=30)
        frozen = poll(lambda: page.evaluate(JS_SNAPSHOT_BARS), 10)
        assert frozen, f"no snapshots in place of the closed plots:\n{nbp.diagnostics()}"
        assert len(frozen) == 2
        assert all(rects > 3 for rects in frozen)  # bars beyond the plot area's own rects
