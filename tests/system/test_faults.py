"""Fault injection on real sockets: a killed server, a cut network, a client that stops reading."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

import nexus_nb as nnb
from nexus_nb import protocol
from nexus_nb.client import Client, State
from nexus_nb.server import Server, aserve
from tests.helpers.keys import KEY
from tests.helpers.paths import ROOT
from tests.helpers.proxy import Proxy
from tests.helpers.waiting import until

CHANNEL = "telemetry.metrics"


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NEXUS_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    return env


async def start_server_process(port: int) -> tuple[asyncio.subprocess.Process, str]:
    """Run ``python -m nexus_nb serve`` (in-memory log, no demo); return it and its URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_nb", "serve", "--port", str(port), "--api-key", KEY,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=child_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            url = (await proc.stdout.readline()).decode().strip()
    except BaseException:
        await kill(proc)
        raise
    assert url.startswith("ws://127.0.0.1:"), url
    return proc, url


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def test_a_sigkilled_server_restarted_on_its_port_leaves_every_event_once_in_order() -> None:
    first, url = await start_server_process(0)
    processes = [first]
    port = int(url.rsplit(":", 1)[1])
    stream = await nnb.aconnect(url, api_key=KEY, backoff=(0.05, 0.2), heartbeat=None)
    publisher = await Client.connect(url, api_key=KEY, backoff=(0.05, 0.2), heartbeat=None)
    try:
        await stream.subscribe(CHANNEL)
        before, after = 40, 30
        await publisher.publish(CHANNEL, [{"n": n, "run": 1} for n in range(before)])
        await stream.wait_for(CHANNEL, rows=before, timeout=10)

        await kill(first)
        await until(lambda: stream.state is State.RECONNECTING, limit=10)
        second, _ = await start_server_process(port)
        processes.append(second)
        # The gap marker is written once the stream has resubscribed to the new run.
        await until(lambda: len(stream[CHANNEL].gaps) == 1, limit=15)
        ack = await publisher.publish(
            CHANNEL, [{"n": n, "run": 2} for n in range(before, before + after)]
        )
        await stream.wait_for(CHANNEL, rows=before + after, timeout=10)
        # A pong is queued behind every event already sent: after it, nothing is in flight.
        await stream.client.ping()

        frame = stream[CHANNEL].to_dataframe()
        gaps = stream[CHANNEL].gaps
        assert list(frame["n"]) == list(range(before + after))
        assert list(frame["run"]) == [1] * before + [2] * after
        assert ack["seq"] == after  # the new run numbered its events from 1 again
        assert stream.client.stats.reconnects == 1
        assert "server restarted" in gaps["reason"].iloc[0]
        assert stream[CHANNEL].appended == before + after
    finally:
        await stream.aclose()
        await publisher.aclose()
        for proc in processes:
            await kill(proc)


@pytest.mark.parametrize("batch", [None, 20], ids=["events", "columnar-batches"])
async def test_a_stream_cut_off_mid_publish_resumes_with_every_event_exactly_once(
    server: Server, proxy: Proxy, batch: int | None
) -> None:
    stream = await nnb.aconnect(proxy.url, api_key=KEY, backoff=(0.02, 0.1), heartbeat=None)
    await stream.subscribe(CHANNEL, batch=batch)
    total = 400
    published = 0

    async def publish_steadily() -> None:
        nonlocal published
        for n in range(total):
            server.publish(CHANNEL, {"n": n})
            published += 1
            await asyncio.sleep(0.002)

    publisher = asyncio.create_task(publish_steadily())
    try:
        await until(lambda: stream.client.stats.events_received >= 50)
        proxy.cut()
        await until(lambda: stream.state is State.RECONNECTING)
        mark = published
        await until(lambda: published >= mark + 50)
        # Fifty or more events went out while the client could not receive them.
        assert stream.client.stats.events_received <= mark
        proxy.restore()
        await publisher
        await stream.wait_for(CHANNEL, rows=total, timeout=10)
        # A pong is queued behind every event already sent: after it, nothing is in flight.
        await stream.client.ping()
        values = list(stream[CHANNEL].to_dataframe()["n"])
        gaps = stream[CHANNEL].gaps
        assert values == list(range(total))
        assert stream[CHANNEL].appended == total
        assert stream.client.stats.reconnects == 1
        assert len(gaps) == 1
        assert "resumed" in gaps["reason"].iloc[0]
        assert "not resumed" not in gaps["reason"].iloc[0]
        assert gaps["missed"].iloc[0] == 0
    finally:
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
        await stream.aclose()


async def received(values: list[int], count: int) -> None:
    await until(lambda: len(values) >= count, limit=10)


async def read_until_closed(ws: ClientConnection) -> None:
    async with asyncio.timeout(10):
        while True:
            await ws.recv()


async def test_a_client_that_stops_reading_is_dropped_with_1013_while_others_get_everything() -> (
    None
):
    total, burst, pace = 20_000, 32, 256
    padding = "x" * 1000
    async with aserve(
        api_key=KEY,
        demo=False,
        ping_interval=None,
        max_queue_bytes=64 * 1024,
        slow_timeout=0.5,
    ) as srv:
        healthy = await Client.connect(srv.url, api_key=KEY, heartbeat=None)
        got: list[int] = []
        gaps: list[dict[str, Any]] = []
        healthy.add_sink(lambda channel, events: got.extend(e["data"]["n"] for e in events))
        healthy.on("gap", gaps.append)
        await healthy.subscribe(CHANNEL)

        slow = await ws_connect(
            srv.url, additional_headers={"Authorization": f"Bearer {KEY}"}, ping_interval=None
        )
        try:
            assert orjson.loads(await slow.recv())["type"] == "connection_established"
            await slow.send(protocol.subscribe([CHANNEL]).decode())
            assert orjson.loads(await slow.recv())["type"] == "subscription_confirmed"
            slow.transport.pause_reading()

            for n in range(total):
                srv.publish(CHANNEL, {"n": n, "pad": padding})
                if n % burst == burst - 1:
                    await asyncio.sleep(0)  # one fan-out flush per burst (32 KB < the bound)
                if n % pace == pace - 1:
                    # Pace on the healthy reader, so only the stalled one falls behind.
                    await received(got, n + 1)
            await until(lambda: len(got) == total, limit=10)
            await until(lambda: srv.metrics()["slowConsumerDisconnects"] == 1, limit=10)

            # Read what the server managed to send, up to its close frame.
            slow.transport.resume_reading()
            with pytest.raises(ConnectionClosed):
                await read_until_closed(slow)
            metrics = srv.metrics()
            assert got == list(range(total))
            assert gaps == []
            assert metrics["dropped"] > 0
            assert slow.close_code == 1013
            assert slow.close_reason == "slow consumer"
        finally:
            slow.transport.abort()
            await healthy.aclose()
