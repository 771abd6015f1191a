"""A displayed view is shown under a display id; closing it leaves its last frame there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell

from nexus_nb.widgets import LivePlot
from nexus_nb.widgets.display import MAX_DISPLAYS
from nexus_nb.widgets.testing import MemorySource

WIDGET = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """What the IPython shell publishes (display_data and update_display_data)."""
    shell = InteractiveShell.instance()
    messages: list[dict[str, Any]] = []

    def publish(data: dict[str, Any], metadata: Any = None, **kwargs: Any) -> None:
        messages.append({"data": data, **kwargs})

    monkeypatch.setattr(shell.display_pub, "publish", publish)
    yield messages
    InteractiveShell.clear_instance()


def _plot() -> LivePlot:
    src = MemorySource()
    now = 1_700_000_000_000_000_000
    src.append(
        {
            "timestamp": np.array([now, now + 10**9], dtype=np.int64),
            "source": np.array(["a", "a"], dtype=object),
            "value": np.array([1.0, 2.0]),
        }
    )
    return LivePlot(src, title="cpu")


def test_closing_a_displayed_plot_replaces_its_widget_with_the_last_frame(
    published: list[dict[str, Any]],
) -> None:
    plot = _plot()
    plot._ipython_display_()
    (shown,) = published
    assert WIDGET in shown["data"]
    assert "<svg" in shown["data"]["text/html"]
    display_id = shown["transient"]["display_id"]
    plot.close()
    update = published[-1]
    assert update["update"] is True
    assert update["transient"]["display_id"] == display_id
    assert WIDGET not in update["data"]
    assert "<polyline" in update["data"]["text/html"]


def test_displays_past_the_limit_are_counted_and_not_frozen(
    published: list[dict[str, Any]],
) -> None:
    plot = _plot()
    for _ in range(MAX_DISPLAYS + 3):
        plot._ipython_display_()
    assert plot.displays_forgotten == 3
    plot.close()
    updates = [m for m in published if m.get("update")]
    assert len(updates) == MAX_DISPLAYS
