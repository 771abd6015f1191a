"""Views keep moving while a cell computes, and a zoom made meanwhile sticks, in a real page.

The thread model (``docs/threads.md``) seen where users see it: JupyterLab with
its default settings (widget messages on kernel subshells), JupyterLab with
``commsOverSubshells`` disabled, and Notebook 7. During a cell that sleeps 10 s
and one that runs 10 s of CPU-bound Python, a plot, a table and a status bar
must each show something new at least every 1.5 s (sampled every 0.25 s), and
a box zoom dragged with the mouse during the sleeping cell must be the plot's
range once the kernel has received it. The kernel records on which thread and
when each page message arrived: what the docs' delivery table says.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers.lab import JS_PLOT_LASTS, NotebookPage, poll, running_lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SETUP = """\
import json, threading, time
import nexus_nb as nnb
server = nnb.serve(rate=2000)
stream = nnb.connect(server.url, api_key=server.api_key)
stream.subscribe(["telemetry.metrics"])
metrics = stream["telemetry.metrics"]
plot = nnb.LivePlot(metrics, y="value", color="source", window="30s")
table = nnb.LiveTable(metrics, rows=4)
status = nnb.StatusBar(stream)
arrivals = []  # (thread, monotonic time) of every message from the page
phases = {}
_comm = type(plot.widget.comm)
_handle = _comm.handle_msg

def _arrived(self, msg):
    arrivals.append((threading.current_thread().name, time.monotonic()))
    return _handle(self, msg)

_comm.handle_msg = _arrived
"""
SLEEP = (
    "phases['sleep'] = [time.monotonic()]\ntime.sleep(10)\nphases['sleep'].append(time.monotonic())"
)
SPIN = (
    "phases['cpu'] = [time.monotonic()]\n"
    "_n = 0\n"
    "while time.monotonic() < phases['cpu'][0] + 10:\n"
    "    _n += 1\n"
    "phases['cpu'].append(time.monotonic())"
)
REPORT = """\
def _phase(t):
    return next((name for name, (a, b) in phases.items() if a <= t <= b), "idle")

print("NNB_REPORT " + json.dumps({
    "arrivals": sorted({f"{_phase(t)}:{'subshell' if n.startswith('subshell') else n}"
                        for n, t in arrivals}),
    "mode": plot.view_mode,
}))
"""
CELLS = [SETUP, "status", "table", "plot", SPIN, SLEEP, REPORT]

JS_RANGE = (
    "() => { const gd = document.querySelector('.js-plotly-plot');"
    " return gd && gd.layout.xaxis.range ? gd.layout.xaxis.range.map(String) : null; }"
)
JS_SHOW_VIEWS = (
    "() => window.jupyterapp.shell.currentWidget.content.widgets[1].node.scrollIntoView()"
)
JS_VIEWS_IN_SIGHT = """() => Array.from(document.querySelectorAll('.nnb-surface')).every(s => {
  const r = s.getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight; })"""
JS_DRAG_BOX = """() => { const r = document.querySelector('.js-plotly-plot .nsewdrag')
  .getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }"""


def _ms(value: str) -> float:
    """An x-range end as epoch ms: plotly.js gives numbers, or dates once it relaid out."""
    try:
        return float(value)
    except ValueError:
        return float(pd.Timestamp(value).value / 1e6)


def _span(value: list[str] | None) -> float:
    assert value, "the plot has no x range"
    return _ms(value[1]) - _ms(value[0])


def _zoomed(value: list[str] | None, before: float) -> list[float] | None:
    """The x range ``value`` as numbers, if it is a box about 0.3 of ``before`` wide."""
    if value is None or not 0.2 < _span(value) / before < 0.4:
        return None
    return [_ms(v) for v in value]


def _same(value: list[str] | None, box: list[float]) -> bool:
    return value is not None and all(abs(_ms(v) - b) < 1.0 for v, b in zip(value, box, strict=True))


def _snapshot(nbp: NotebookPage) -> tuple[str, str, float | None]:
    """What the status bar, the table and the plot show now."""
    return nbp.output_text(1), nbp.output_text(2), nbp.page.evaluate(JS_PLOT_LASTS)[0]


def _longest_still(samples: list[tuple[float, tuple[str, str, float | None]]]) -> list[float]:
    """Per view, the longest time its picture stayed the same over ``samples``."""
    longest = [0.0, 0.0, 0.0]
    for view in range(3):
        since = samples[0][0]
        for (_, before), (t, after) in itertools.pairwise(samples):
            if after[view] != before[view]:
                since = t
            longest[view] = max(longest[view], t - since)
    return longest


def _watch_while_busy(nbp: NotebookPage, cell: int, *, drag: bool) -> dict[str, Any]:
    """Run ``cell`` and sample the page every 0.25 s until it ends; drag a zoom 4 s in."""
    nbp.select(cell)
    # Not awaited: the command's promise settles only when the cell has finished.
    nbp.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-cell'); }")
    assert poll(nbp.cells_busy, 10, step=0.05)
    # Running a cell scrolls to it: back to the status bar at the top of the view, with
    # the table and the plot under it, all in sight (out of sight a view draws nothing).
    nbp.page.evaluate(JS_SHOW_VIEWS)
    assert nbp.page.evaluate(JS_VIEWS_IN_SIGHT), "the three views do not fit in the window"
    start = time.monotonic()
    samples = []
    box: list[float] | None = None
    while nbp.cells_busy() and time.monotonic() - start < 30:
        samples.append((time.monotonic(), _snapshot(nbp)))
        if drag and box is None and time.monotonic() - start > 4:
            before = _span(nbp.page.evaluate(JS_RANGE))
            x, y, w, h = nbp.page.evaluate(JS_DRAG_BOX)
            nbp.page.mouse.move(x + w * 0.3, y + h * 0.5)
            nbp.page.mouse.down()
            nbp.page.mouse.move(x + w * 0.6, y + h * 0.5, steps=8)
            nbp.page.mouse.up()
            # The page draws the box at once (plotly.js), whatever the kernel does.
            box = poll(lambda b=before: _zoomed(nbp.page.evaluate(JS_RANGE), b), 5, step=0.05)
        time.sleep(0.25)
    nbp.wait_idle(30)
    return {"samples": samples, "box": box, "seconds": time.monotonic() - start}


@pytest.mark.parametrize(
    ("app", "comms"),
    [("jupyterlab", None), ("jupyterlab", "disabled"), ("notebook", None)],
    ids=["lab-default-subshells", "lab-subshells-disabled", "notebook7"],
)
def test_views_advance_during_busy_cells_and_a_zoom_made_meanwhile_sticks(
    tmp_path: Path, page: Any, app: str, comms: str | None
) -> None:
    write_notebook(tmp_path / "busy.ipynb", CELLS)
    with running_lab(tmp_path, app=app, comms=comms) as lab:
        nbp = NotebookPage(page, lab).open("busy.ipynb")
        nbp.run_cells(0, 4, timeout=90)
        assert poll(lambda: page.evaluate(JS_PLOT_LASTS) == [] or _snapshot(nbp)[2], 30)
        spinning = _watch_while_busy(nbp, 4, drag=False)
        sleeping = _watch_while_busy(nbp, 5, drag=True)
        # Once the kernel has the zoom, it is the plot's range and it stays there.
        box = sleeping["box"]
        assert box, "the drag made no zoom in the page"
        assert poll(lambda: _same(page.evaluate(JS_RANGE), box), 10, step=0.1), (
            f"zoom not kept: {box} -> {page.evaluate(JS_RANGE)}"
        )
        time.sleep(3)  # frames keep coming: none may move the zoomed range
        assert _same(page.evaluate(JS_RANGE), box), (box, page.evaluate(JS_RANGE))
        nbp.run_cells(6, 7, timeout=30)
        report = json.loads(nbp.output_text(6).split("NNB_REPORT ", 1)[1])
        print(f"{app}/{comms}: page messages arrived as {report['arrivals']}")
        assert report["mode"] == "zoomed"
        for name, run in (("cpu", spinning), ("sleep", sleeping)):
            assert run["seconds"] >= 9.5, run["seconds"]
            # The sleeping cell's plot is zoomed 4 s in: from then on it rightly stands still.
            moving = [s for s in run["samples"] if name == "cpu" or s[0] - run["samples"][0][0] < 4]
            still = _longest_still(run["samples"])[:2] + _longest_still(moving)[2:]
            assert max(still) <= 1.5, (name, still)
        assert nbp.widget_error_text() == ""
        assert nbp.widget_console_errors() == []
        assert "Traceback" not in "".join(nbp.output_text(i) for i in range(7))


JS_TRACES_WHOLE = """() => { const gd = document.querySelector('.js-plotly-plot');
  return (gd.data || []).map(tr => {
    const x = Array.from(tr.x || []), y = Array.from(tr.y || []);
    let sorted = true;
    for (let i = 1; i < x.length; i++) if (x[i] < x[i - 1]) { sorted = false; break; }
    return {n: x.length, y: y.length, sorted};
  }); }"""


def _drag(page: Any, start: float, end: float, steps: int = 2) -> None:
    """A box zoom dragged with the mouse from ``start`` to ``end`` (fractions of the width)."""
    x, y, w, h = page.evaluate(JS_DRAG_BOX)
    page.mouse.move(x + w * start, y + h * 0.5)
    page.mouse.down()
    page.mouse.move(x + w * end, y + h * 0.5, steps=steps)
    page.mouse.up()


def test_a_storm_of_60_zooms_while_streaming_leaves_every_trace_whole_and_the_last_zoom_kept(
    tmp_path: Path, page: Any
) -> None:
    write_notebook(tmp_path / "storm.ipynb", [SETUP, "plot", REPORT])
    with running_lab(tmp_path) as lab:
        nbp = NotebookPage(page, lab).open("storm.ipynb")
        nbp.run_cells(0, 2, timeout=90)
        assert poll(lambda: page.evaluate(JS_PLOT_LASTS)[0], 30)
        page.evaluate("() => document.querySelector('.js-plotly-plot').scrollIntoView()")
        x, y, w, h = page.evaluate(JS_DRAG_BOX)
        for i in range(60):  # zoom in three times, back out with a double-click, and again
            if i % 4 == 3:
                page.mouse.dblclick(x + w * 0.5, y + h * 0.5)
            else:
                _drag(page, 0.1 + 0.01 * (i % 7), 0.5 + 0.05 * (i % 5))
            time.sleep(0.08)
        page.mouse.dblclick(x + w * 0.5, y + h * 0.5)
        storm_end = time.monotonic()
        traces = page.evaluate(JS_TRACES_WHOLE)
        assert all(t["n"] == t["y"] for t in traces), traces
        assert all(t["sorted"] for t in traces), traces
        # The kernel answers the storm in order; once through, the last double-click
        # has it following again (a range about the plot's 30 s window).
        assert poll(lambda: _span(page.evaluate(JS_RANGE)) > 20_000, 30, step=0.1)
        print(f"following again {time.monotonic() - storm_end:.1f} s after the storm")
        before = _span(page.evaluate(JS_RANGE))
        _drag(page, 0.2, 0.5, steps=8)
        box = poll(lambda: _zoomed(page.evaluate(JS_RANGE), before), 5, step=0.05)
        assert box, page.evaluate(JS_RANGE)
        time.sleep(3)  # frames keep coming at 2,000 events/s: none may move the last zoom
        assert _same(page.evaluate(JS_RANGE), box), (box, page.evaluate(JS_RANGE))
        traces = page.evaluate(JS_TRACES_WHOLE)
        assert all(t["n"] == t["y"] for t in traces), traces
        assert all(t["sorted"] for t in traces), traces
        assert any(t["n"] for t in traces), traces
        # A double-click follows again: the range moves with the newest data.
        page.mouse.dblclick(x + w * 0.5, y + h * 0.5)
        following = poll(lambda: not _same(page.evaluate(JS_RANGE), box), 5, step=0.05)
        assert following, "a double-click did not go back to following"
        first = page.evaluate(JS_RANGE)
        assert poll(lambda: page.evaluate(JS_RANGE) != first, 5, step=0.05)
        nbp.run_cells(2, 3, timeout=30)
        report = json.loads(nbp.output_text(2).split("NNB_REPORT ", 1)[1])
        assert report["mode"] == "following"
        assert nbp.widget_error_text() == ""
        assert nbp.widget_console_errors() == []
        assert "Traceback" not in "".join(nbp.output_text(i) for i in range(3))
        # Shutting the kernel down with the views live logs nothing alarming in the server.
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        assert poll(lambda: nbp.kernel_status() in ("dead", "no-kernel", "unknown"), 30)
        time.sleep(2)  # what the server logs about the closed kernel comes after it
        log = lab.log_tail(200_000)
        assert "Traceback" not in log, log[-3000:]
        assert "WebSocketClosedError" not in log, log[-3000:]
