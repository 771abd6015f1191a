"""The dashboard: one widget, whose controls act on the live stream and follow its subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

import nexus_nb as nnb
from nexus_nb.server import Server
from nexus_nb.session import AsyncStream
from nexus_nb.widgets import FrameClock
from nexus_nb.widgets.testing import record_messages, send_from_page
from tests.helpers.keys import KEY
from tests.helpers.waiting import until


@pytest.fixture
def clock() -> Iterator[FrameClock]:
    """A frame clock on a thread of its own, as the kernel's shared one."""
    ticking = FrameClock(thread=True)
    yield ticking
    ticking.close()


@pytest.fixture
async def stream(server: Server) -> AsyncIterator[AsyncStream]:
    s = await nnb.aconnect(server.url, api_key=KEY, maxlen=500)
    try:
        yield s
    finally:
        await s.aclose()


async def test_ticking_a_channel_subscribes_at_once(
    server: Server, stream: AsyncStream, clock: FrameClock
) -> None:
    await stream.subscribe(["telemetry.metrics"])
    dashboard = nnb.Dashboard(stream, clock=clock)
    try:
        dashboard.controls.check("system.alerts")  # what a click does
        await until(lambda: "system.alerts" in stream.client.subscriptions, 5)
        dashboard.controls.type_filter("system.alerts", "severity=critical")  # Enter
        await until(
            lambda: (
                stream.client.subscriptions.get("system.alerts") == [{"severity": ["critical"]}]
            ),
            5,
        )
        assert "telemetry.metrics" in stream.client.subscriptions
    finally:
        dashboard.close()


async def test_filter_fields_follow_a_resubscribe_from_code(
    server: Server, stream: AsyncStream, clock: FrameClock
) -> None:
    await stream.subscribe(["telemetry.metrics", "system.alerts"])
    dashboard = nnb.Dashboard(stream, clock=clock)
    applied: list[object] = []
    try:
        controls = dashboard.controls
        assert controls.filters["telemetry.metrics"] == ""
        selection: dict[str, dict[str, str] | None] = {ch: None for ch in nnb.CHANNELS}
        selection["telemetry.metrics"] = {"source": "server-01"}
        await stream.resubscribe(selection)
        await until(lambda: controls.filters["telemetry.metrics"] == "source=server-01", 5)
        assert all(controls.checked.values())
        controls.on_change = applied.append  # showing it must not re-apply it
        await stream.resubscribe({"telemetry.metrics": {"source": "server-02"}})
        await until(lambda: controls.filters["telemetry.metrics"] == "source=server-02", 5)
        assert not controls.checked["system.alerts"]
        assert applied == []
    finally:
        dashboard.close()


async def test_its_fps_caps_the_tables_as_it_caps_the_plots(
    server: Server, stream: AsyncStream, clock: FrameClock
) -> None:
    await stream.subscribe(["telemetry.metrics", "system.alerts"])
    dashboard = nnb.Dashboard(stream, fps=1.5, clock=clock)
    try:
        assert [table.fps for table in dashboard.tables] == [1.5]
        assert [plot.fps for plot in dashboard.plots] == [1.5]
    finally:
        dashboard.close()


async def test_the_dashboard_is_one_widget_holding_status_controls_plots_and_tables(
    server: Server, stream: AsyncStream, clock: FrameClock
) -> None:
    await stream.subscribe(["telemetry.metrics", "system.alerts"])
    dashboard = nnb.Dashboard(stream, clock=clock)
    try:
        widget = dashboard.widget
        frames = [part["frame"] for part in widget.get_state()["parts"]]
        assert [frame["kind"] for frame in frames] == ["html", "controls", "plot", "html"]
        assert [frame["part"] for frame in frames] == [0, 1, 2, 3]
        assert frames[1]["controls"]["title"] == "Channels"
        assert "nnb-table" in frames[3]["html"]
        parts = [
            dashboard.status.part,
            dashboard.controls.part,
            *(plot.part for plot in dashboard.plots),
            *(table.part for table in dashboard.tables),
        ]
        # The views draw in the dashboard's widget and have none of their own.
        assert all(part.surface is widget for part in parts)
    finally:
        dashboard.close()


async def test_a_tick_in_the_page_subscribes_through_the_dashboards_widget(
    server: Server, stream: AsyncStream, clock: FrameClock
) -> None:
    await stream.subscribe(["telemetry.metrics"])
    dashboard = nnb.Dashboard(stream, clock=clock)
    try:
        record_messages(dashboard)
        checked = {ch: ch in ("telemetry.metrics", "system.alerts") for ch in nnb.CHANNELS}
        form = {"checked": checked, "filters": {ch: "" for ch in nnb.CHANNELS}}
        send_from_page(dashboard, {"t": "event", "part": 1, "action": "check", "form": form})
        await until(lambda: "system.alerts" in stream.client.subscriptions, 5)
        assert "telemetry.metrics" in stream.client.subscriptions
    finally:
        dashboard.close()


async def test_an_unsubscribed_channel_is_marked_on_its_plot_and_table(
    server: Server, stream: AsyncStream, clock: FrameClock
) -> None:
    await stream.subscribe(["telemetry.metrics", "system.alerts"])
    await stream.unsubscribe("system.alerts")
    dashboard = nnb.Dashboard(stream, clock=clock)
    try:
        (plot,) = dashboard.plots
        (table,) = dashboard.tables
        note = "not subscribed: showing what was buffered"
        assert note in table.to_html()  # marked from the start
        assert note not in plot.part.bar["note"]
        await stream.resubscribe({"system.alerts": None})
        await until(lambda: note in plot.part.bar["note"], 5)
        await until(lambda: note not in table.part.html, 5)
    finally:
        dashboard.close()


async def test_a_closed_dashboard_stops_sending(server: Server, stream: AsyncStream) -> None:
    await stream.subscribe(["telemetry.metrics", "system.alerts"])
    clock = FrameClock()  # ticked by hand
    dashboard = nnb.Dashboard(stream, clock=clock)
    recorder = record_messages(dashboard)
    assert clock.tick(now=1.0) >= 1  # the status bar draws while displayed
    assert recorder.frames
    dashboard.close()
    recorder.clear()
    assert clock.tick(now=10.0) == 0
    assert clock.views == 0
    dashboard.controls.sync({"system.alerts": None})
    assert recorder.messages == []
    assert dashboard._repr_mimebundle_()["text/html"] == dashboard.to_html()


async def test_a_dashboard_whose_widget_is_closed_directly_closes(
    server: Server, stream: AsyncStream
) -> None:
    await stream.subscribe(["telemetry.metrics"])
    clock = FrameClock()
    dashboard = nnb.Dashboard(stream, clock=clock)
    record_messages(dashboard)
    assert clock.views > 0
    dashboard.widget.close()
    clock.tick(now=1.0)
    assert clock.views == 0
