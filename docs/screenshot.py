#!/usr/bin/env python
"""Take ``docs/dashboard.png``: the telemetry dashboard notebook live in JupyterLab.

Opens ``notebooks/02-telemetry-dashboard.ipynb`` in an isolated JupyterLab in
headless Chromium (``benchmarks/labpage.py``, the standalone launcher the browser
benchmarks use; the tests are not imported), clicks Run All as a Binder visitor
does, waits until the kernel is idle and every plot has points, scrolls the
dashboard into view and writes the image. Every wait is bounded; the kernel and
the lab are stopped however the script ends.

Usage::

    .venv/bin/python docs/screenshot.py [--out docs/dashboard.png] [--settle 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
# benchmarks/ is a folder of scripts, not a package.
sys.path.insert(0, str(ROOT / "benchmarks"))

from labpage import chromium_page, running_lab  # noqa: E402 (needs the sys.path entry above)

T = TypeVar("T")

NOTEBOOK = ROOT / "notebooks" / "02-telemetry-dashboard.ipynb"

JS_ALL_PLOTS_HAVE_POINTS = """() => {
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  return plots.length > 0 && plots.every(
    gd => (gd.data || []).some(tr => (tr.x || []).length > 1));
}"""


JS_KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""

# True while any cell is queued or running (JupyterLab shows "[*]:" for both).
JS_BUSY_CELLS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-InputPrompt'))
  .some(e => (e.innerText || '').includes('*'))"""

JS_WIDGET_ERROR = """() => {
  const m = (document.body.innerText || '').match(
    /Error displaying widget|model not found|Failed to load model[^\\n]*/i);
  return m ? m[0] : '';
}"""


def wait_until(pred: Callable[[], T], timeout: float, step: float = 0.25) -> T | None:
    """Poll ``pred`` until it returns something truthy or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= end:
            return None
        time.sleep(step)


def wait_idle(page: Any, timeout: float) -> None:
    """Wait (bounded) until no cell is queued or running and the kernel is idle, twice over."""

    def idle() -> bool:
        return not page.evaluate(JS_BUSY_CELLS) and bool(page.evaluate(JS_KERNEL_IDLE))

    # Two readings apart: the kernel flips briefly idle between cells.
    if not wait_until(lambda: idle() and (time.sleep(0.3) is None) and idle(), timeout, 0.3):
        raise SystemExit(f"cells still running after {timeout} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of data to show")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nnb-shot-") as tmp:
        root = Path(tmp)
        shutil.copyfile(NOTEBOOK, root / NOTEBOOK.name)
        with running_lab(root) as (_, url), chromium_page(viewport=(1400, 1000)) as page:
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.goto(url.format(path=f"lab/tree/{NOTEBOOK.name}") + "&reset")
            page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached", timeout=90_000)
            if not wait_until(lambda: page.evaluate(JS_KERNEL_IDLE), 90, step=0.5):
                raise SystemExit("the notebook's kernel never became idle")
            sources = page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.content.widgets"
                ".map(c => c.model.sharedModel.getSource())"
            )
            dashboard = next(i for i, s in enumerate(sources) if "Dashboard(" in s)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            wait_until(lambda: page.evaluate(JS_BUSY_CELLS), 10, step=0.1)
            wait_idle(page, 120)
            if not wait_until(lambda: page.evaluate(JS_ALL_PLOTS_HAVE_POINTS), 30):
                raise SystemExit("plots never got points")
            # Let a few seconds of data accumulate so the lines are lines; the wait
            # above already proved data flows, this only shapes the picture.
            time.sleep(args.settle)
            if error := page.evaluate(JS_WIDGET_ERROR) or "\n".join(errors):
                raise SystemExit(f"widget errors: {error}")
            area = page.locator(".jp-Notebook .jp-Cell").nth(dashboard).locator(".jp-OutputArea")
            # The notebook panel scrolls inside the page: make the page tall enough to
            # hold the whole dashboard, or the element shot is cut at the viewport.
            # Parts out of sight draw once seen, so the dashboard grows as the page
            # does: fit again until its height holds (bounded).
            height = 0
            for _ in range(8):
                area.scroll_into_view_if_needed()
                box = area.bounding_box() or {"height": 900}
                if int(box["height"]) == height:
                    break
                height = int(box["height"])
                page.set_viewport_size({"width": 1400, "height": min(4000, height + 300)})
                time.sleep(1.5)
            area.scroll_into_view_if_needed()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            area.screenshot(path=str(args.out))
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
