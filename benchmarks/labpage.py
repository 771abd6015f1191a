"""A throwaway JupyterLab and a headless Chromium page on it, for benchmarks that need a browser.

The smallest version of what ``tests/helpers/lab.py`` does: Jupyter and IPython
state in a temp dir, the server on 127.0.0.1 with a random token, no news toast,
notebook windowing off so every output stays in the page; stopped with
``POST /api/shutdown`` and then only its own process group is signalled (the
tests' ``stop_group``). Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

# The repository root, for the tests' process helpers (as bench_redis uses their Redis).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers.process import stop_group

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # required when running as root
    "--disable-gpu",  # software rendering, as on a headless server
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@contextmanager
def running_lab(
    root: Path, *, timeout: float = 90
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Serve ``root`` in JupyterLab; yield the process and a URL builder's base (with token).

    Yields ``(process, "http://127.0.0.1:PORT/{path}?token=...")`` where ``{path}``
    is to be filled with ``str.format``.

    Raises:
        RuntimeError: The server exited or did not answer within ``timeout`` s.
    """
    work = Path(tempfile.mkdtemp(prefix="nnb-bench-lab-"))
    env = dict(os.environ)
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "cfg"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "rt"),
        ("IPYTHONDIR", "ipy"),
    ]:
        (work / sub).mkdir()
        env[var] = str(work / sub)
    env.pop("JUPYTER_PATH", None)
    for rel, value in SETTINGS.items():
        path = work / "settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port, token = _free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={work / 'settings'}",
        f"--LabApp.workspaces_dir={work / 'ws'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(work / "lab.log", "wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            end = time.monotonic() + timeout
            while not _answers(f"{base}/api/status?token={token}"):
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(
                        f"jupyter lab did not start: {(work / 'lab.log').read_text()}"
                    )
                time.sleep(0.25)
            yield proc, f"{base}/{{path}}?token={token}"
        finally:
            _stop(proc, f"{base}/api/shutdown?token={token}")
            shutil.rmtree(work, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes], shutdown: str) -> None:
    """Shut down politely (stops kernels), then signal the server's own process group."""
    with suppress(OSError):
        urllib.request.urlopen(urllib.request.Request(shutdown, method="POST"), timeout=5).close()
    stop_group(proc, (None, signal.SIGTERM, signal.SIGKILL), first_wait=15)


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


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a notebook of code ``cells`` for the python3 kernel."""
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
