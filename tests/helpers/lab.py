"""An isolated JupyterLab and a headless Chromium page driving it (no pytest here).

Used by the browser tests in ``tests/system/``. It follows
``../shared/JUPYTER.md`` (beside the checkout): Jupyter/IPython user state lives in temp dirs, the
server binds 127.0.0.1 with a random token, news/update toasts and notebook
windowing are switched off in a private settings dir, and the server is stopped
with ``POST /api/shutdown`` and then only its own process group is signalled.

Named ``lab`` rather than ``jupyterlab``: it is imported as ``tests.helpers.lab``,
so it shadows nothing, but the name stays clear of the real package.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers.net import free_port
from tests.helpers.process import start_web_server, stop_group
from tests.helpers.waiting import poll

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # required when running as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no calls home on a closed network
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# Page probes. Points are summed over every trace of every plotly plot in the page;
# `last` is the largest x seen, so a plot that decimates to a fixed size still shows
# progress.
JS_PLOT = """() => {
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  let points = 0, traces = 0, last = null;
  for (const gd of plots) {
    for (const tr of (gd.data || [])) {
      traces += 1;
      const xs = tr.x || [];
      points += xs.length;
      if (xs.length) {
        const v = xs[xs.length - 1];
        const n = typeof v === 'number' ? v : Date.parse(v);
        if (!Number.isNaN(n) && (last === null || n > last)) last = n;
      }
    }
  }
  return {plots: plots.length, traces, points, last};
}"""

JS_KERNEL = """() => {
  const app = window.jupyterapp; if (!app) return 'no-app';
  const w = app.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return k ? k.status : 'no-kernel';
}"""

# True while any cell is queued or running (JupyterLab shows "[*]:" for both).
JS_BUSY_CELLS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-InputPrompt'))
  .some(e => (e.innerText || '').includes('*'))"""

# A widget the manager could not show, or a plot whose frame failed in the kernel
# (``surface.js`` puts "frame failed: ..." in the plot's ``.nnb-note``).
JS_WIDGET_ERROR = """() => {
  const m = (document.body.innerText || '').match(
    /Error displaying widget|model not found|Failed to load model[^\\n]*|frame failed[^\\n]*/i);
  return m ? m[0] : '';
}"""

# plotly.js in the page: whether a view loaded it (``surface.js`` keeps it in one
# global for the whole page) and its version.
JS_PLOTLY = """() => {
  const lib = globalThis.__nexus_nb_plotly__;
  const Plotly = lib && lib.Plotly;
  return {loaded: Boolean(Plotly), version: (Plotly && Plotly.version) || null};
}"""
# The first line of plotly.min.js after its banner's comment opener: found raw in the
# websocket frame that carries it to the page (binary buffers travel as they are).
PLOTLY_BANNER = b"* plotly.js v"

# Markers of a widget that failed in the front end (ipywidgets 8 reports only here).
CONSOLE_WIDGET_ERRORS = (
    "widget",
    "model not found",
    "anywidget",
    "plotly",
    "comm",
    "error setting state",
)


# The ipywidgets manager's "save widget state" setting, on: a saved notebook then holds
# every widget's state (``metadata.widgets``), as a person who turned it on gets.
SAVE_WIDGET_STATE = {
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True}
}


class Lab:
    """A JupyterLab server in its own process group, isolated in a temp dir.

    Args:
        root: The directory the lab serves (notebooks are copied there by callers).
        python: The interpreter whose ``jupyterlab`` and kernel are used.
        app: ``"jupyterlab"`` or ``"notebook"`` (Jupyter Notebook 7, built on the same
            JupyterLab front-end: the same settings, ``window.jupyterapp`` and commands).
        windowing: JupyterLab's notebook ``windowingMode`` (``"none"`` keeps cells
            scrolled out of view in the page; ``"full"``, ``"contentVisibility"``).
        comms: JupyterLab's ``commsOverSubshells`` (``"disabled"``, ``"perComm"``,
            ``"perCommTarget"``); ``None`` leaves the front-end's default.
        settings: More settings files, by path under the settings dir (e.g.
            :data:`SAVE_WIDGET_STATE`).
    """

    def __init__(
        self,
        root: Path,
        *,
        python: str = sys.executable,
        app: str = "jupyterlab",
        windowing: str = "none",
        comms: str | None = None,
        settings: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.root = root
        self.comms = comms
        self.settings = dict(settings or {})
        self.python = python
        self.app = app
        self.windowing = windowing
        self.tree = "lab/tree" if app == "jupyterlab" else "notebooks"
        self.work = Path(tempfile.mkdtemp(prefix="nnb-lab-"))
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var, sub in [
            ("JUPYTER_CONFIG_DIR", "cfg"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_RUNTIME_DIR", "rt"),
            ("IPYTHONDIR", "ipy"),
        ]:
            (self.work / sub).mkdir(exist_ok=True)
            env[var] = str(self.work / sub)
        env.pop("JUPYTER_PATH", None)
        return env

    def _write_settings(self) -> Path:
        settings = self.work / "settings"
        files: dict[str, dict[str, Any]] = {
            # No news / update-check toast over screenshots.
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
                "fetchNews": "false",
                "checkForUpdates": False,
            },
            # Keep cells scrolled out of view in the DOM so probes see every output.
            "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
                "windowingMode": self.windowing
            },
        }
        if self.comms is not None:
            files["@jupyterlab/apputils-extension/kernels-settings.jupyterlab-settings"] = {
                "commsOverSubshells": self.comms
            }
        files.update(self.settings)
        for rel, value in files.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        return settings

    def start(self, timeout: float = 90) -> Lab:
        """Start the server and wait (bounded) until ``/api/status`` answers 200.

        Raises:
            RuntimeError: the server exited or did not answer within ``timeout`` s.
        """
        settings = self._write_settings()
        app = "LabApp" if self.app == "jupyterlab" else "JupyterNotebookApp"
        cmd = [
            self.python,
            "-m",
            self.app,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.allow_root=True",
            f"--{app}.expose_app_in_browser=True",
            f"--{app}.user_settings_dir={settings}",
            f"--{app}.workspaces_dir={self.work / 'ws'}",
        ]
        if self.app == "jupyterlab":  # Notebook 7 has neither trait: it rejects its config.
            cmd += [
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly",
            ]
        self._log = open(self.work / "lab.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = start_web_server(
            cmd,
            name="jupyter lab",
            health=f"{self.base}/api/status?token={self.token}",
            log=self._log,
            log_tail=self.log_tail,
            timeout=timeout,
            env=self._env(),
            cwd=self.root,
        )
        return self

    def url(self, path: str) -> str:
        """The authenticated URL of ``path`` (e.g. ``"lab/tree/x.ipynb"``)."""
        return f"{self.base}/{path}?token={self.token}"

    def log_tail(self, chars: int = 3000) -> str:
        path = self.work / "lab.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        """Shut down politely (stops kernels), then signal our own process group only."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                req = urllib.request.Request(
                    f"{self.base}/api/shutdown?token={self.token}", method="POST"
                )
                urllib.request.urlopen(req, timeout=5).close()
            except OSError:
                pass
            stop_group(proc, (None, signal.SIGTERM, signal.SIGKILL), first_wait=15)
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)


@contextmanager
def running_lab(root: Path, *, python: str = sys.executable, **options: Any) -> Iterator[Lab]:
    """Start a :class:`Lab` for ``root``; always stop it and remove its temp dir.

    ``options`` are :class:`Lab`'s keyword arguments ``app``, ``windowing``, ``comms``
    and ``settings``.
    """
    lab = Lab(root, python=python, **options)
    try:
        yield lab.start()
    finally:
        lab.cleanup()


class NotebookPage:
    """A Playwright page showing one notebook in a :class:`Lab`.

    Console messages and page errors are collected in :attr:`console`.
    """

    def __init__(self, page: Any, lab: Lab) -> None:
        self.page = page
        self.lab = lab
        self.console: list[str] = []
        #: Kernel websocket frames that carried plotly.js to this page (see :meth:`count_plotly`).
        self.plotly_deliveries = 0
        #: Kernel websocket frames this page received (see :meth:`count_plotly`).
        self.kernel_frames = 0
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def count_plotly(self) -> NotebookPage:
        """Count, from now on, the kernel messages that bring plotly.js to this page, and all.

        Call before :meth:`open`: a page asks its kernel for plotly.js once,
        whatever number of views it shows (``surface.js``). Opt-in, because
        Playwright then hands every kernel frame to Python.
        """

        def frames(ws: Any) -> None:
            if "/api/kernels/" in ws.url:
                ws.on("framereceived", seen)

        def seen(data: str | bytes) -> None:
            self.kernel_frames += 1
            if isinstance(data, bytes) and PLOTLY_BANNER in data:
                self.plotly_deliveries += 1

        self.page.on("websocket", frames)
        return self

    def open(self, name: str, timeout: float = 90) -> NotebookPage:
        """Open ``name`` and wait (bounded) for its cells and an idle kernel.

        Waits for attached cells, not for a visible editor: a rendered markdown
        first cell hides its editor and that wait would hang.
        """
        url = self.lab.url(f"{self.lab.tree}/{name}")
        # JupyterLab restores the workspace of the previous page, with the notebooks a
        # previous test opened, and one of those may end up the current tab (and so the
        # one Run All runs): ``reset`` starts from an empty workspace.
        url += "&reset" if self.lab.tree == "lab/tree" else ""
        self.page.goto(url, wait_until="domcontentloaded")
        self.page.wait_for_selector(
            ".jp-Notebook .jp-Cell", state="attached", timeout=timeout * 1000
        )
        current = poll(lambda: self.current_path() == name, timeout, step=0.25)
        if not current:
            raise AssertionError(f"{name} is not the current tab: {self.current_path()!r}")
        if not poll(lambda: self.kernel_status() == "idle", timeout, step=0.5):
            raise TimeoutError(f"kernel not idle after {timeout} s: {self.kernel_status()}")
        return self

    def current_path(self) -> str | None:
        """The path of the document in the current tab."""
        path = self.page.evaluate(
            "() => window.jupyterapp?.shell?.currentWidget?.context?.path ?? null"
        )
        return None if path is None else str(path)

    def kernel_status(self) -> str:
        return str(self.page.evaluate(JS_KERNEL))

    def cell_count(self) -> int:
        return int(
            self.page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
        )

    def cell_sources(self) -> list[str]:
        return list(
            self.page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.content.widgets"
                ".map(c => c.model.sharedModel.getSource())"
            )
        )

    def select(self, index: int) -> None:
        self.page.evaluate(
            "(i) => { const nb = window.jupyterapp.shell.currentWidget.content;"
            " nb.activeCellIndex = i; nb.mode = 'command'; }",
            index,
        )

    def run_next(self) -> None:
        """Run the active cell and select the next one, as Shift+Enter does."""
        self.page.evaluate(
            "() => window.jupyterapp.commands.execute('notebook:run-cell-and-select-next')"
        )

    def run_cells(self, start: int, stop: int, timeout: float = 60) -> None:
        """Run cells ``start`` .. ``stop - 1`` in order and wait until none is busy.

        Uses ``notebook:run-cell`` per cell rather than Shift+Enter, which would
        append an empty cell after the last one and shift the indices.
        """
        for i in range(start, stop):
            self.select(i)
            self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
        self.wait_idle(timeout)

    def append_code_cell(self, source: str) -> int:
        """Append a code cell at the end of the notebook, select it, return its index."""
        return int(
            self.page.evaluate(
                """(src) => {
              const nb = window.jupyterapp.shell.currentWidget.content;
              nb.model.sharedModel.insertCell(nb.widgets.length,
                                              {cell_type: 'code', source: src});
              nb.activeCellIndex = nb.widgets.length - 1; nb.mode = 'command';
              return nb.activeCellIndex;
            }""",
                source,
            )
        )

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait (bounded) until no cell is queued or running and the kernel is idle."""

        def idle() -> bool:
            return not self.cells_busy() and self.kernel_status() == "idle"

        # Two consecutive idle readings: the kernel flips briefly idle between cells.
        if not poll(lambda: idle() and (time.sleep(0.3) is None) and idle(), timeout, step=0.3):
            raise TimeoutError(f"cells still running after {timeout} s")

    def save(self, timeout: float = 30) -> Path:
        """Save the notebook as JupyterLab's Save does; wait (bounded) until saved; its path."""
        # Not awaited: a dialog (the file changed on disk) would hold the command's promise.
        self.page.evaluate("() => { window.jupyterapp.commands.execute('docmanager:save'); }")
        saved = poll(
            lambda: (
                not self.page.evaluate(
                    "() => window.jupyterapp.shell.currentWidget.context.model.dirty"
                )
            ),
            timeout,
            step=0.2,
        )
        if not saved:
            raise TimeoutError(f"the notebook was not saved within {timeout} s")
        return self.lab.root / str(self.current_path())

    def cells_busy(self) -> bool:
        """True while any cell is queued or running."""
        return bool(self.page.evaluate(JS_BUSY_CELLS))

    def plot_state(self) -> dict[str, Any]:
        return dict(self.page.evaluate(JS_PLOT))

    def widget_error_text(self) -> str:
        return str(self.page.evaluate(JS_WIDGET_ERROR))

    def widget_console_errors(self) -> list[str]:
        return [
            c
            for c in self.console
            if (c.startswith(("error", "pageerror")))
            and any(k in c.lower() for k in CONSOLE_WIDGET_ERRORS)
        ]

    def diagnostics(self) -> str:
        """What each cell's outputs hold in the page, and the last console lines."""
        outputs = self.page.evaluate(
            """() => window.jupyterapp.shell.currentWidget.content.widgets.map((c, i) =>
              Array.from(c.node.querySelectorAll('.jp-OutputArea-output')).map(o =>
                `cell ${i}: ${o.getAttribute('data-mime-type')} text=${o.innerText.length}`
                + ` plots=${o.querySelectorAll('.js-plotly-plot').length}`
                + ` views=${o.querySelectorAll('.nnb-surface').length}`
                + ` notes=${Array.from(o.querySelectorAll('.nnb-note')).map(n => n.textContent)}`
                + ` ${o.innerText.slice(0, 80).replace(/\\s+/g, ' ')}`)).flat()"""
        )
        plotly = self.page.evaluate(JS_PLOTLY)
        return "\n".join(
            ["page outputs:", *outputs, f"plotly.js: {plotly}", "console:", *self.console[-30:]]
        )

    def show_output(self, index: int) -> None:
        """Scroll cell ``index``'s output into the middle of the view (views draw only in sight)."""
        self.page.evaluate(
            "(i) => { const c = window.jupyterapp.shell.currentWidget.content.widgets[i];"
            " (c.node.querySelector('.jp-OutputArea') || c.node)"
            ".scrollIntoView({block: 'center'}); }",
            index,
        )

    def output_text(self, index: int) -> str:
        """The rendered text of cell ``index``'s output area."""
        return str(
            self.page.evaluate(
                "(i) => { const c = window.jupyterapp.shell.currentWidget.content.widgets[i];"
                " const o = c.node.querySelector('.jp-OutputArea');"
                " return o ? o.innerText : ''; }",
                index,
            )
        )


@contextmanager
def chromium_page(viewport: tuple[int, int] = (1280, 900)) -> Iterator[Any]:
    """A headless Debian Chromium page (never ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def write_notebook(path: Path, cells: Sequence[str]) -> Path:
    """Write a notebook of code ``cells`` for the python3 kernel (what the lab opens)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


# The newest x of each plot part in the page (null until it drew data), in page order.
# A part holds its plotly graph div once drawn: a part never in sight has none yet
# (``widgets/surface.js`` draws nothing out of sight).
JS_PLOT_LASTS = """() => Array.from(document.querySelectorAll('.nnb-plot')).map(part => {
  const gd = part.querySelector('.js-plotly-plot');
  let last = null;
  for (const tr of ((gd && gd.data) || [])) {
    const xs = tr.x || [];
    if (!xs.length) continue;
    const v = xs[xs.length - 1];
    const n = typeof v === 'number' ? v : Date.parse(v);
    if (!Number.isNaN(n) && (last === null || n > last)) last = n;
  }
  return last;
})"""


def run_all(nbp: NotebookPage, timeout: float = 120) -> float:
    """Click Run All (the menu command) and return the monotonic time the kernel went idle."""
    nbp.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # Run All queues every cell at once; wait until some cell shows it is queued or running.
    poll(nbp.cells_busy, 10, step=0.1)
    nbp.wait_idle(timeout)
    return time.monotonic()


JS_SHOW_PLOT = """(i) => document.querySelectorAll('.nnb-plot')[i]
  .scrollIntoView({block: 'center'})"""


def each_plot_advances(page: Any, count: int, timeout: float = 15) -> list[float]:
    """Scroll each of ``count`` plots into view in turn; each must draw newer data twice.

    A plot out of sight does not draw (``widgets/surface.js``; one never in sight
    has no graph yet), so each is looked at as a person would: once in view it
    draws the newest data, and then it must keep drawing. Returns the newest x
    each plot showed.
    """
    shown = poll(lambda: len(v := page.evaluate(JS_PLOT_LASTS)) == count and v, 30)
    assert shown, f"expected {count} plots in the page, found {page.evaluate(JS_PLOT_LASTS)}"

    def newer(i: int, than: float | None) -> float | None:
        now = page.evaluate(JS_PLOT_LASTS)[i]
        return now if now is not None and (than is None or now > than) else None

    lasts: list[float] = []
    for i in range(count):
        page.evaluate(JS_SHOW_PLOT, i)
        last = page.evaluate(JS_PLOT_LASTS)[i]
        for step in ("came into view", "kept updating"):
            last = poll(lambda i=i, b=last: newer(i, b), timeout, step=0.3)
            assert last, f"plot {i} stopped updating ({step}): {page.evaluate(JS_PLOT_LASTS)}"
        lasts.append(last)
    return lasts


def plots_all_advance(nbp: NotebookPage, count: int, timeout: float = 15) -> list[float]:
    """:func:`each_plot_advances` in a notebook page (after the kernel went idle)."""
    return each_plot_advances(nbp.page, count, timeout)


def wait_until_after(start: float, seconds: float) -> None:
    # Pacing the check points of the test itself, not waiting for a result.
    delay = start + seconds - time.monotonic()
    if delay > 0:
        time.sleep(delay)
