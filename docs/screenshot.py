#!/usr/bin/env python
"""Take ``docs/dashboard.png``: the telemetry dashboard notebook live in JupyterLab.

Opens ``notebooks/02-telemetry-dashboard.ipynb`` in an isolated JupyterLab in
headless Chromium (the machinery of ``tests/conftest_browser.py``), clicks Run
All as a Binder visitor does, waits until the kernel is idle and every plot has
points, scrolls the dashboard into view and writes the image. Every wait is
bounded; the kernel and the lab are stopped however the script ends.

Usage::

    .venv/bin/python docs/screenshot.py [--out docs/dashboard.png] [--settle 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest_browser import (  # noqa: E402 (needs the sys.path entry above)
    NotebookPage,
    chromium_page,
    running_lab,
    wait_until,
)

NOTEBOOK = ROOT / "notebooks" / "02-telemetry-dashboard.ipynb"

JS_ALL_PLOTS_HAVE_POINTS = """() => {
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  return plots.length > 0 && plots.every(
    gd => (gd.data || []).some(tr => (tr.x || []).length > 1));
}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds of data to show")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nnb-shot-") as tmp:
        root = Path(tmp)
        shutil.copyfile(NOTEBOOK, root / NOTEBOOK.name)
        with running_lab(root) as lab, chromium_page(viewport=(1400, 1000)) as page:
            nbp = NotebookPage(page, lab).open(NOTEBOOK.name)
            sources = nbp.cell_sources()
            dashboard = next(i for i, s in enumerate(sources) if "Dashboard(" in s)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            wait_until(nbp.cells_busy, 10, step=0.1)
            nbp.wait_idle(120)
            if not wait_until(lambda: page.evaluate(JS_ALL_PLOTS_HAVE_POINTS), 30):
                raise SystemExit(f"plots never got points: {nbp.plot_state()}")
            # Let a few seconds of data accumulate so the lines are lines; the wait
            # above already proved data flows, this only shapes the picture.
            time.sleep(args.settle)
            if nbp.widget_error_text() or nbp.widget_console_errors():
                raise SystemExit(f"widget errors: {nbp.widget_console_errors()}")
            area = page.locator(".jp-Notebook .jp-Cell").nth(dashboard).locator(".jp-OutputArea")
            # The notebook panel scrolls inside the page: make the page tall enough to
            # hold the whole dashboard, or the element shot is cut at the viewport.
            box = area.bounding_box() or {"height": 900}
            page.set_viewport_size({"width": 1400, "height": min(4000, int(box["height"]) + 300)})
            area.scroll_into_view_if_needed()
            args.out.parent.mkdir(parents=True, exist_ok=True)
            area.screenshot(path=str(args.out))
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
