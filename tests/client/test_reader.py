"""A client that reads on its own thread: a cell that blocks the kernel's loop loses nothing.

Every test runs the server in another process (so the GIL of the busy "cell"
here does not slow the publisher), publishing ``telemetry.metrics`` events
numbered ``n = 1, 2, ...`` at a fixed rate once told to (``tests.helpers.publisher``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nexus_nb as nnb
from nexus_nb.client import Client, Events
from nexus_nb.exceptions import TransportError
from tests.helpers.keys import KEY
from tests.helpers.publisher import CHANNEL, Publisher, busy, publishing
from tests.helpers.waiting import until


@pytest.fixture
async def publisher() -> AsyncIterator[Publisher]:
    async with publishing() as running:
        yield running


async def test_a_cell_busy_for_8_s_loses_none_of_40000_events_at_5000_per_s(
    publisher: Publisher,
) -> None:
    stream = await nnb.aconnect(publisher.url, api_key=KEY)
    try:
        await stream.subscribe(CHANNEL)
        buf = stream[CHANNEL]
        await publisher.start(40_000, 5_000)
        # The "cell": 8 s of CPU-bound Python, reading the buffer's length each second.
        sizes = busy(8.0, probe=lambda: len(buf))
        await publisher.done()
        await until(lambda: len(buf) >= 40_000, limit=30)
        n = buf.to_dataframe()["n"].to_numpy()
        np.testing.assert_array_equal(n, np.arange(1, 40_001))
        assert buf.gaps.empty
        stats = stream.client.stats
        assert stats.gaps == 0
        assert stats.events_received == 40_000
        # The buffer grew while the loop was blocked.
        assert len(sizes) >= 6
        assert sizes == sorted(sizes)
        assert sizes[-1] > sizes[0] > 0
    finally:
        await stream.aclose()


async def test_a_recording_through_an_8_s_busy_cell_holds_all_40000_events_in_order(
    publisher: Publisher, tmp_path: Path
) -> None:
    stream = await nnb.aconnect(publisher.url, api_key=KEY)
    path = tmp_path / "busy.parquet"
    try:
        recording = stream.record(path)
        await stream.subscribe(CHANNEL)
        await publisher.start(40_000, 5_000)
        busy(8.0)  # the reader thread writes the recording meanwhile
        await publisher.done()
        await until(lambda: stream.client.stats.events_received >= 40_000, limit=30)
        recording.close()
        assert recording.rows_written == 40_000
        n = nnb.read_capture(path)["n"].to_numpy()
        np.testing.assert_array_equal(n, np.arange(1, 40_001))
        assert stream[CHANNEL].gaps.empty
    finally:
        await stream.aclose()


async def test_reads_during_a_blocked_loop_return_consistent_snapshots(
    publisher: Publisher,
) -> None:
    stream = await nnb.aconnect(publisher.url, api_key=KEY, maxlen=50_000)
    try:
        await stream.subscribe(CHANNEL, batch=100)
        buf = stream[CHANNEL]
        await publisher.start(30_000, 20_000)
        snapshots = []
        end = time.perf_counter() + 3.0
        # The loop stays blocked; the reader thread stores frames while this thread reads.
        while time.perf_counter() < end:
            first, cols = buf.read(["n", "value"], start=max(0, buf.appended - 500))
            frame = buf.to_dataframe(last=200)
            snapshots.append((first, cols, frame, len(buf), buf.appended))
        await publisher.done()
        assert len(snapshots) > 10
        for first, cols, frame, rows, appended in snapshots:
            n, value = cols["n"], cols["value"]
            assert len(n) == len(value)
            if len(n):
                np.testing.assert_array_equal(n, np.arange(first + 1, first + 1 + len(n)))
                np.testing.assert_array_equal(value, n)
            assert rows <= appended
            fn = frame["n"].to_numpy() if len(frame) else np.array([])
            assert (np.diff(fn) == 1).all()
        grew = [s[4] for s in snapshots]
        assert grew == sorted(grew)
        assert grew[-1] > grew[0]
    finally:
        await stream.aclose()


async def test_handlers_sinks_and_iterators_run_on_the_kernel_thread_in_order(
    publisher: Publisher,
) -> None:
    client = await Client.connect(publisher.url, api_key=KEY, reader="thread")
    threads: dict[str, set[int]] = {"handler": set(), "sink": set(), "reader": set()}
    seen: list[int] = []
    sunk: list[int] = []

    def handler(message: dict[str, Any]) -> None:
        threads["handler"].add(threading.get_ident())
        seen.append(message["data"]["n"])

    def sink(channel: str, events: list[dict[str, Any]]) -> None:
        threads["sink"].add(threading.get_ident())
        sunk.extend(event["data"]["n"] for event in events)

    def reader_sink(channel: str, events: Events, size: int) -> None:
        assert size > 0
        threads["reader"].add(threading.get_ident())

    client.on("event", handler)
    client.add_sink(sink)
    client.add_reader_sink(reader_sink)
    iterated: list[int] = []

    async def iterate() -> None:
        async for event in client:
            iterated.append(event["data"]["n"])
            if len(iterated) == 2_000:
                return

    try:
        await client.subscribe(CHANNEL)
        task = asyncio.create_task(iterate())
        await asyncio.sleep(0)  # the iterator is open before the first event
        await publisher.start(2_000, 2_000)
        busy(0.5)
        await publisher.done()
        async with asyncio.timeout(20):
            await task
        assert await client.ping() > 0
    finally:
        await client.aclose()
    with pytest.raises(TransportError):
        await client.ping()
    main = threading.get_ident()
    assert threads["handler"] == threads["sink"] == {main}
    assert len(threads["reader"]) == 1
    assert main not in threads["reader"]
    assert seen == sunk == iterated == list(range(1, 2_001))


async def test_a_full_handoff_to_the_loop_is_a_counted_gap_while_the_buffers_keep_everything(
    publisher: Publisher,
) -> None:
    # 2 kB for the loop's listeners: a 2 s busy cell overflows it; the buffers have no hand-off.
    stream = await nnb.aconnect(publisher.url, api_key=KEY, max_handoff=2_000)
    client: Client = stream.client
    gaps: list[dict[str, Any]] = []
    client.on("gap", gaps.append)
    client.add_sink(lambda channel, events: None)
    try:
        await stream.subscribe(CHANNEL)
        await publisher.start(5_000, 2_500)
        busy(2.0)
        await publisher.done()
        await until(lambda: client.stats.events_received >= 5_000, limit=30)
        await until(lambda: bool(gaps), limit=10)
        buf = stream[CHANNEL]
        assert len(buf) == 5_000
        assert buf.gaps.empty
        assert client.stats.handoff_dropped > 0
        assert all(g["source"] == "client" for g in gaps)
        assert sum(g["missed"] for g in gaps) == client.stats.handoff_dropped
    finally:
        await stream.aclose()


async def test_a_loop_client_refuses_reader_sinks_and_a_bad_reader_is_refused() -> None:
    with pytest.raises(ValueError, match="reader"):
        Client("ws://127.0.0.1:1", reader="process")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="reader"):
        Client("ws://127.0.0.1:1").add_reader_sink(lambda channel, events, size: None)
