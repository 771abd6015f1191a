"""A displayed view is shown under a display id; closing it leaves its last frame there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell

from nexus_nb.widgets import LivePlot
from nexus_nb.widgets.display import MAX_DISPLAYS, close_displayed
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


def test_a_displayed_plot_is_shown_so_the_clock_draws_it(
    published: list[dict[str, Any]],
) -> None:
    plot = _plot()
    assert not plot.displayed  # built, never shown: frames would be wasted
    plot._ipython_display_()
    assert plot.widget.displayed
    assert plot.displayed
    (shown,) = published
    assert shown["data"][WIDGET]["model_id"] == plot.widget.model_id


def test_marimo_is_given_the_live_widget_and_once_closed_the_last_frame() -> None:
    plot = _plot()
    widget = plot._display_()
    assert widget is plot.widget
    assert plot.displayed
    plot.close()
    last = plot._display_()
    assert "<svg" in last.data
    assert plot.widget.comm is None


def test_close_displayed_closes_every_open_displayed_view(
    published: list[dict[str, Any]],
) -> None:
    shown, hidden = _plot(), _plot()
    shown._ipython_display_()
    assert close_displayed() >= 1
    assert shown._closed
    assert not hidden._closed
    assert WIDGET not in published[-1]["data"]
