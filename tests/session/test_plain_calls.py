"""Plain calls: a notebook cell without ``await`` serves, connects, subscribes and closes.

A "cell" here is a plain function called from the async test: the test's event
loop is running but blocked while it runs, exactly as a kernel's loop is while
a cell executes. What a plain call made must stay usable from async code too.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websockets_serve

import nexus_nb as nnb
from nexus_nb.thread import LoopThread
from nexus_nb.server import Server, ServerState
from nexus_nb.session import Stream
from tests.helpers.keys import KEY

CHANNEL = "telemetry.metrics"
STAMP = "2026-12-03T00:00:00.000Z"


def nexus_threads() -> list[str]:
    """The threads nexus_nb started that are still alive."""
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("nexus_nb"))


async def test_a_cell_without_await_serves_streams_and_closes_with_plain_calls() -> None:
    def cell() -> tuple[Server, Stream, dict[str, object]]:
        server, stream = serve_and_connect()
        reply = stream.subscribe(CHANNEL, filters={"source": "a"})
        for n in range(1, 201):
            server.publish(CHANNEL, {"n": n, "source": "a" if n % 2 else "b"})
        buf = stream.wait_for(CHANNEL, rows=100, timeout=10)
        assert buf is stream[CHANNEL]
        return server, stream, reply

    server, stream, reply = cell()
    try:
        assert isinstance(server, Server)
        assert reply["type"] == "subscription_confirmed"
        assert stream[CHANNEL].to_dataframe()["n"].tolist() == list(range(1, 201, 2))
        assert stream.client.reader == "thread"
        assert len(nexus_threads()) == 2  # the server's and the reader's
    finally:
        stream.close()
        server.close()
    assert server.state is ServerState.CLOSED
    assert nexus_threads() == []


def serve_and_connect() -> tuple[Server, Stream]:
    """A cell: a plain ``serve`` and a plain ``connect`` to it."""
    server = nnb.serve(api_key=KEY, demo=False)
    return server, nnb.connect(server.url, api_key=KEY)


async def test_what_plain_calls_made_can_be_awaited_from_async_code() -> None:
    server, stream = serve_and_connect()
    try:
        await stream.subscribe([CHANNEL])
        frame = pd.DataFrame(
            {
                "channel": CHANNEL,
                "timestamp": pd.date_range("2026-01-01", periods=50, freq="10ms", tz="UTC"),
                "value": np.arange(50.0),
            }
        )
        assert await server.replay(frame, speed=None) == 50
        buf = await stream.wait_for(CHANNEL, rows=50)
        assert buf.to_dataframe()["value"].tolist() == list(np.arange(50.0))
        await stream.resubscribe({CHANNEL: {"source": "x"}})
        assert stream.client.subscriptions == {CHANNEL: [{"source": ["x"]}]}
    finally:
        await stream.aclose()
        await server.aclose()
    assert server.state is ServerState.CLOSED
    assert nexus_threads() == []


async def test_a_plain_replay_blocks_until_every_event_is_published() -> None:
    def cell() -> tuple[int, int]:
        server, stream = serve_and_connect()
        try:
            stream.subscribe(CHANNEL)
            frame = pd.DataFrame(
                {
                    "channel": CHANNEL,
                    "timestamp": pd.date_range("2026-01-01", periods=30, freq="ms", tz="UTC"),
                    "value": np.arange(30.0),
                }
            )
            sent = server.replay(frame, speed=None)
            return sent, len(stream.wait_for(CHANNEL, rows=sent))
        finally:
            stream.close()
            server.close()

    assert cell() == (30, 30)


async def test_a_stream_on_the_kernels_loop_refuses_plain_calls_and_says_to_await(
    server: Server,
) -> None:
    stream = await nnb.connect(server.url, api_key=KEY)
    try:

        def cell(call: str) -> None:
            if call == "subscribe":
                stream.subscribe(CHANNEL)
            elif call == "wait_for":
                stream.wait_for(CHANNEL)
            else:
                stream.close()

        for call in ("subscribe", "wait_for", "close"):
            with pytest.raises(RuntimeError, match="await"):
                cell(call)
        assert stream.client.subscriptions == {}
        await stream.subscribe(CHANNEL)  # awaited, it works
        server.publish(CHANNEL, {"n": 1})
        assert len(await stream.wait_for(CHANNEL)) == 1
    finally:
        await stream.aclose()


async def test_a_plain_connect_that_fails_leaves_no_thread_behind() -> None:
    def cell() -> None:
        nnb.connect("ws://127.0.0.1:9/", api_key=KEY, open_timeout=2)

    with pytest.raises(nnb.TransportError):
        cell()
    assert nexus_threads() == []


async def test_a_reader_thread_buffers_frames_that_arrive_right_after_the_greeting() -> None:
    # A server that streams without waiting for a subscribe (a resume, a relay):
    # the stream's sinks must be on before the reader thread reads the first frame.
    count = 5_000
    frames = [
        orjson.dumps(
            {"type": "event", "channel": CHANNEL, "data": {"n": n}, "seq": n, "timestamp": STAMP}
        )
        for n in range(1, count + 1)
    ]

    async def handler(ws: ServerConnection) -> None:
        await ws.send(orjson.dumps({"type": "connection_established", "client_id": "x"}), text=True)
        for frame in frames:
            await ws.send(frame, text=True)
        await ws.wait_closed()

    # On a thread of its own, so that it answers while a plain call blocks this loop.
    async def start() -> Any:
        return await websockets_serve(handler, "127.0.0.1", 0)

    host = LoopThread("bare-server")
    bare = host.call(start())
    url = f"ws://127.0.0.1:{next(iter(bare.sockets)).getsockname()[1]}"
    plain = (lambda: nnb.connect(url, api_key=KEY, reconnect=False))()  # a cell
    awaited_stream = await nnb.connect(url, api_key=KEY, reader="thread", reconnect=False)
    try:
        for stream in (plain, awaited_stream):
            await stream.wait_for(CHANNEL, rows=count, timeout=10)
            assert stream[CHANNEL].to_dataframe()["n"].tolist() == list(range(1, count + 1))
    finally:
        await plain.aclose()
        await awaited_stream.aclose()
        bare.close()
        host.call(bare.wait_closed())
        await host.stop()
