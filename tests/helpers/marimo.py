"""A headless marimo server on a copy of a notebook, and a Chromium page on it (no pytest here).

Used by ``tests/system/test_browser_marimo.py``. Like :mod:`tests.helpers.lab`
(whose Chromium launcher, console markers and page probes it reuses): the
server binds 127.0.0.1 on a free port, runs in its own process group with HOME,
the XDG dirs and marimo's config in a temp dir, serves a *copy* of the notebook
(``marimo edit`` writes ``__marimo__/`` beside the file it opens), and is stopped
by signalling only that group.

``marimo run`` runs the notebook's kernel as a thread of the server process
(``marimo edit``: as a child process), one kernel per page, started when the page
connects: the kernel's output, marimo's logs included, is in :meth:`Marimo.log_tail`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.helpers.lab import CONSOLE_WIDGET_ERRORS
from tests.helpers.net import free_port
from tests.helpers.process import start_web_server, stop_group
from tests.helpers.waiting import poll

__all__ = ["DEEP_ALL", "UNSUPPORTED", "AppPage", "Marimo", "deep", "running_marimo"]

#: What marimo's page shows in place of a classic (non-anywidget) Jupyter widget.
UNSUPPORTED = "Jupyter widgets are not supported in marimo"

# marimo draws each anywidget inside the shadow root of a <marimo-anywidget>, where
# document.querySelector does not reach: page probes find elements with deepAll.
DEEP_ALL = """const deepAll = (sel) => { const out = [];
  const walk = (root) => { out.push(...root.querySelectorAll(sel));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot); };
  walk(document); return out; };"""


def deep(js: str) -> str:
    """The page function ``js`` (taking at most one argument), with ``deepAll`` in scope."""
    return f"(arg) => {{ {DEEP_ALL}\n  return ({js})(arg); }}"


# The page's own signs of a broken widget: the classic-widget banner, an anywidget
# that failed to load or render. (``marimo run`` shows no error of a cell in the
# page: those are in the server's log, see Marimo.errors.)
JS_PAGE_ERROR = """() => {
  const m = (document.body.innerText || '').match(
    /Jupyter widgets are not supported in marimo|\\[anywidget\\][^\\n]*/);
  return m ? m[0] : '';
}"""

# Each displayed UI element (an anywidget among them) by its id: a cell that runs
# again replaces its elements with new ones.
JS_ELEMENTS = """() => Array.from(document.querySelectorAll('marimo-ui-element'))
  .map(e => e.getAttribute('object-id'))"""


class Marimo:
    """``marimo run`` (or ``edit``) of a copy of ``notebook``, in its own process group.

    Args:
        notebook: The marimo ``.py`` notebook; copied into the server's temp dir.
        mode: ``"run"`` (the app view, code hidden) or ``"edit"`` (the editor,
            ``--no-token``).
        python: The interpreter whose ``marimo`` (and kernel) is used.
        env: Extra environment variables for the server and its kernel.
    """

    def __init__(
        self,
        notebook: Path,
        *,
        mode: str = "run",
        python: str = sys.executable,
        env: dict[str, str] | None = None,
    ) -> None:
        if mode not in ("run", "edit"):
            raise ValueError(f"mode must be 'run' or 'edit', not {mode!r}")
        self.mode = mode
        self.python = python
        self.extra_env = dict(env or {})
        self.work = Path(tempfile.mkdtemp(prefix="nnb-marimo-"))
        self.notebook = self.work / "app" / notebook.name
        self.notebook.parent.mkdir()
        shutil.copy(notebook, self.notebook)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        home = self.work / "home"
        for var, sub in [
            ("HOME", "home"),
            ("XDG_CONFIG_HOME", "home/.config"),
            ("XDG_CACHE_HOME", "home/.cache"),
            ("XDG_STATE_HOME", "home/.local/state"),
            ("XDG_DATA_HOME", "home/.local/share"),
        ]:
            (self.work / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(self.work / sub)
        # marimo reads ~/.config/marimo/marimo.toml: ours, so that the user's own
        # settings never reach the test. `marimo edit` runs no cell on open unless
        # told to (auto_instantiate defaults to false); `marimo run` always runs them.
        (home / ".config" / "marimo").mkdir(parents=True, exist_ok=True)
        (home / ".config" / "marimo" / "marimo.toml").write_text(
            "[runtime]\nauto_instantiate = true\n"
        )
        env["MARIMO_SKIP_UPDATE_CHECK"] = "1"  # no call to PyPI on start
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60) -> Marimo:
        """Start the server and wait (bounded) until ``/health`` answers 200.

        Raises:
            RuntimeError: the server exited or did not answer within ``timeout`` s.
        """
        cmd = [
            self.python,
            "-m",
            "marimo",
            self.mode,
            str(self.notebook),
            "--headless",
            "--host=127.0.0.1",
            f"--port={self.port}",
            "--no-token",
            "--no-sandbox",
        ]
        self._log = open(self.work / "marimo.log", "wb")  # noqa: SIM115 (closed in stop())
        self.proc = start_web_server(
            cmd,
            name="marimo",
            health=f"{self.base}/health",
            log=self._log,
            log_tail=self.log_tail,
            timeout=timeout,
            env=self._env(),
            cwd=self.notebook.parent,
        )
        return self

    @property
    def url(self) -> str:
        """The notebook's page."""
        return f"{self.base}/"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output (stdout and stderr, the kernel's included)."""
        path = self.work / "marimo.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def errors(self) -> list[str]:
        """Tracebacks and error lines the kernel and server logged (a cell that raised)."""
        path = self.work / "marimo.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return [
            line
            for line in text.splitlines()
            if line.startswith(("Traceback", "[E ")) or "Error:" in line
        ]

    def stop(self) -> None:
        """SIGINT (marimo's own shutdown), then SIGTERM, SIGKILL: our process group only."""
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_group(proc, (signal.SIGINT, signal.SIGTERM, signal.SIGKILL))
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)


@contextmanager
def running_marimo(notebook: Path, **options: Any) -> Iterator[Marimo]:
    """Start a :class:`Marimo` on ``notebook``; always stop it and remove its temp dir.

    ``options`` are :class:`Marimo`'s keyword arguments ``mode``, ``python`` and ``env``.
    """
    server = Marimo(notebook, **options)
    try:
        yield server.start()
    finally:
        server.cleanup()


class AppPage:
    """A Playwright page showing a :class:`Marimo` notebook; console lines in :attr:`console`."""

    def __init__(self, page: Any, server: Marimo) -> None:
        self.page = page
        self.server = server
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def evaluate(self, js: str, arg: Any = None) -> Any:
        """Evaluate the page function ``js`` with ``deepAll`` (see :func:`deep`) in scope."""
        return self.page.evaluate(deep(js), arg)

    def count(self, selector: str) -> int:
        """Elements matching ``selector`` in the page, shadow roots included."""
        return int(self.evaluate("(sel) => deepAll(sel).length", selector))

    def open(self, selector: str, count: int = 1, timeout: float = 60) -> AppPage:
        """Open the notebook and wait (bounded) until ``count`` elements match ``selector``.

        Raises:
            AssertionError: fewer showed within ``timeout`` s (with what the page had).
        """
        self.page.goto(self.server.url, wait_until="domcontentloaded")
        shown = poll(lambda: self.count(selector) >= count or self.page_error(), timeout)
        if self.page_error() or not shown:
            raise AssertionError(
                f"expected {count} x {selector!r} in the page: {self.diagnostics()}"
            )
        return self

    def page_error(self) -> str:
        """The unsupported-widget banner, an anywidget error or an error output, if shown."""
        return str(self.page.evaluate(JS_PAGE_ERROR))

    def elements(self) -> list[str]:
        """The ids of the page's UI elements, in page order (new ids: a cell ran again)."""
        return [str(i) for i in self.page.evaluate(JS_ELEMENTS)]

    def widget_console_errors(self) -> list[str]:
        """Console errors that name a widget, anywidget, plotly or a comm."""
        return [
            line
            for line in self.console
            if line.startswith(("error", "pageerror"))
            and any(k in line.lower() for k in CONSOLE_WIDGET_ERRORS)
        ]

    def diagnostics(self) -> str:
        """The page's error signs, text, console and the server's log, for a failure message."""
        text = str(self.page.evaluate("() => (document.body.innerText || '').slice(0, 1500)"))
        return "\n".join(
            [
                f"page error: {self.page_error()!r}",
                "page text:",
                text,
                "console:",
                *self.console[-30:],
                "marimo log:",
                self.server.log_tail(),
            ]
        )
