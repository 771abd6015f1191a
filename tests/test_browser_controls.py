"""A person clicks the dashboard's channel controls with no cell running: the stream follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest_browser import NotebookPage, running_lab, wait_until, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CELLS = [
    "import nexus_nb as nnb\n"
    "server = await nnb.serve(rate=200)\n"
    "stream = await nnb.connect(server.url, api_key=server.api_key)\n"
    'await stream.subscribe(["telemetry.metrics"])\n'
    "dashboard = nnb.Dashboard(stream, window='30s')\n"
    "dashboard",
    "if dashboard.controls.task is not None:\n"
    "    await dashboard.controls.task  # the filter's apply, started by Enter\n"
    'print("SUBS=" + repr({ch: f for ch, f in stream.client.subscriptions.items()}))',
]


def test_clicking_a_channel_and_typing_a_filter_change_the_subscriptions_within_a_second(
    tmp_path: Path, page: Any
) -> None:
    write_notebook(tmp_path / "controls.ipynb", CELLS)
    with running_lab(tmp_path) as lab:
        nbp = NotebookPage(page, lab).open("controls.ipynb")
        nbp.run_cells(0, 1, timeout=90)
        page.get_by_text("Channels", exact=True).first.click()
        box = page.locator(".widget-checkbox", has_text="system.alerts").locator("input")
        box.click()
        assert not nbp.cells_busy()
        applied = wait_until(lambda: "applied" in nbp.output_text(0), 5.0, step=0.05)
        assert applied, f"the toggle did not apply within 5 s: {nbp.output_text(0)!r}"
        row = page.locator(
            ".widget-hbox", has=page.locator(".widget-checkbox", has_text="system.alerts")
        )
        field = row.locator("input[type=text]")
        field.fill("severity=critical")
        field.press("Enter")
        nbp.run_cells(1, 2, timeout=30)
        subs = nbp.output_text(1)
        assert "'system.alerts': [{'severity': ['critical']}]" in subs, subs
        assert "'telemetry.metrics'" in subs, subs
        assert nbp.widget_error_text() == ""
