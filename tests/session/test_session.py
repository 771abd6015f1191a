"""The session layer: a real server and client on 127.0.0.1 feeding real buffers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pandas as pd
import pytest

import nexus_nb as nnb
from nexus_nb.exceptions import SubscriptionError
from nexus_nb.server import Server
from nexus_nb.session import AsyncStream
from tests.helpers.keys import KEY
from tests.helpers.waiting import until


@pytest.fixture
async def stream(server: Server) -> AsyncIterator[AsyncStream]:
    s = await nnb.aconnect(server.url, api_key=KEY, backoff=(0.01, 0.05), maxlen=500)
    try:
        yield s
    finally:
        await s.aclose()


def metric(i: int, source: str = "server-01") -> dict[str, object]:
    return {
        "event_type": "system.metric",
        "source": source,
        "metric_name": "cpu_usage",
        "value": float(i),
        "timestamp": f"2026-11-26T03:00:{i % 60:02d}.000Z",
    }


async def test_subscribed_events_land_in_the_channels_buffer_as_a_typed_frame(
    server: Server, stream: AsyncStream
) -> None:
    await stream.subscribe(["telemetry.metrics"], filters={"source": "server-01"})
    for i in range(20):
        server.publish("telemetry.metrics", metric(i, "server-01" if i % 2 else "server-02"))
    buffer = await stream.wait_for("telemetry.metrics", rows=10, timeout=5)
    frame = buffer.to_dataframe()
    assert list(frame["value"]) == [float(i) for i in range(1, 20, 2)]
    assert set(frame["source"]) == {"server-01"}
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert stream.stats.events == 10


async def test_buffers_are_bounded_by_maxlen_and_count_evictions(
    server: Server, stream: AsyncStream
) -> None:
    await stream.subscribe("ai.requests")
    for i in range(800):
        server.publish("ai.requests", {"model": "m", "latency_ms": float(i)})
        if i % 100 == 99:
            await asyncio.sleep(0)  # let the fan-out flush, as a real producer would
    await until(lambda: stream["ai.requests"].appended == 800)
    assert len(stream["ai.requests"]) == 500
    assert stream["ai.requests"].evicted == 300
    assert stream["ai.requests"].to_dataframe()["latency_ms"].iloc[0] == 300.0


async def test_wait_for_times_out_with_a_clear_message(stream: AsyncStream) -> None:
    await stream.subscribe("system.alerts")
    with pytest.raises(TimeoutError, match=r"system.alerts: 0 of 5 rows"):
        await stream.wait_for("system.alerts", rows=5, timeout=0.05)


async def test_an_unknown_channel_is_refused_and_indexing_it_says_how_to_subscribe(
    stream: AsyncStream,
) -> None:
    with pytest.raises(SubscriptionError) as info:
        await stream.subscribe(["nope.channel"])
    assert info.value.code == "INVALID_CHANNEL"
    with pytest.raises(KeyError, match=r"subscribe to it first: stream\.subscribe"):
        stream["commands.status"]


async def test_batched_delivery_lands_every_event_in_order(
    server: Server, stream: AsyncStream
) -> None:
    await stream.subscribe("telemetry.metrics", batch=50)
    for i in range(300):
        server.publish("telemetry.metrics", metric(i))
    buffer = await stream.wait_for("telemetry.metrics", rows=300, timeout=5)
    assert list(buffer.to_dataframe()["value"]) == [float(i) for i in range(300)]
    assert stream.stats.frames < 300


def varied(i: int) -> dict[str, object]:
    """Metric events that grow fields, nest, change a type and lack the data time."""
    data: dict[str, object] = metric(i)
    if i % 7 == 0:
        data["labels"] = {"rack": f"r{i % 3}", "tags": ["a", "b"]}
    if i >= 150:
        data["value"] = "n/a" if i % 11 == 0 else i  # float column, then text
    if i % 13 == 0:
        del data["timestamp"]  # the envelope's time is used
    return data


async def test_columnar_batches_buffer_the_same_frame_as_single_events(
    server: Server, stream: AsyncStream
) -> None:
    single = await nnb.aconnect(server.url, api_key=KEY, maxlen=500)
    try:
        await single.subscribe("telemetry.metrics")
        await stream.subscribe("telemetry.metrics", batch=64)
        for i in range(300):
            server.publish("telemetry.metrics", varied(i))
        batched = await stream.wait_for("telemetry.metrics", rows=300, timeout=5)
        unbatched = await single.wait_for("telemetry.metrics", rows=300, timeout=5)
        pd.testing.assert_frame_equal(batched.to_dataframe(), unbatched.to_dataframe())
        assert batched.type_changes == unbatched.type_changes > 0
        assert stream.stats.frames < 300 == single.stats.frames
    finally:
        await single.aclose()


async def test_resubscribe_applies_new_filters_and_drops_unselected_channels(
    server: Server, stream: AsyncStream
) -> None:
    await stream.subscribe(["telemetry.metrics", "system.alerts"])
    await stream.resubscribe({"telemetry.metrics": {"source": ["server-02"]}})
    assert set(stream.client.subscriptions) == {"telemetry.metrics"}
    server.publish("telemetry.metrics", metric(1, "server-01"))
    server.publish("telemetry.metrics", metric(2, "server-02"))
    server.publish("system.alerts", {"severity": "critical", "message": "x"})
    buffer = await stream.wait_for("telemetry.metrics", rows=1, timeout=5)
    await stream.client.ping()  # everything published before the pong has arrived
    assert list(buffer.to_dataframe()["source"]) == ["server-02"]
    assert len(stream["system.alerts"]) == 0


async def test_resubscribe_sends_one_request_and_leaves_unchanged_channels_subscribed(
    server: Server, stream: AsyncStream
) -> None:
    await stream.subscribe("telemetry.metrics", {"source": "server-01"})
    before = stream.client.stats.messages_received
    unchanged = {"telemetry.metrics": {"source": ["server-01"]}}
    await stream.resubscribe({**unchanged, "system.alerts": None, "tasks.updates": None})
    assert stream.client.stats.messages_received - before == 1  # one subscribe, its reply
    assert stream.client.subscriptions == {
        "telemetry.metrics": [{"source": "server-01"}],
        "system.alerts": [None],
        "tasks.updates": [None],
    }


@pytest.mark.parametrize("batch", [None, 8], ids=["events", "columnar-batches"])
async def test_a_recording_writes_every_event_received_and_reads_back(
    server: Server, stream: AsyncStream, tmp_path: Path, batch: int | None
) -> None:
    await stream.subscribe("telemetry.metrics", batch=batch)
    recording = stream.record(tmp_path / "capture.parquet", row_group_size=16)
    for i in range(50):
        server.publish("telemetry.metrics", metric(i))
    await stream.wait_for("telemetry.metrics", rows=50, timeout=5)
    recording.close()
    recording.close()
    assert recording.rows_written == 50
    captured = nnb.read_capture(tmp_path / "capture.parquet")
    pd.testing.assert_frame_equal(
        captured.reset_index(drop=True),
        stream["telemetry.metrics"].to_dataframe().reset_index(drop=True),
        check_categorical=False,
    )


async def test_a_server_restart_leaves_a_gap_marker_in_every_buffer(
    server: Server, stream: AsyncStream
) -> None:
    await stream.subscribe("telemetry.metrics")
    server.publish("telemetry.metrics", metric(1))
    await stream.wait_for("telemetry.metrics", rows=1, timeout=5)
    port = server.port
    await server.aclose()
    restarted = await nnb.aserve(api_key=KEY, demo=False, port=port)
    try:
        # The marker is made on "reconnected", once every subscription is restored.
        await until(lambda: len(stream["telemetry.metrics"].gaps) == 1, limit=10)
        assert stream.client.stats.reconnects == 1
        gaps = stream["telemetry.metrics"].gaps
        assert "server restarted" in gaps["reason"].iloc[0]
        assert gaps["end"].iloc[0] >= gaps["start"].iloc[0]
        restarted.publish("telemetry.metrics", metric(2))
        await stream.wait_for("telemetry.metrics", rows=2, timeout=5)
    finally:
        await restarted.aclose()


async def test_status_reports_state_rows_and_rates_for_the_status_bar(
    server: Server, stream: AsyncStream
) -> None:
    await stream.subscribe("telemetry.metrics")
    for i in range(10):
        server.publish("telemetry.metrics", metric(i))
    await stream.wait_for("telemetry.metrics", rows=10, timeout=5)
    snapshot = stream.status()
    assert snapshot.state == "open"
    assert snapshot.channels["telemetry.metrics"].rows == 10
    assert snapshot.reconnects == 0
    html = nnb.StatusBar(stream)._repr_mimebundle_()["text/html"]
    assert "open" in html
    assert "telemetry.metrics" in html


async def test_a_dashboard_lays_out_status_controls_plots_and_tables(
    server: Server, stream: AsyncStream
) -> None:
    await stream.subscribe(list(nnb.CHANNELS))
    dashboard = nnb.Dashboard(stream)
    try:
        assert [p.source.channel for p in dashboard.plots] == ["telemetry.metrics", "ai.requests"]
        assert [t.source.channel for t in dashboard.tables] == ["system.alerts", "tasks.updates"]
        assert set(dashboard.controls.selection()) == set(nnb.CHANNELS)
        bundle = dashboard._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert "telemetry.metrics" in bundle["text/html"]
    finally:
        dashboard.close()


async def test_a_live_capture_read_back_and_replayed_gives_the_same_frames(
    tmp_path: Path,
) -> None:
    path = tmp_path / "capture.parquet"
    async with nnb.aserve(api_key=KEY, rate=2_000, seed=7) as source:
        original = await nnb.aconnect(source.url, api_key=KEY, maxlen=50_000)
        recording = original.record(path)
        await original.subscribe(list(nnb.CHANNELS))
        await original.wait_for("telemetry.metrics", rows=600, timeout=10)
        await original.unsubscribe(list(nnb.CHANNELS))
        await original.client.ping()  # every event sent before the unsubscribe has arrived
        await original.aclose()
        recording.close()
    captured = nnb.read_capture(path)
    rows = {ch: len(original[ch]) for ch in nnb.CHANNELS}
    assert len(captured) == recording.rows_written == sum(rows.values())

    async with nnb.aserve(api_key=KEY, demo=False) as target:
        replayed = await nnb.aconnect(target.url, api_key=KEY, maxlen=50_000)
        await replayed.subscribe(list(nnb.CHANNELS))
        assert await target.areplay(path, speed=None) == len(captured)
        for channel, count in rows.items():
            await replayed.wait_for(channel, rows=count, timeout=10)
        await replayed.client.ping()
        for channel in nnb.CHANNELS:
            # Column order included: the capture keeps each channel's own.
            pd.testing.assert_frame_equal(
                replayed[channel].to_dataframe(), original[channel].to_dataframe()
            )
        await replayed.aclose()
