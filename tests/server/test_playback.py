"""Replaying a capture through a live server keeps order, timestamps and pacing."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from websockets.asyncio.client import connect

from nexus_nb import protocol
from nexus_nb.exceptions import ProtocolError
from nexus_nb.server import aserve
from tests.helpers.keys import KEY
from tests.helpers.net import recv


def capture(offsets_ms: list[int], channel: str = "telemetry.metrics") -> pd.DataFrame:
    base = pd.Timestamp("2025-01-01T00:00:00Z")
    return pd.DataFrame(
        {
            "timestamp": [base + pd.Timedelta(milliseconds=ms) for ms in offsets_ms],
            "channel": [channel] * len(offsets_ms),
            "value": [float(i) for i in range(len(offsets_ms))],
        }
    )


async def test_replay_as_fast_as_possible_keeps_order_and_original_timestamps() -> None:
    frame = capture(list(range(0, 1000, 2)))
    async with (
        await aserve(api_key=KEY, demo=False, ping_interval=None) as srv,
        connect(srv.url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws,
    ):
        await recv(ws)
        await ws.send(protocol.subscribe(["telemetry.metrics"]).decode())
        await recv(ws)
        count = await srv.areplay(frame, speed=None)
        events = [await recv(ws) for _ in range(count)]
    assert count == 500
    assert [e["data"]["value"] for e in events] == [float(i) for i in range(500)]
    assert events[0]["timestamp"] == "2025-01-01T00:00:00.000Z"
    assert events[1]["timestamp"] == "2025-01-01T00:00:00.002Z"


async def test_replay_paces_events_by_offset_over_speed() -> None:
    frame = capture([0, 100, 200])
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        loop = asyncio.get_running_loop()
        start = loop.time()
        count = await srv.areplay(frame, speed=2.0)
        elapsed = loop.time() - start
    assert count == 3
    assert 0.1 <= elapsed < 1.0


async def test_replay_of_an_unserved_channel_raises_invalid_channel() -> None:
    async with aserve(api_key=KEY, demo=False, ping_interval=None, channels=["a"]) as srv:
        with pytest.raises(ProtocolError) as info:
            await srv.areplay(capture([0], channel="b"), speed=None)
    assert info.value.code == "INVALID_CHANNEL"


async def test_replay_with_non_positive_speed_is_refused() -> None:
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        with pytest.raises(ValueError, match="speed"):
            await srv.areplay(capture([0]), speed=0)
