"""notebooks/05-explore.ipynb runs unattended with a real kernel and stays live."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.helpers.paths import ROOT

NOTEBOOK = ROOT / "notebooks" / "05-explore.ipynb"

# Runs after the notebook's cells, in the same kernel: the views must still be live.
CHECK = """
import pandas as _pd
_before = latency.version, tasks.version
stream.wait_for("ai.requests", rows=len(requests) + 50, timeout=30)
_frame = latency.to_dataframe()
_in = _frame[_frame["timestamp"] >= _pd.Timestamp(spike.start, unit="s", tz="UTC")]
_by = _in.groupby("model")["latency_ms_p95"].median()
print("SPIKE", _by["claude-sonnet"] > 3 * _by.drop("claude-sonnet").max())
print("LIVE", latency.version > _before[0], len(tasks) > 0)
_storm = alerts.to_dataframe()
print("STORM", _storm.groupby("source")["count"].sum().idxmax())
stream.close()
server.close()
"""


@pytest.mark.notebook
def test_the_explore_notebook_shows_the_incident_live(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CHECK))
    client = NotebookClient(
        nb,
        timeout=90,
        kernel_name="python3",
        store_widget_state=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    text = "".join(
        out.get("text", "") for out in nb.cells[-1].outputs if out.output_type == "stream"
    )
    assert "SPIKE True" in text, text
    assert "LIVE True True" in text, text
    assert "STORM server-03" in text, text
    widgets = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "application/vnd.jupyter.widget-view+json" in out.get("data", {})
    ]
    assert len(widgets) >= 4, "the plots and tables were not displayed as widgets"
