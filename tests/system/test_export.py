"""``nexus-nb export``: a live notebook becomes a small HTML file whose plots draw offline."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.paths import NOTEBOOKS

DASHBOARD = "02-telemetry-dashboard.ipynb"
# Every figure an export must show: the dashboard's two plots and its tables.
JS_FIGURES = """() => Array.from(document.querySelectorAll('svg.nnb-snapshot')).map(s => ({
  width: s.getBoundingClientRect().width,
  lines: Array.from(s.querySelectorAll('polyline'))
    .filter(p => p.getBBox().width > 0).length,
  title: s.getAttribute('aria-label'),
}))"""


def _export(notebook: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nexus_nb", "export", str(notebook), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    shutil.copyfile(NOTEBOOKS / DASHBOARD, tmp / DASHBOARD)
    done = _export(tmp / DASHBOARD, "--out", str(tmp / "dashboard.html"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp / "dashboard.html")
    return tmp / "dashboard.html"


@pytest.mark.notebook
def test_the_export_is_small_and_holds_no_widget_state_or_plotly_js(exported: Path) -> None:
    text = exported.read_text()
    assert len(text) < 1_000_000, f"{len(text)} bytes"
    assert "application/vnd.jupyter.widget-view+json" not in text
    assert "widget-state" not in text
    assert "plotly" not in text.lower()
    svgs = re.findall(r"<svg[^>]*nnb-snapshot[^>]*>", text)
    titles = [re.search(r"aria-label=[\"']([^\"']*)", svg)[1] for svg in svgs]  # type: ignore[index]
    assert titles == ["telemetry.metrics", "ai.requests"]
    assert "<table" in text  # the alerts and tasks tables


@pytest.mark.notebook
@pytest.mark.browser
def test_every_plot_of_the_export_draws_in_a_browser_with_no_network(
    exported: Path, page: Any
) -> None:
    requested: list[str] = []

    def block(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            requested.append(route.request.url)
            route.abort()

    page.route("**/*", block)
    page.goto(exported.as_uri())
    figures = page.evaluate(JS_FIGURES)
    assert [f["title"] for f in figures] == ["telemetry.metrics", "ai.requests"]
    for figure in figures:
        assert figure["width"] > 300, figure
        assert figure["lines"] >= 1, figure
    assert all("plotly" not in url for url in requested), requested


@pytest.mark.notebook
def test_a_failing_cell_writes_nothing_and_exits_1(tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("raise RuntimeError('boom')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, tmp_path / "bad.ipynb")
    done = _export(tmp_path / "bad.ipynb")
    assert done.returncode == 1
    assert "a cell failed; nothing written" in done.stderr
    assert "boom" in done.stderr
    assert not (tmp_path / "bad.html").exists()


def test_a_missing_notebook_is_a_clear_error(tmp_path: Path) -> None:
    done = _export(tmp_path / "none.ipynb")
    assert done.returncode == 1
    assert "nexus-nb: error:" in done.stderr
    assert "none.ipynb" in done.stderr
