"""Batched delivery, backpressure and slow consumers, through a live server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from nexus_nb import protocol
from nexus_nb.server import Server, aserve
from tests.helpers.keys import HEADERS, KEY
from tests.helpers.net import recv
from tests.helpers.waiting import until

BIG = {"blob": "x" * 1000}


async def client(srv: Server, channel: str, **subscribe: Any) -> ClientConnection:
    ws = await connect(srv.url, additional_headers=HEADERS, max_size=None)
    assert (await recv(ws))["type"] == "connection_established"
    await ws.send(protocol.subscribe([channel], **subscribe).decode())
    assert (await recv(ws))["type"] == "subscription_confirmed"
    return ws


async def test_batch_subscription_gets_event_batch_frames_of_maxlen() -> None:
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        batch = protocol.Batch(maxlen=5, interval=0.05)
        async with await client(srv, "tasks.created", batch=batch) as ws:
            for n in range(12):
                srv.publish("tasks.created", {"n": n})
            frames = [await recv(ws) for _ in range(3)]
    assert [f["type"] for f in frames] == ["event_batch"] * 3
    assert [len(f["events"]) for f in frames] == [5, 5, 2]
    events = [e for f in frames for e in f["events"]]
    assert [e["data"]["n"] for e in events] == list(range(12))
    assert events[0]["type"] == "event"
    assert events[-1]["seq"] == 12


async def test_batch_flushes_on_interval_before_maxlen() -> None:
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        batch = protocol.Batch(maxlen=100, interval=0.02)
        async with await client(srv, "tasks.created", batch=batch) as ws:
            srv.publish("tasks.created", {"n": 1})
            frame = await recv(ws)
    assert frame["type"] == "event_batch"
    assert [e["data"]["n"] for e in frame["events"]] == [1]


async def events_of(ws: ClientConnection, count: int) -> tuple[list[dict[str, Any]], int]:
    """Read batch frames until ``count`` events came: (the events as messages, frames)."""
    events: list[dict[str, Any]] = []
    frames = 0
    while len(events) < count:
        frame = await recv(ws)
        assert frame["type"] == "event_batch"
        frames += 1
        if frame.get("format") == "columns":
            events.extend(protocol.EventColumns.from_message(frame).messages())
        else:
            events.extend(frame["events"])
    return events, frames


async def test_columnar_batches_carry_what_row_batches_carry_under_a_filter() -> None:
    wanted = {"kind": ["a"]}
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        rows = await client(srv, "tasks.created", filters=wanted, batch=protocol.Batch(4, 0.05))
        cols = await client(
            srv, "tasks.created", filters=wanted, batch=protocol.Batch(4, 0.05, columns=True)
        )
        for n in range(10):
            data: dict[str, Any] = {"n": n, "kind": "a" if n % 3 else "b"}
            if n == 4:
                data["nested"] = {"x": [1, 2]}
            srv.publish("tasks.created", data)
        by_rows, _ = await events_of(rows, 6)
        by_columns, frames = await events_of(cols, 6)
        await rows.close()
        await cols.close()
    assert frames == 2
    assert [e["data"]["n"] for e in by_columns] == [1, 2, 4, 5, 7, 8]
    assert by_columns == by_rows
    assert by_columns[2]["data"]["nested"] == {"x": [1, 2]}


async def test_a_resumed_columnar_subscription_replays_the_missed_events_as_columns() -> None:
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        for n in range(1, 6):
            srv.publish("tasks.created", {"n": n})
        batch = protocol.Batch(10, 0.01, columns=True)
        ws = await client(
            srv, "tasks.created", resume=(srv.epoch, {"tasks.created": 2}), batch=batch
        )
        frame = await recv(ws)
        await ws.close()
    assert frame["format"] == "columns"
    assert frame["seq"] == [3, 4, 5]
    assert frame["data"] == {"n": [3, 4, 5]}


STEP = 50  # events per flood step: ~55 kB, well under the bounds used below


async def flood(
    srv: Server, channel: str, until: Any, *, limit: int | None = None, seconds: float = 10.0
) -> int:
    """Publish BIG events, yielding to the loop, until ``until()``; return how many.

    Bounded by time, not by a count: once a stalled client's queue is full its
    events are skipped cheaply, and a count could run out before a timeout under
    test (``slow_timeout``) has elapsed. ``limit`` stops after that many events.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    count = 0
    while not until() and (limit is None or count < limit) and loop.time() < deadline:
        for _ in range(STEP):
            srv.publish(channel, BIG)
        count += STEP
        await asyncio.sleep(0)
    return count


async def test_paused_reader_skips_events_then_gets_an_overflow_gap() -> None:
    limit = 256 * 1024
    async with aserve(
        api_key=KEY, demo=False, ping_interval=None, max_queue_bytes=limit, slow_timeout=30
    ) as srv:
        healthy = await client(srv, "ai.requests")
        slow = await client(srv, "ai.requests")
        slow.transport.pause_reading()
        received: list[int] = []

        progress = asyncio.Condition()

        async def drain_healthy() -> None:
            while True:
                received.append((await recv(healthy))["seq"])
                async with progress:
                    progress.notify_all()

        reader = asyncio.create_task(drain_healthy())
        try:
            published = await flood(srv, "ai.requests", lambda: srv.metrics()["dropped"] > 0)
            assert srv.metrics()["maxQueuedBytes"] <= limit + STEP * 1100
            slow.transport.resume_reading()
            events = gap = 0
            while gap == 0:
                message = await recv(slow)
                if message["type"] == "gap":
                    gap = message["missed"]
                    assert message["reason"] == "overflow"
                else:
                    events += 1
            async with asyncio.timeout(10), progress:
                await progress.wait_for(lambda: len(received) >= published)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        await healthy.close()
        await slow.close()
    assert events + gap == published
    assert gap == srv.metrics()["dropped"]
    assert srv.metrics()["droppedUnreported"] == 0
    assert received == list(range(1, published + 1))
    assert srv.metrics()["gapsSent"] == 1


async def stalled_client(srv: Server, channel: str) -> socket.socket:
    """A raw TCP client that completes the handshake, subscribes, then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (srv.host, srv.port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET / HTTP/1.1\r\nHost: {srv.host}:{srv.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {KEY}\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await loop.sock_recv(sock, 1)
    assert head.startswith(b"HTTP/1.1 101")
    payload = protocol.subscribe([channel])
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    await loop.sock_sendall(sock, bytes((0x81, 0x80 | len(payload))) + mask + masked)
    return sock


async def test_stalled_consumer_stays_bounded_and_is_closed_1013_while_others_get_all() -> None:
    limit = 256 * 1024
    async with aserve(
        api_key=KEY,
        demo=False,
        ping_interval=None,
        max_queue_bytes=limit,
        slow_timeout=0.3,
        close_timeout=0.2,
    ) as srv:
        healthy = await client(srv, "commands.status")
        sock = await stalled_client(srv, "commands.status")
        received: list[int] = []

        progress = asyncio.Condition()

        async def drain_healthy() -> None:
            while True:
                received.append((await recv(healthy))["seq"])
                async with progress:
                    progress.notify_all()

        reader = asyncio.create_task(drain_healthy())
        peak = 0

        def sample() -> bool:
            nonlocal peak
            metrics = srv.metrics()
            peak = max(peak, metrics["maxQueuedBytes"])
            return bool(metrics["slowConsumerDisconnects"]) and metrics["activeConnections"] == 1

        try:
            published = await flood(srv, "commands.status", sample)
            async with asyncio.timeout(10), progress:
                await progress.wait_for(lambda: len(received) >= published)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            sock.close()
        await healthy.close()
    assert srv.metrics()["slowConsumerDisconnects"] == 1
    assert srv.metrics()["dropped"] > 0
    # The stalled client never drained, so none of its skipped events was reported.
    assert srv.metrics()["droppedUnreported"] == srv.metrics()["dropped"]
    # One flood step (STEP x ~1.1 kB) may be queued past the bound before it is seen.
    assert peak <= limit + STEP * 1100
    assert received == list(range(1, published + 1))


async def test_a_slow_consumer_is_cut_within_close_timeout_even_without_pings() -> None:
    # websockets drains before it starts the close deadline; a client that never
    # reads never drains, so the server must abort it itself.
    async with aserve(
        api_key=KEY,
        demo=False,
        ping_interval=None,
        max_queue_bytes=64 * 1024,
        slow_timeout=0.2,
        close_timeout=0.3,
    ) as srv:
        sock = await stalled_client(srv, "commands.status")
        try:
            await until(lambda: srv.metrics()["activeConnections"] == 1)
            await flood(srv, "commands.status", lambda: srv.metrics()["slowConsumerDisconnects"])
            assert srv.metrics()["slowConsumerDisconnects"] == 1
            dropped = srv.metrics()["dropped"]
            await until(lambda: srv.metrics()["activeConnections"] == 0, limit=3)
            await flood(srv, "commands.status", lambda: False, limit=200)
            # Once it is cut, nothing more is queued for it or counted against it.
            assert srv.metrics()["dropped"] == dropped
        finally:
            sock.close()


async def test_shutdown_finishes_with_a_client_that_stopped_reading() -> None:
    srv = await aserve(
        api_key=KEY, demo=False, ping_interval=None, slow_timeout=60, close_timeout=0.3
    )
    sock = await stalled_client(srv, "commands.status")
    try:
        await until(lambda: srv.metrics()["activeConnections"] == 1)
        await flood(srv, "commands.status", lambda: srv.metrics()["maxQueuedBytes"] > 2**20)
        async with asyncio.timeout(5):
            await srv.aclose()
        assert srv.metrics()["activeConnections"] == 0
    finally:
        sock.close()
