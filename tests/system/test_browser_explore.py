"""Notebook 05 in a real JupyterLab, zoomed with the mouse as a person would.

After Run All, five box zooms on the live raw-requests plot each stick: the plot
shows the box (x) with its y axis fitted to the box's points, until a
double-click returns it to following. And the live table over ``latest()``
shown all along leaves the buffer with exactly the events the server delivered.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lab import NotebookPage, poll, run_all, running_lab
from tests.helpers.paths import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NOTEBOOK = "05-explore.ipynb"
# The raw-requests plot is the second plot of the page; its graph is drawn once in sight.
JS_PART = "document.querySelectorAll('.nnb-plot')[1]"
JS_PLOT = f"{JS_PART}.querySelector('.js-plotly-plot')"
JS_SHOW = f"() => {JS_PART}.scrollIntoView({{block: 'center'}})"
JS_BOX = f"""() => {{ const r = {JS_PLOT}.querySelector('.nsewdrag').getBoundingClientRect();
  return [r.x, r.y, r.width, r.height]; }}"""
# The x range as epoch ms, the y range, and the y values of the points inside the x range.
JS_VIEW = f"""() => {{ const gd = {JS_PLOT}; const ms = v => typeof v === 'number' ? v
    : Date.parse(String(v).replace(' ', 'T') + 'Z');
  const [a, b] = gd.layout.xaxis.range.map(ms); const ys = [];
  for (const tr of gd.data) {{ const x = tr.x || [], y = tr.y || [];
    for (let i = 0; i < x.length; i++) if (x[i] >= a && x[i] <= b && y[i] != null) ys.push(y[i]); }}
  return {{x: [a, b], y: gd.layout.yaxis.range.map(Number), lo: Math.min(...ys),
           hi: Math.max(...ys), n: ys.length}}; }}"""
CHECK = """import json
stream.unsubscribe(["tasks.updates"])  # answered after every event sent before it
print("NNB_TASKS " + json.dumps([stream["tasks.updates"].appended,
      server.metrics()["channels"]["tasks.updates"]["delivered"]]))"""


def _fits(view: dict[str, Any]) -> bool:
    """Whether the y axis shows every point inside the x range (autorange's margins)."""
    return bool(view["n"]) and view["y"][0] <= view["lo"] and view["hi"] <= view["y"][1]


def _steady_box(page: Any) -> list[float]:
    """The plot's drag area once it stays put for 0.5 s, the plot in the middle of the view.

    A plot part draws only once in sight: the plot above it grows from a line of
    text to a graph when it comes into view, and moves this one down.
    """
    page.evaluate(JS_SHOW)
    boxes = [page.evaluate(JS_BOX)]

    def settled() -> bool:
        boxes.append(page.evaluate(JS_BOX))
        return boxes[-1] == boxes[-2]

    assert poll(settled, 10, step=0.5), boxes[-3:]
    return list(boxes[-1])


def test_five_mouse_zooms_on_the_raw_requests_plot_each_stick_and_a_double_click_follows(
    tmp_path: Path, page: Any
) -> None:
    shutil.copyfile(ROOT / "notebooks" / NOTEBOOK, tmp_path / NOTEBOOK)
    with running_lab(tmp_path) as lab:
        nbp = NotebookPage(page, lab).open(NOTEBOOK)
        run_all(nbp)
        assert poll(lambda: page.evaluate(f"() => Boolean({JS_PART})"), 30)
        page.evaluate(JS_SHOW)
        assert poll(lambda: page.evaluate(f"() => {JS_PLOT}?.data?.length"), 30)
        time.sleep(1)
        for k in range(5):
            x, y, w, h = _steady_box(page)
            following = page.evaluate(JS_VIEW)
            start, end = 0.35 + 0.05 * k, 0.75
            page.mouse.move(x + w * start, y + h * 0.1)
            page.mouse.down()
            page.mouse.move(x + w * end, y + h * 0.9, steps=8)
            page.mouse.up()
            span = following["x"][1] - following["x"][0]

            def box_of(
                view: dict[str, Any], span: float = span, part: float = end - start
            ) -> list[float] | None:
                """The x range, once it is the dragged box (``part`` of what was shown)."""
                width = view["x"][1] - view["x"][0]
                return view["x"] if abs(width / span - part) < 0.05 else None

            # The box is where the page drew it: the window kept moving while we dragged.
            box = poll(lambda: box_of(page.evaluate(JS_VIEW)), 5, step=0.1)
            assert box, (k, following, page.evaluate(JS_VIEW))

            def near(view: dict[str, Any], box: list[float] = box) -> bool:
                return all(abs(a - b) < 1.0 for a, b in zip(view["x"], box, strict=True))

            # Sticks: the box, its points fitted in y, for 4 s of live data.
            assert poll(lambda: _fits(page.evaluate(JS_VIEW)), 5, step=0.1), page.evaluate(JS_VIEW)
            time.sleep(4)
            zoomed = page.evaluate(JS_VIEW)
            assert near(zoomed), (k, box, zoomed)
            assert _fits(zoomed), (k, zoomed)
            # A double-click follows again, the y axis fitted to what is shown.
            page.mouse.dblclick(x + w * 0.5, y + h * 0.5)
            assert poll(lambda: not near(page.evaluate(JS_VIEW)), 5, step=0.1)
            back = page.evaluate(JS_VIEW)
            assert poll(lambda b=back: page.evaluate(JS_VIEW)["x"][1] > b["x"][1], 5, step=0.1)
            assert poll(lambda: _fits(page.evaluate(JS_VIEW)), 5, step=0.1), page.evaluate(JS_VIEW)
        index = nbp.append_code_cell(CHECK)
        nbp.run_cells(index, index + 1, timeout=30)
        appended, delivered = json.loads(nbp.output_text(index).split("NNB_TASKS ", 1)[1])
        assert appended == delivered > 0
        assert nbp.widget_error_text() == ""
        assert nbp.widget_console_errors() == []
