"""The dashboard's channel controls act on the live stream and follow its subscriptions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

import nexus_nb as nnb
from nexus_nb.server import Server
from nexus_nb.session import AsyncStream
from nexus_nb.widgets import FrameClock
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
        dashboard.controls.checks["system.alerts"].value = True  # what a click does
        await until(lambda: "system.alerts" in stream.client.subscriptions, 5)
        dashboard.controls.fields["system.alerts"].value = "severity=critical"  # Enter
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
        field = dashboard.controls.fields["telemetry.metrics"]
        assert field.value == ""
        selection = {ch: None for ch in nnb.CHANNELS}
        selection["telemetry.metrics"] = {"source": "server-01"}
        await stream.resubscribe(selection)
        await until(lambda: field.value == "source=server-01", 5)
        assert all(check.value for check in dashboard.controls.checks.values())
        dashboard.controls.on_change = applied.append  # showing it must not re-apply it
        await stream.resubscribe({"telemetry.metrics": {"source": "server-02"}})
        await until(lambda: field.value == "source=server-02", 5)
        assert not dashboard.controls.checks["system.alerts"].value
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
