"""The dashboard in other front-ends, and plots across JupyterLab's windowing modes.

Notebook 7 and Voila serve ``02-telemetry-dashboard.ipynb`` in headless Chromium;
a WebGL plot is scrolled out of view and back in each JupyterLab windowing mode.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lab import (
    JS_PLOT_LASTS,
    JS_SHOW_PLOT,
    NotebookPage,
    each_plot_advances,
    free_port,
    plots_all_advance,
    poll,
    run_all,
    running_lab,
    wait_until_after,
    write_notebook,
)
from tests.helpers.paths import ROOT

DASHBOARD = ROOT / "notebooks" / "02-telemetry-dashboard.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

JS_X_TICKS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(
  gd => Array.from(gd.querySelectorAll('.xtick text')).map(t => t.textContent))"""


def test_dashboard_run_all_in_notebook_7_stays_live(tmp_path: Path, page: Any) -> None:
    shutil.copyfile(DASHBOARD, tmp_path / DASHBOARD.name)
    with running_lab(tmp_path, app="notebook") as nb7:
        nbp = NotebookPage(page, nb7).open(DASHBOARD.name)
        idle = run_all(nbp)
        for at in (5, 15):
            wait_until_after(idle, at)
            plots_all_advance(nbp, 2)
            assert nbp.widget_error_text() == ""
            assert nbp.widget_console_errors() == []


@pytest.fixture
def voila(tmp_path: Path) -> Iterator[str]:
    """Voila serving the dashboard notebook on a free port (its own process group)."""
    shutil.copyfile(DASHBOARD, tmp_path / DASHBOARD.name)
    work = Path(tempfile.mkdtemp(prefix="nnb-voila-"))
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "cfg"), ("JUPYTER_RUNTIME_DIR", "rt")]:
        (work / sub).mkdir()
        env[var] = str(work / sub)
    port = free_port()
    voila_bin = str(Path(sys.executable).with_name("voila"))
    cmd = [voila_bin, DASHBOARD.name, "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    with (work / "voila.log").open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError((work / "voila.log").read_text(errors="replace")[-3000:])
        try:  # GET / would run the notebook: only check that the port listens.
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            return False
        return True

    try:
        assert poll(up, 60), "voila did not answer"
        yield base
    finally:
        for sig in (15, 9):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=10)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        shutil.rmtree(work, ignore_errors=True)


def test_dashboard_in_voila_is_live_and_its_time_axes_show_times(voila: str, page: Any) -> None:
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto(voila, timeout=120_000)  # Voila answers once every cell has run
    shown = time.monotonic()
    # Voila builds each view from the widget's state after the notebook ran: every
    # plot must get its traces and data once in sight (surface.py's state holds them).
    plots = poll(lambda: len(v := page.evaluate(JS_PLOT_LASTS)) == 2 and v, 120)
    assert plots, f"the dashboard's plots are not in the page: {page.evaluate(JS_PLOT_LASTS)}"
    for i in range(2):
        page.evaluate(JS_SHOW_PLOT, i)
        drawn = poll(lambda i=i: page.evaluate(JS_PLOT_LASTS)[i] is not None, 30)
        assert drawn, (
            f"plot {i} shows no data: {page.evaluate(JS_PLOT_LASTS)}; page"
            f" {page.evaluate('() => document.body.innerText')[-1500:]!r}; console: {console[-20:]}"
        )
    # Every plot keeps updating. Under load one of them used to freeze at its saved
    # state: anywidget drops every message to a model whose code has not bound within
    # 2 s; plotly.js (5 MB) now comes once per page, after the views are bound
    # (widgets/surface.js).
    for at in (5, 15):
        wait_until_after(shown, at)
        each_plot_advances(page, 2)
    ticks = page.evaluate(JS_X_TICKS)
    assert all(ticks), ticks
    assert all(":" in t for plot in ticks for t in plot), ticks  # 22:50:11
    assert not any(t.endswith("T") for plot in ticks for t in plot), ticks  # 1.796157977T
    body = page.evaluate("() => document.body.innerText")
    assert "Loading widget" not in body
    assert "Error displaying widget" not in body
    assert not [c for c in console if c.startswith("error") and "widget" in c.lower()], console
    assert not [c for c in console if "out of bounds" in c], console[-5:]


# A WebGL plot (threshold 50 points) watched from the kernel every 0.1 s (on the
# thread that owns the plot: plot.clock.call): whether a page has it in sight (what
# the pages reported) and the newest x the plot drew, then enough text to scroll it
# out of view.
WEBGL_CELLS = [
    "import nexus_nb as nnb\n"
    "server = nnb.serve(rate=200)\n"
    "stream = nnb.connect(server.url, api_key=server.api_key)\n"
    'stream.subscribe(["telemetry.metrics"], filters={"metric_name": "cpu_usage"})\n'
    'stream.wait_for("telemetry.metrics", rows=100, timeout=10)',
    'plot = nnb.LivePlot(stream["telemetry.metrics"], color="source", window="2min",'
    " webgl_threshold=50, max_points=None)\n"
    "import asyncio, time\nsamples = []\n"
    "def look():\n"
    "    data = [t.x for t in plot.figure.data if t.x is not None and len(t.x)]\n"
    "    return plot.part.shown, max((x[-1] for x in data), default=0)\n"
    "async def watch_sight():\n"
    "    while True:\n"
    "        samples.append((time.monotonic(), *plot.clock.call(look)))\n"
    "        await asyncio.sleep(0.1)\n"
    "watcher = asyncio.get_running_loop().create_task(watch_sight())\nplot",
    *[f"print('filler {i}\\n' * 40)" for i in range(8)],
]

# The longest run of samples out of sight: its length, how far the plot's newest x
# moved meanwhile (0: no frame drawn), and whether a page had it in sight again after.
SIGHT_CHECK = """watcher.cancel()
runs, run = [], []
for i, (_, seen, newest) in enumerate(samples):
    if not seen:
        run.append((i, newest))
    elif run:
        runs.append(run)
        run = []
runs += [run] if run else []
longest = max(runs, key=len, default=[])
back = bool(longest) and any(seen for _, seen, _ in samples[longest[-1][0] + 1:])
moved = longest[-1][1] - longest[0][1] if longest else None
print("away", len(longest), "moved", moved, "back", back)
"""

JS_WEBGL = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => ({
  gl: (gd._fullData || []).some(t => t.type === 'scattergl'),
  canvas: gd.querySelectorAll('canvas').length}))"""
# The newest x drawn on the plot element the test holds (held across the windowing's
# detach and re-attach of the cell).
JS_HOLD = "() => { window.__held = document.querySelector('.js-plotly-plot'); }"
JS_HELD_LAST = """() => Math.max(...(window.__held.data || []).map(
  t => (t.x && t.x.length ? Number(t.x[t.x.length - 1]) : -Infinity)))"""


@pytest.mark.parametrize("mode", ["contentVisibility", "full", "none"])
def test_webgl_plot_scrolled_away_draws_nothing_and_comes_back_updating(
    mode: str, tmp_path: Path, page: Any
) -> None:
    write_notebook(tmp_path / "webgl.ipynb", WEBGL_CELLS)
    with running_lab(tmp_path, windowing=mode) as lab:
        nbp = NotebookPage(page, lab).open("webgl.ipynb")
        nbp.run_cells(0, len(WEBGL_CELLS), timeout=90)
        scroll = "(i) => window.jupyterapp.shell.currentWidget.content.scrollToItem(i, 'start')"
        page.evaluate(scroll, 1)  # running the filler cells scrolled the plot away
        gl = poll(lambda: (s := page.evaluate(JS_WEBGL)) and s[0]["gl"] and s, 30)
        assert gl, f"the plot is not drawn with WebGL: {page.evaluate(JS_WEBGL)}"

        page.evaluate(JS_HOLD)
        page.evaluate(scroll, len(WEBGL_CELLS) - 1)
        away = poll(
            lambda: page.evaluate(
                "() => { const gd = document.querySelector('.js-plotly-plot');"
                " if (!gd) return true; const r = gd.getBoundingClientRect();"
                " return r.bottom < 0 || r.top > window.innerHeight; }"
            ),
            10,
        )
        assert away, "the plot did not scroll out of view"
        # Out of sight the page skips plotly's redraws (widgets/surface.js): what the
        # element holds stays put while the stream goes on at 200 events/s.
        held = page.evaluate(JS_HELD_LAST)
        moved = poll(lambda: page.evaluate(JS_HELD_LAST) != held, 2.0, step=0.2)
        assert not moved, f"the plot out of view still redraws: {held} -> {moved}"
        page.evaluate(scroll, 1)
        back = poll(
            lambda: (s := page.evaluate(JS_WEBGL)) and s[0]["gl"] and s[0]["canvas"] > 0 and s, 20
        )
        assert back, f"the WebGL plot did not come back: {page.evaluate(JS_WEBGL)}"
        plots_all_advance(nbp, 1)
        # The page told the kernel, which drew the plot nothing while it was away.
        cell = nbp.append_code_cell(SIGHT_CHECK)
        nbp.run_cells(cell, cell + 1)
        words = nbp.output_text(cell).split()
        assert words[0] == "away", words
        assert int(words[1]) >= 5, words  # 0.5 s or more away
        assert float(words[3]) == 0, f"the kernel sent frames to a plot out of sight: {words}"
        assert words[5] == "True", words  # and told again when it was back in sight
        assert nbp.widget_error_text() == ""
        assert nbp.widget_console_errors() == []
