"""Benchmark the browser's side: what a live plot costs the page, per second and per frame.

Run: ``.venv/bin/python benchmarks/bench_browser.py [--seconds 20] [CASE ...]``
(about 3 minutes: a real JupyterLab in headless Chromium, software rendering).

Each case is a notebook cell run in a real kernel, displayed in the page and
measured for a fixed span after a short warm-up:

* ``live_1k``, ``live_100k``, ``live_1m``: a :class:`LivePlot` (4 groups, the
  default 5 min window and 2000 points a trace) over that many buffered rows,
  fed 200 events/s (the dashboard notebook's rate) in real time.
* ``dashboard``: the dashboard notebook's ``Dashboard`` on ``serve(rate=200)``.
* ``naive``: a ``FigureWidget`` over the 1k-row source whose traces' whole
  ``x`` and ``y`` are re-assigned at 10 frames/s, one assignment at a time (one
  message and one ``Plotly.restyle`` each).
* ``fair``: the same at the same frame rate, under ``batch_update`` (one
  ``Plotly.update`` a frame).
* ``bare``: no widget traffic at all: the page's own JavaScript calls
  ``Plotly.react`` (the page's plotly.js, loaded once by the views) on a div the
  size of a live plot's, with that plot's layout and trace styles, as many
  points and as many frames a second as ``live_1k`` drew (3.3 frames/s and
  1,000 points if it did not run), from ``setInterval``. What drawing the same
  frames costs with nothing around it: the floor for a view's page time.

Measured: CPU of Chromium's renderer processes and of the kernel (psutil),
the page's main-thread busy time (Chrome's ``Performance.getMetrics``
``TaskDuration``; long tasks from a ``PerformanceObserver`` beside it), the
frames the page drew (``plotly_react`` events, one per frame of a view or of the
bare baseline; ``plotly_update``/``restyle``/``relayout`` events of the
``FigureWidget`` cases, one per frame when batched) and the comm messages that
crossed the page's kernel websocket. Per-frame page time is busy time over
frames. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from figures import figure
from labpage import chromium_page, running_lab, write_notebook

PRELUDE = '''
import asyncio, contextlib, gc, time
import numpy as np
import plotly.graph_objects as go
import nexus_nb as nnb
from nexus_nb.widgets.testing import MemorySource

GROUPS = np.array(["agent-1", "agent-2", "agent-3", "agent-4"], dtype=object)
WINDOW_NS = 300 * 10**9
RATE = 200  # events/s, the dashboard notebook's
rng = np.random.default_rng(7)

def fill(src, rows, *, start_ns, span_ns, first=0):
    for lo in range(0, rows, 200_000):
        idx = np.arange(lo, min(rows, lo + 200_000))
        src.append({
            "timestamp": start_ns + (idx * (span_ns / rows)).astype(np.int64),
            "source": GROUPS[(idx + first) % len(GROUPS)],
            "value": np.sin((idx + first) / 500.0) + rng.normal(0, 0.1, len(idx)),
        })

def source(rows):
    """``rows`` rows over the last 5 minutes; the feed then evicts the oldest."""
    src = MemorySource(maxlen=rows)
    fill(src, rows, start_ns=time.time_ns() - WINDOW_NS, span_ns=WINDOW_NS)
    gc.collect()
    gc.freeze()  # keep the collector off a million object-array labels
    return src

async def feed(src, rate=RATE, tick=0.05):
    """Append events at ``rate`` a second, in real time, ``tick`` s at a time."""
    start, sent = time.monotonic(), 0
    while True:
        due = int((time.monotonic() - start) * rate) - sent
        if due > 0:
            span = int(tick * 1e9)
            fill(src, due, start_ns=time.time_ns() - span, span_ns=span, first=sent)
            sent += due
        await asyncio.sleep(tick)

async def baseline(src, fig, *, batched, fps=10.0):
    """Re-assign every trace's whole window at ``fps``."""
    while True:
        _, cols = src.read(["timestamp", "source", "value"])
        stamps = cols["timestamp"]
        keep = stamps > stamps.max() - WINDOW_NS
        x, y, group = stamps[keep] / 1e6, cols["value"][keep], cols["source"][keep]
        with fig.batch_update() if batched else contextlib.nullcontext():
            for i, name in enumerate(GROUPS):
                fig.data[i].x = x[group == name]
                fig.data[i].y = y[group == name]
        await asyncio.sleep(1.0 / fps)

def baseline_figure():
    return go.FigureWidget(
        data=[go.Scatter(x=[], y=[], name=g, mode="lines") for g in GROUPS],
        layout={"xaxis": {"type": "date"}},
    )
'''


@dataclass
class Case:
    """One measured notebook cell and the cell that stops it."""

    key: str
    label: str
    setup: str
    teardown: str
    calls_per_frame: int = 1  # plotly update/restyle/relayout calls per FigureWidget frame
    before: str = "pass"  # a cell run first, as the dashboard notebook does
    bare: bool = False  # the page's own Plotly.react draws (see JS_BARE_START)


def live_case(rows: int, key: str) -> Case:
    return Case(
        key,
        f"LivePlot, {rows:,} buffered rows, 200 ev/s",
        f"src = source({rows})\nplot = nnb.LivePlot(src, color='source')\n"
        "task = asyncio.get_running_loop().create_task(feed(src))\nplot",
        "task.cancel()\nplot.close()\ndel src, plot\ngc.unfreeze()\ngc.collect()",
    )


def baseline_case(key: str, batched: bool) -> Case:
    return Case(
        key,
        "fair: FigureWidget, whole window under batch_update, 10 fps"
        if batched
        else "naive: FigureWidget, whole window one trace property at a time, 10 fps",
        "src = source(1000)\nfig = baseline_figure()\n"
        "task = asyncio.get_running_loop().create_task(feed(src))\n"
        f"draw = asyncio.get_running_loop().create_task(baseline(src, fig, batched={batched}))\n"
        "fig",
        "task.cancel()\ndraw.cancel()\nfig.close()\ndel src, fig\ngc.unfreeze()\ngc.collect()",
        calls_per_frame=1 if batched else 8,
    )


def dashboard_case(key: str, options: str) -> Case:
    """The dashboard notebook's ``Dashboard``, with ``options`` beside its window."""
    args = ", ".join(filter(None, ["stream", "window='30s'", options]))
    return Case(
        key,
        f"Dashboard({options or 'defaults'}), serve(rate=200), window 30s",
        f"dashboard = nnb.Dashboard({args})\ndashboard",
        "dashboard.close()\nstream.close()\nserver.close()",
        before="server = nnb.serve(rate=200)\n"
        "stream = nnb.connect(server.url, api_key=server.api_key)\n"
        "stream.subscribe(nnb.CHANNELS)\n"
        "stream.wait_for('telemetry.metrics', rows=20, timeout=10)",
    )


def bare_case(key: str) -> Case:
    """A paused LivePlot (one frame: the layout and styles to copy) beside the page's own draws."""
    return Case(
        key,
        "bare: plotly.js Plotly.react of the same points from page JS, same frame rate",
        "src = source(1000)\nplot = nnb.LivePlot(src, color='source')\n"
        "plot.render()\nplot.pause()\nplot",
        "plot.close()\ndel src, plot\ngc.unfreeze()\ngc.collect()",
        bare=True,
    )


CASES = [
    live_case(1_000, "live_1k"),
    live_case(100_000, "live_100k"),
    live_case(1_000_000, "live_1m"),
    dashboard_case("dashboard", ""),
    dashboard_case("dashboard_2fps", "fps=2"),
    baseline_case("naive", batched=False),
    baseline_case("fair", batched=True),
    bare_case("bare"),
]
BASELINES = ("fair", "naive", "bare")
BARE_AGAINST = (
    "bare plotly.js Plotly.react of as many points at the same frame rate from page JS, same run"
)

# Counters the page keeps: plotly calls on every plot, long tasks.
JS_PROBE = """() => {
  if (window.__nnb) return;
  const s = window.__nnb = {calls: 0, reacts: 0, long_ms: 0, long_n: 0};
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) { s.long_ms += e.duration; s.long_n += 1; }
  }).observe({type: 'longtask'});
  // A plot's emitter is replaced on every newPlot: mark the emitter, not the element.
  setInterval(() => {
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
      if (!gd._ev || gd._ev.__nnb || !gd.on) continue;
      gd._ev.__nnb = true;
      for (const name of ['plotly_update', 'plotly_restyle', 'plotly_relayout'])
        gd.on(name, () => { s.calls += 1; });
      gd.on('plotly_react', () => { s.reacts += 1; });
    }
  }, 200);
}"""
JS_COUNTERS = "() => ({...window.__nnb})"
JS_PLOTS_DRAWN = """(o) => {
  const plots = Array.from(o.querySelectorAll('.js-plotly-plot'));
  return plots.length > 0 && plots.some(gd => (gd.data || []).some(t => (t.x || []).length > 1));
}"""
# Points drawn now by the plots of one cell's output.
JS_POINTS = """(o) => Array.from(o.querySelectorAll('.js-plotly-plot')).reduce(
  (n, gd) => n + (gd.data || []).reduce((m, t) => m + (t.x || []).length, 0), 0)"""
# The bare baseline: a div the size of the cell's (paused) plot, under it, redrawn with
# Plotly.react from setInterval with that plot's layout and trace styles, ``points``
# points in all spread over its 5 min window, ``fps`` times a second.
JS_BARE_START = """(o, [points, fps]) => {
  const Plotly = globalThis.__nexus_nb_plotly__.Plotly;
  const gd = o.querySelector('.js-plotly-plot');
  const rect = gd.getBoundingClientRect();
  const base = JSON.parse(JSON.stringify(gd.layout));
  const styles = gd.data.map(({x, y, ...style}) => JSON.parse(JSON.stringify(style)));
  const config = {doubleClick: 'autosize', displaylogo: false, responsive: true};
  const div = document.createElement('div');
  div.style.cssText = `width:${rect.width}px;height:${rect.height}px`;
  gd.closest('.nnb-surface').after(div);
  const n = Math.max(2, Math.round(points / styles.length)), span = 300000;
  let tick = 0;
  const draw = () => {
    tick += 1;
    const now = Date.now();
    const data = styles.map((style, k) => {
      const x = new Float64Array(n), y = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        x[i] = now - span + (span * i) / (n - 1);
        y[i] = Math.sin((i + tick + 7 * k) / 50) + (Math.random() - 0.5) * 0.2;
      }
      return {...style, x, y};
    });
    const layout = {...base, xaxis: {...base.xaxis, range: [now - span, now]},
                    datarevision: tick};
    Plotly.react(div, data, layout, config);
  };
  draw();
  window.__nnb_bare = {div, timer: setInterval(draw, 1000 / fps), Plotly};
}"""
JS_BARE_STOP = """() => { const b = window.__nnb_bare; if (!b) return;
  clearInterval(b.timer); b.Plotly.purge(b.div); b.div.remove(); window.__nnb_bare = null; }"""
JS_KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  const busy = Array.from(document.querySelectorAll('.jp-Notebook .jp-InputPrompt'))
    .some(e => (e.innerText || '').includes('*'));
  return !!k && k.status === 'idle' && !busy;
}"""
JS_RUN_CELL = """(i) => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  nb.activeCellIndex = i; nb.mode = 'command';
  return window.jupyterapp.commands.execute('notebook:run-cell');
}"""


class Probe:
    """Cumulative counters of the page, the renderer and the kernel, read together."""

    def __init__(self, page: Any, lab: psutil.Process) -> None:
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")
        self.comm_in = 0
        self.comm_out = 0
        page.on("websocket", self._websocket)
        self.lab = lab

    def _websocket(self, ws: Any) -> None:
        if "/api/kernels/" not in ws.url:
            return
        ws.on("framereceived", lambda data: self._count(data, inbound=True))
        ws.on("framesent", lambda data: self._count(data, inbound=False))

    def _count(self, data: str | bytes, *, inbound: bool) -> None:
        text = data if isinstance(data, bytes) else data.encode()
        if b'"comm_msg"' in text[:4096]:
            if inbound:
                self.comm_in += 1
            else:
                self.comm_out += 1

    def renderers(self) -> list[psutil.Process]:
        """Chromium's renderer processes (ours: children of this process's Playwright driver)."""
        me = psutil.Process()
        return [p for p in me.children(recursive=True) if "--type=renderer" in " ".join(_cmd(p))]

    def kernel(self) -> psutil.Process | None:
        for p in self.lab.children(recursive=True):
            if "ipykernel_launcher" in " ".join(_cmd(p)):
                return p
        return None

    def read(self) -> dict[str, float]:
        metrics = {
            m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]
        }
        counters = self.page.evaluate(JS_COUNTERS)
        kernel = self.kernel()
        return {
            "t": time.perf_counter(),
            "busy_s": metrics["TaskDuration"],
            "script_s": metrics["ScriptDuration"],
            "layout_s": metrics["LayoutDuration"] + metrics["RecalcStyleDuration"],
            "calls": counters["calls"],
            "reacts": counters["reacts"],
            "long_ms": counters["long_ms"],
            "renderer_s": sum(_cpu(p) for p in self.renderers()),
            "kernel_s": _cpu(kernel) if kernel is not None else 0.0,
            "comm_in": self.comm_in,
            "comm_out": self.comm_out,
        }


def _cmd(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


def _cpu(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
    except psutil.Error:
        return 0.0
    return float(t.user + t.system)


def wait(page: Any, js: str, timeout: float) -> None:
    """Poll ``js`` in the page until true; bounded."""
    end = time.monotonic() + timeout
    while not page.evaluate(js):
        if time.monotonic() > end:
            raise TimeoutError(f"page never satisfied: {js[:60]}")
        page.wait_for_timeout(250)


def run_cell(page: Any, index: int, timeout: float = 120) -> None:
    page.evaluate(JS_RUN_CELL, index)
    page.wait_for_timeout(300)
    wait(page, JS_KERNEL_IDLE, timeout)


def measure(
    page: Any, probe: Probe, case: Case, cell: int, seconds: float, bare: tuple[float, float]
) -> dict[str, float]:
    """Run ``case``'s cell, warm up, measure ``seconds``, stop it; return rates.

    ``bare`` is the ``(points, frames/s)`` the bare baseline draws.
    """
    run_cell(page, cell)
    output = page.locator(".jp-Notebook .jp-Cell").nth(cell).locator(".jp-OutputArea")
    # In sight first: a view out of sight draws nothing (widgets/surface.js).
    output.evaluate("(o) => o.scrollIntoView({block: 'center'})")
    end = time.monotonic() + 30
    while not output.evaluate(JS_PLOTS_DRAWN):
        if time.monotonic() > end:
            print(f"{case.key}: WARNING: no plot of the cell has points; measuring anyway")
            break
        page.wait_for_timeout(250)
    if case.bare:
        output.evaluate(JS_BARE_START, list(bare))
    page.wait_for_timeout(3000)  # warm-up: the first frames catch up with the buffer
    # The output's middle in the middle of the view, once its plots have their size:
    # for the dashboard that shows both plots in part (the heavier case: a plot out
    # of sight costs the page and the kernel nothing).
    output.evaluate("(o) => o.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(1000)
    a = probe.read()
    page.wait_for_timeout(seconds * 1000)  # the measured span (Playwright pumps events)
    b = probe.read()
    points = output.evaluate(JS_POINTS)
    if case.bare:
        page.evaluate(JS_BARE_STOP)
    run_cell(page, cell + 1)
    dt = b["t"] - a["t"]
    calls = (b["calls"] - a["calls"]) / dt
    frames = (b["reacts"] - a["reacts"]) / dt + calls / case.calls_per_frame
    busy = (b["busy_s"] - a["busy_s"]) / dt
    renderer = (b["renderer_s"] - a["renderer_s"]) / dt
    return {
        "renderer": renderer,
        "kernel": (b["kernel_s"] - a["kernel_s"]) / dt,
        "busy_ms_s": busy * 1e3,
        "script_ms_s": (b["script_s"] - a["script_s"]) / dt * 1e3,
        "layout_ms_s": (b["layout_s"] - a["layout_s"]) / dt * 1e3,
        "long_ms_s": (b["long_ms"] - a["long_ms"]) / dt,
        "calls_s": calls,
        "fps": frames,
        "points": points,
        "ms_frame": busy * 1e3 / frames if frames else float("nan"),
        "cpu_ms_frame": renderer * 1e3 / frames if frames else float("nan"),
        "comm_in_s": (b["comm_in"] - a["comm_in"]) / dt,
        "comm_out_s": (b["comm_out"] - a["comm_out"]) / dt,
    }


def report(results: dict[str, dict[str, float]]) -> None:
    """Print the table and the ratios, and state the figures."""
    print(
        f"{'case':<10} {'renderer':>8} {'kernel':>7} {'busy ms/s':>9} {'script':>7} "
        f"{'layout':>7} {'long':>6} {'frames/s':>8} {'ms/frame':>8} {'cpu ms/f':>8} "
        f"{'comm in/s':>9} {'out/s':>6}"
    )
    for key, r in results.items():
        print(
            f"{key:<10} {r['renderer']:>8.0%} {r['kernel']:>7.0%} {r['busy_ms_s']:>9.0f} "
            f"{r['script_ms_s']:>7.0f} {r['layout_ms_s']:>7.0f} {r['long_ms_s']:>6.0f} "
            f"{r['fps']:>8.1f} {r['ms_frame']:>8.1f} {r['cpu_ms_frame']:>8.1f} "
            f"{r['comm_in_s']:>9.1f} {r['comm_out_s']:>6.1f}"
        )
    fair, naive, bare = (results.get(k) for k in BASELINES)
    for key, r in results.items():
        if key in BASELINES:
            continue
        label = next(c.label for c in CASES if c.key == key)
        for base_key, base in (("fair", fair), ("naive", naive), ("bare", bare)):
            if base is None:
                continue
            print(
                f"  {key} / {base_key}: renderer {r['renderer'] / base['renderer']:.2f}x,"
                f" busy {r['busy_ms_s'] / base['busy_ms_s']:.2f}x,"
                f" per frame {r['ms_frame'] / base['ms_frame']:.2f}x busy,"
                f" {r['cpu_ms_frame'] / base['cpu_ms_frame']:.2f}x renderer CPU"
            )
        against = "a FigureWidget re-assigned under batch_update at 10 fps, same run"
        figure(
            f"{key}_renderer",
            r["renderer"] * 100,
            "% of a core",
            what=f"Chromium renderer CPU, {label}",
            baseline=None if fair is None else fair["renderer"] * 100,
            against=against,
        )
        figure(
            f"{key}_page_ms_frame",
            r["ms_frame"],
            "ms/frame",
            what=f"page main-thread time per frame, {label}",
            baseline=None if fair is None else fair["ms_frame"],
            against=against,
        )
        figure(f"{key}_kernel", r["kernel"] * 100, "% of a core", what=f"kernel CPU, {label}")
        if bare is not None:
            figure(
                f"{key}_page_ms_frame_vs_bare",
                r["ms_frame"],
                "ms/frame",
                what=f"page main-thread time per frame against bare Plotly.react, {label}",
                baseline=bare["ms_frame"],
                against=BARE_AGAINST,
            )
            figure(
                f"{key}_cpu_ms_frame_vs_bare",
                r["cpu_ms_frame"],
                "ms/frame",
                what=f"Chromium renderer CPU per frame against bare Plotly.react, {label}",
                baseline=bare["cpu_ms_frame"],
                against=BARE_AGAINST,
            )
    lives = [results[k]["cpu_ms_frame"] for k in ("live_1k", "live_1m") if k in results]
    if len(lives) == 2:
        print(f"  renderer CPU per frame 1M/1k rows: {lives[1] / lives[0]:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured span per case")
    parser.add_argument("cases", nargs="*", help=f"subset of {', '.join(c.key for c in CASES)}")
    args = parser.parse_args(argv)
    # A SIGTERM (a timeout around the run) unwinds the context managers, which stop
    # the lab, its kernel and Chromium, instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cases = [c for c in CASES if not args.cases or c.key in args.cases]
    cells = [PRELUDE]
    for case in cases:
        cells += [case.before, case.setup, case.teardown]
    results: dict[str, dict[str, float]] = {}
    bare = (1000.0, 1000.0 / 300)  # points and frames/s of a 5 min window: live_1k's
    with tempfile.TemporaryDirectory(prefix="nnb-bench-browser-") as tmp:
        write_notebook(Path(tmp) / "bench.ipynb", cells)
        with running_lab(Path(tmp)) as (lab, url), chromium_page() as page:
            probe = Probe(page, psutil.Process(lab.pid))  # before the kernel's websocket opens
            page.goto(url.format(path="lab/tree/bench.ipynb") + "&reset")
            page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached", timeout=90_000)
            wait(page, JS_KERNEL_IDLE, 90)
            page.evaluate(JS_PROBE)
            run_cell(page, 0)
            for i, case in enumerate(cases):
                run_cell(page, 1 + 3 * i)
                results[case.key] = r = measure(page, probe, case, 2 + 3 * i, args.seconds, bare)
                if case.key == "live_1k" and r["fps"] > 0:
                    bare = (r["points"], r["fps"])
                print(
                    f"{case.key}: renderer {r['renderer']:.0%}, kernel {r['kernel']:.0%},"
                    f" {r['fps']:.1f} frames/s, {r['ms_frame']:.1f} ms busy/frame,"
                    f" {r['cpu_ms_frame']:.1f} ms renderer CPU/frame, {r['points']:.0f} points",
                    flush=True,
                )
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
