"""notebooks/06-marimo.py under ``marimo run``, in headless Chromium, used as a person would.

marimo renders anywidgets (no classic ipywidgets): the four views (a LivePlot, a
LiveTable, a StatusBar, a Dashboard) must show, keep updating with no cell
running, zoom to full resolution from a mouse drag, and unsubscribe from a
click in the Dashboard's channel controls. Each view is drawn inside the shadow
root of a ``<marimo-anywidget>``, so the page is read through ``deepAll``
(:mod:`tests.helpers.marimo`). A view out of sight draws nothing, so each is
scrolled into view before it is watched.

The page holds, in order: surfaces [plot, table, status bar, dashboard]; plots
[the LivePlot, the dashboard's telemetry.metrics, its ai.requests]; status bars
[the StatusBar, the dashboard's]; tables [the LiveTable, the dashboard's alerts,
its tasks].
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers.lab import chromium_page
from tests.helpers.marimo import AppPage, running_marimo
from tests.helpers.paths import NOTEBOOKS
from tests.helpers.waiting import poll

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

NOTEBOOK = NOTEBOOKS / "06-marimo.py"
#: The LivePlot's max_points in the notebook: points per trace while it follows.
MAX_POINTS = 200

#: What each surface draws once in sight: the plot, the table, the status bar, the dashboard.
DRAWN = [
    {".js-plotly-plot": 1},
    {".nnb-table table": 1},
    {".nnb-status": 1},
    {
        ".nnb-status": 1,
        "details input[type=checkbox]": 7,
        ".js-plotly-plot": 2,
        ".nnb-table table": 2,
    },
]

JS_PARTS = "(s) => deepAll('.nnb-surface')[s].querySelectorAll('.nnb-part').length"
JS_SHOW_PART = """([s, k]) => deepAll('.nnb-surface')[s].querySelectorAll('.nnb-part')[k]
  .scrollIntoView({block: 'center'})"""
# Whether part k of surface s drew a frame: a plot with traces, else some text.
JS_PART_DRAWN = """([s, k]) => {
  const p = deepAll('.nnb-surface')[s].querySelectorAll('.nnb-part')[k];
  if (!p.classList.contains('nnb-plot')) return p.innerText.trim().length > 0;
  const gd = p.querySelector('.js-plotly-plot'); return !!gd && (gd.data || []).length > 0; }"""
JS_COUNT_IN = "([s, sel]) => deepAll('.nnb-surface')[s].querySelectorAll(sel).length"
JS_SHOW = """([sel, i]) => { const e = deepAll(sel)[i]; if (!e) return false;
  e.scrollIntoView({block: 'center'}); return true; }"""
JS_TEXT = "([sel, i]) => (deepAll(sel)[i] || {}).innerText ?? null"
# The text of the whole view part holding element i (a table's note sits above it).
JS_PART_TEXT = "([sel, i]) => deepAll(sel)[i]?.closest('.nnb-part')?.innerText ?? ''"
# Plot i's traces: x (epoch ms) of every point, and its x axis range (epoch ms).
JS_PLOT = """(i) => { const gd = deepAll('.js-plotly-plot')[i];
  if (!gd || !gd.data || !gd.layout) return null;
  const ms = v => typeof v === 'number' ? v : Date.parse(String(v).replace(' ', 'T') + 'Z');
  const range = (gd.layout.xaxis && gd.layout.xaxis.range || []).map(ms);
  return {xs: gd.data.map(t => Array.from(t.x || [])), range}; }"""
# Plot i's newest x (null while empty).
JS_NEWEST = """(i) => { const gd = deepAll('.js-plotly-plot')[i]; let last = null;
  for (const t of (gd && gd.data) || []) for (const v of (t.x || []))
    if (last === null || v > last) last = v;
  return last; }"""
# The status bar i's table: {channel: [events/s, rows buffered, rows evicted]}.
JS_STATUS = """(i) => { const bar = deepAll('.nnb-status')[i]; if (!bar) return null;
  const rows = {}; const n = s => Number(s.replace(/,/g, ''));
  for (const tr of bar.querySelectorAll('tbody tr')) {
    const c = Array.from(tr.cells).map(td => td.innerText.trim());
    rows[c[0]] = [n(c[1]), n(c[2]), n(c[4])]; }
  return rows; }"""
JS_BOX = """() => { const r = deepAll('.js-plotly-plot')[0].querySelector('.nsewdrag')
  .getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }"""
JS_BAR = """() => { const s = deepAll('.nnb-surface')[0];
  return [s.querySelector('button.nnb-mode').innerText,
          s.querySelector('.nnb-note').innerText]; }"""
JS_CHECKBOX = """(name) => { const box = deepAll(
  `input[type=checkbox][data-channel="${name}"]`)[0]; return box ? box.checked : null; }"""


@pytest.fixture(scope="module")
def app() -> Iterator[AppPage]:
    """The notebook's page once its four views are in it (one server and browser per module)."""
    with running_marimo(NOTEBOOK) as server, chromium_page() as page:
        yield AppPage(page, server).open(".nnb-surface", count=4, timeout=90)


def show(app: AppPage, selector: str, i: int) -> None:
    """Scroll element ``i`` of ``selector`` into view (a view out of sight draws nothing).

    Waits (bounded) for it to be in the page: a plot is there once plotly.js has loaded.
    """
    assert poll(lambda: app.evaluate(JS_SHOW, [selector, i]), 30), (
        f"no {selector} #{i} in the page (its view never drew): {app.diagnostics()}"
    )


def keeps_changing(read: Callable[[], Any], what: str, times: int = 2, timeout: float = 15) -> Any:
    """Poll ``read()`` until it has changed ``times`` times (each within ``timeout`` s)."""
    seen = read()
    for k in range(times):
        now = poll(lambda s=seen: (v := read()) is not None and v != s and [v], timeout, step=0.2)
        assert now, f"{what} did not change ({k + 1} of {times}) in {timeout} s: {seen!r}"
        seen = now[0]
    return seen


def in_range(xs: list[list[float]], lo: float, hi: float) -> int:
    return sum(lo <= x <= hi for trace in xs for x in trace)


def test_the_plot_table_status_bar_and_dashboard_render_as_anywidgets(app: AppPage) -> None:
    hosts = app.evaluate("() => deepAll('.nnb-surface').map(s => s.getRootNode().host?.tagName)")
    assert hosts == ["MARIMO-ANYWIDGET"] * 4
    # Each view draws its first frame once in sight: each surface's parts in turn.
    for surface, drawn in enumerate(DRAWN):
        for part in range(app.evaluate(JS_PARTS, surface)):
            app.evaluate(JS_SHOW_PART, [surface, part])
            assert poll(lambda at=[surface, part]: app.evaluate(JS_PART_DRAWN, at), 20), (
                f"surface {surface} part {part} not drawn: {app.diagnostics()}"
            )
        for selector, count in drawn.items():
            assert app.evaluate(JS_COUNT_IN, [surface, selector]) >= count, (surface, selector)
    assert app.page_error() == ""
    assert app.widget_console_errors() == []
    assert app.server.errors() == []


def test_every_view_keeps_updating_with_no_cell_running(app: AppPage) -> None:
    # `marimo run` ran every cell once; a cell that ran again would replace its elements.
    elements = app.elements()
    assert len(elements) >= 4
    for selector, i, read in [
        (".js-plotly-plot", 0, lambda: app.evaluate(JS_NEWEST, 0)),
        (".nnb-table", 0, lambda: app.evaluate(JS_TEXT, [".nnb-table", 0])),
        (".nnb-status", 0, lambda: app.evaluate(JS_TEXT, [".nnb-status", 0])),
        # The dashboard's own status bar, plots and tables.
        (".nnb-status", 1, lambda: app.evaluate(JS_TEXT, [".nnb-status", 1])),
        (".js-plotly-plot", 1, lambda: app.evaluate(JS_NEWEST, 1)),
        (".js-plotly-plot", 2, lambda: app.evaluate(JS_NEWEST, 2)),
        (".nnb-table", 1, lambda: app.evaluate(JS_TEXT, [".nnb-table", 1])),
        (".nnb-table", 2, lambda: app.evaluate(JS_TEXT, [".nnb-table", 2])),
    ]:
        show(app, selector, i)
        keeps_changing(read, f"{selector} #{i}")
    assert app.elements() == elements
    assert app.page_error() == ""
    assert app.widget_console_errors() == []
    assert app.server.errors() == []


def test_a_mouse_box_zoom_shows_every_buffered_point_in_the_box(app: AppPage) -> None:
    page = app.page
    show(app, ".js-plotly-plot", 0)
    # The arrival rate of ai.requests as the page shows it: rows buffered (+ evicted)
    # in the status bar over a few seconds of wall time.
    # A status bar out of sight showed no new frame: wait for a fresh one first.
    show(app, ".nnb-status", 0)
    keeps_changing(lambda: app.evaluate(JS_STATUS, 0), "the status bar", times=1)
    first, t0 = app.evaluate(JS_STATUS, 0)["ai.requests"], time.monotonic()
    later = poll(
        lambda: time.monotonic() - t0 > 6 and app.evaluate(JS_STATUS, 0)["ai.requests"], 15
    )
    assert later, app.diagnostics()
    rate = (later[1] + later[2] - first[1] - first[2]) / (time.monotonic() - t0)
    assert rate > 20, (first, later)
    show(app, ".js-plotly-plot", 0)

    # Following, with 30 s of data (~630 rows a model at the demo's rate): decimated.
    def spanned() -> dict[str, Any] | None:
        plot = app.evaluate(JS_PLOT, 0)
        xs = [x for trace in plot["xs"] for x in trace] if plot else []
        return plot if xs and max(xs) - min(xs) >= 30_000 else None

    before = poll(spanned, 60)
    assert before, app.evaluate(JS_PLOT, 0)
    span = before["range"][1] - before["range"][0]
    assert all(len(trace) <= MAX_POINTS for trace in before["xs"]), before["range"]

    # Drag a box over ~3 s of the past, about 5 s before the newest point. While the
    # data spans less than the 60 s window the followed axis still widens, so the box
    # the page draws is wider than dragged: it is taken as drawn (the range narrowed
    # to under a fifth of what was shown), and held under max_points a trace.
    x, y, w, h = app.evaluate(JS_BOX)
    start, end = 0.80, 0.80 + 3_000 / span
    page.mouse.move(x + w * start, y + h * 0.1)
    page.mouse.down()
    page.mouse.move(x + w * end, y + h * 0.9, steps=8)
    page.mouse.up()

    def boxed() -> list[float] | None:
        lo, hi = app.evaluate(JS_PLOT, 0)["range"]
        return [lo, hi] if hi - lo < span / 5 else None

    box = poll(boxed, 10, step=0.1)
    assert box, (span, app.evaluate(JS_PLOT, 0)["range"])
    lo, hi = box
    shown_before = in_range(before["xs"], lo, hi)
    expected = rate * (hi - lo) / 1000

    # The kernel re-reads the box from the buffer and sends every row in it.
    def full() -> int | None:
        n = in_range(app.evaluate(JS_PLOT, 0)["xs"], lo, hi)
        return n if n >= 0.6 * expected else None

    shown = poll(full, 15, step=0.2)
    assert shown, (in_range(app.evaluate(JS_PLOT, 0)["xs"], lo, hi), expected, shown_before)
    assert shown <= 1.5 * expected, (shown, expected)
    assert shown >= 3 * shown_before, (shown, shown_before)
    button, note = app.evaluate(JS_BAR)
    assert button == "follow"
    assert "zoomed" in note
    assert app.widget_console_errors() == []


def test_unticking_a_channel_in_the_dashboard_unsubscribes_it(app: AppPage) -> None:
    page = app.page
    channel = "tasks.updates"
    summary = page.locator("summary", has_text="Channels")
    summary.scroll_into_view_if_needed()
    summary.click()
    box = page.locator(f'input[type=checkbox][data-channel="{channel}"]')
    assert box.is_checked()
    # The dashboard's status bar sits right above its controls.
    show(app, ".nnb-status", 1)
    assert poll(lambda: (app.evaluate(JS_STATUS, 1) or {}).get(channel, [0])[0] > 0, 15)
    box.click()

    # Its rate falls to 0 and its rows stop growing while the other channels' grow.
    def stopped() -> dict[str, Any] | None:
        status = app.evaluate(JS_STATUS, 1)
        return status if status[channel][0] == 0 else None

    status = poll(stopped, 20, step=0.3)
    assert status, app.evaluate(JS_STATUS, 1)
    metrics = status["telemetry.metrics"][1]
    later = poll(
        lambda: (s := app.evaluate(JS_STATUS, 1))["telemetry.metrics"][1] > metrics + 100 and s,
        10,
        step=0.3,
    )
    assert later, app.evaluate(JS_STATUS, 1)
    assert later[channel][:2] == [0, status[channel][1]]
    assert app.evaluate(JS_CHECKBOX, channel) is False
    show(app, ".nnb-table", 2)
    assert poll(lambda: "not subscribed" in app.evaluate(JS_PART_TEXT, [".nnb-table", 2]), 10)
    assert app.page_error() == ""
    assert app.widget_console_errors() == []
    assert app.server.errors() == []
