"""A person clicks the dashboard's channel controls with no cell running: the stream follows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.lab import JS_PLOT_LASTS, NotebookPage, poll, running_lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

CELLS = [
    "import nexus_nb as nnb\n"
    "server = nnb.serve(rate=200)\n"
    "stream = nnb.connect(server.url, api_key=server.api_key)\n"
    'stream.subscribe(["telemetry.metrics"])\n'
    "dashboard = nnb.Dashboard(stream, window='30s')\n"
    "dashboard",
    "if dashboard.controls.task is not None:\n"
    "    dashboard.controls.task.result(timeout=10)  # the filter's apply, started by Enter\n"
    'print("SUBS=" + repr({ch: f for ch, f in stream.client.subscriptions.items()}))',
]


@contextmanager
def _running(tmp_path: Path, page: Any, cells: list[str]) -> Iterator[NotebookPage]:
    """A lab showing a notebook of ``cells`` whose first cell has run."""
    write_notebook(tmp_path / "controls.ipynb", cells)
    with running_lab(tmp_path) as lab:
        nbp = NotebookPage(page, lab).open("controls.ipynb")
        nbp.run_cells(0, 1, timeout=90)
        yield nbp


# The controls' message line ("applying...", "applied") is rewritten by every apply,
# even to the same text: a MutationObserver tells a new "applied" from the last one.
JS_WATCH_MESSAGE = """() => {
  const m = document.querySelector('.nnb-controls .nnb-message');
  window.__nnb_said = [];
  new MutationObserver(() => window.__nnb_said.push(m.textContent))
    .observe(m, {childList: true, characterData: true, subtree: true});
}"""
JS_SAID = "() => window.__nnb_said"


def _watch_message(page: Any) -> None:
    page.evaluate(JS_WATCH_MESSAGE)


def _applied(page: Any) -> bool:
    """Whether an apply started and ended well since :func:`_watch_message`."""
    said = page.evaluate(JS_SAID)
    return "applying..." in said and said[-1] == "applied"


def test_clicking_a_channel_and_typing_a_filter_change_the_subscriptions_within_a_second(
    tmp_path: Path, page: Any
) -> None:
    with _running(tmp_path, page, CELLS) as nbp:
        page.locator(".nnb-controls summary", has_text="Channels").click()
        box = page.locator("input[type=checkbox][data-channel='system.alerts']")
        _watch_message(page)
        box.click()
        assert not nbp.cells_busy()
        applied = poll(lambda: _applied(page), 1.0, step=0.05)
        assert applied, f"the toggle did not apply within 1 s: {nbp.output_text(0)!r}"
        field = page.locator("input[type=text][data-channel='system.alerts']")
        field.fill("severity=critical")
        _watch_message(page)
        field.press("Enter")
        applied = poll(lambda: _applied(page), 1.0, step=0.05)
        assert applied, f"the filter did not apply within 1 s of Enter: {nbp.output_text(0)!r}"
        nbp.run_cells(1, 2, timeout=30)
        subs = nbp.output_text(1)
        assert "'system.alerts': [{'severity': ['critical']}]" in subs, subs
        assert "'telemetry.metrics'" in subs, subs
        assert nbp.widget_error_text() == ""


PLOT_CELLS = [
    "import nexus_nb as nnb\n"
    "server = nnb.serve(rate=200)\n"
    "stream = nnb.connect(server.url, api_key=server.api_key)\n"
    'stream.subscribe(["telemetry.metrics"])\n'
    "plot = nnb.LivePlot(stream['telemetry.metrics'], color='source', window='20s')\n"
    "plot",
    'print("MODE=" + plot.view_mode)',
]


def _plot_last(page: Any) -> float | None:
    lasts = page.evaluate(JS_PLOT_LASTS)
    return lasts[0] if lasts else None


def _advances_within(page: Any, since: float, timeout: float) -> bool:
    return bool(poll(lambda: (_plot_last(page) or 0) > since, timeout, step=0.05))


def test_pause_freezes_the_plot_and_follow_resumes_it_within_a_second(
    tmp_path: Path, page: Any
) -> None:
    with _running(tmp_path, page, PLOT_CELLS) as nbp:
        assert poll(lambda: _plot_last(page), 30), "the plot got no data"
        button = page.locator("button.nnb-mode", has_text="pause")
        button.click()
        assert not nbp.cells_busy()
        follow = page.locator("button.nnb-mode", has_text="follow")
        assert poll(follow.is_visible, 1.0, step=0.05), "pause did not act within 1 s"
        frozen = _plot_last(page)
        assert frozen is not None
        # Paused: over the next two seconds (about 400 events arriving) the plot keeps its frame.
        assert not _advances_within(page, frozen, 2.0), "the paused plot kept redrawing"
        follow.click()
        assert _advances_within(page, frozen, 1.0), "follow did not redraw within 1 s"
        nbp.run_cells(1, 2, timeout=30)
        assert "MODE=following" in nbp.output_text(1)
        assert nbp.widget_error_text() == ""


# One trace of ~120 events/s over a 10 s window, drawn live with at most 300 points:
# the live view is an envelope, a zoom into 10% of it (~120 events) is every event.
ZOOM_CELLS = [
    "import nexus_nb as nnb\n"
    "server = nnb.serve(rate=200)\n"
    "stream = nnb.connect(server.url, api_key=server.api_key)\n"
    'stream.subscribe(["telemetry.metrics"])\n'
    "plot = nnb.LivePlot(stream['telemetry.metrics'], window='10s', max_points=300)\n"
    "plot",
    "lo, hi = plot.figure.layout.xaxis.range\n"
    "t = stream['telemetry.metrics'].read(['timestamp'])[1]['timestamp']\n"
    "ms = (t // 1000) / 1000\n"
    "inside = int(((ms >= lo) & (ms <= hi)).sum())\n"
    "print(f'MODE={plot.view_mode} WINDOW={len(t)} INRANGE={inside}')",
]

# The first plot's first trace: point count, and whether every x lies in the shown range.
JS_TRACE = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  const ax = gd._fullLayout.xaxis;
  const [a, b] = ax.range.map(ax.r2l);
  const xs = Array.from((gd.data[0] || {}).x || []).map(v => typeof v === 'number' ? v : ax.d2l(v));
  const inside = xs.length > 0 && xs.every(v => v >= a - 1 && v <= b + 1);
  return {n: xs.length, inside: inside, span: b - a};
}"""


def _mode_counts(nbp: NotebookPage) -> dict[str, str]:
    nbp.run_cells(1, 2, timeout=30)
    text = nbp.output_text(1)
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


def test_a_box_zoom_shows_every_event_of_the_range_within_a_second_and_a_double_click_follows(
    tmp_path: Path, page: Any
) -> None:
    with _running(tmp_path, page, ZOOM_CELLS) as nbp:
        first = poll(lambda: _plot_last(page), 30)
        assert first, "the plot got no data"
        assert _advances_within(page, first + 10_000, 30), "the window did not fill"
        live = page.evaluate(JS_TRACE)
        drag = page.locator(".js-plotly-plot .nsewdrag").first
        box = drag.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.4, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=10)
        page.mouse.up()

        def drawn() -> dict[str, Any] | None:
            trace = page.evaluate(JS_TRACE)
            return trace if trace["inside"] and trace["span"] < live["span"] / 2 else None

        zoomed = poll(drawn, 1.0, step=0.02)
        assert zoomed, f"the zoomed range was not drawn within 1 s: {page.evaluate(JS_TRACE)}"
        assert not nbp.cells_busy()
        counts = _mode_counts(nbp)
        assert counts["MODE"] == "zoomed"
        # Live, the window's events were an envelope; zoomed, every event of the range.
        assert live["n"] <= 300 < int(counts["WINDOW"])
        assert zoomed["n"] == int(counts["INRANGE"]) > 0, (zoomed, counts)
        page.mouse.dblclick(box["x"] + box["width"] * 0.5, y)
        following = poll(lambda: "zoomed" not in nbp.output_text(0), 2.0, step=0.05)
        assert following, f"the double-click did not follow: {nbp.output_text(0)!r}"
        newest = _plot_last(page) or 0
        assert _advances_within(page, newest, 2.0), "the plot did not advance after following"
        assert _mode_counts(nbp)["MODE"] == "following"
        assert nbp.widget_error_text() == ""


def test_a_closed_plot_leaves_its_last_frame_in_the_page(tmp_path: Path, page: Any) -> None:
    with _running(tmp_path, page, [PLOT_CELLS[0], "plot.close()"]) as nbp:
        assert poll(lambda: _plot_last(page), 30), "the plot got no data"
        nbp.run_cells(1, 2, timeout=30)
        frozen = poll(
            lambda: page.evaluate(
                "() => { const s = document.querySelector('svg.nnb-snapshot');"
                " return s && !document.querySelector('.js-plotly-plot')"
                " && s.querySelectorAll('polyline').length; }"
            ),
            10,
        )
        assert frozen, f"no snapshot in place of the closed plot:\n{nbp.diagnostics()}"
        assert nbp.widget_error_text() == ""
