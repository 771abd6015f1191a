"""Plain calls: a notebook cell without ``await`` serves, connects, subscribes and closes.

A "cell" here is a plain function called from the async test: the test's event
loop is running but blocked while it runs, exactly as a kernel's loop is while
a cell executes. The async forms (``aconnect``) are the same streams.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websockets_serve

import nexus_nb as nnb
from nexus_nb.server import Server, ServerState
from nexus_nb.session import Stream
from nexus_nb.thread import LoopThread
from tests.helpers.keys import KEY
from tests.helpers.waiting import poll

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
        assert isinstance(server.server, Server)
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


def test_awaiting_a_plain_connect_says_to_drop_the_await_or_use_aconnect() -> None:
    server = nnb.serve(api_key=KEY, demo=False)
    stream = nnb.connect(server.url, api_key=KEY)
    try:

        async def misuse() -> None:
            await stream  # what `await nnb.connect(...)` does after connecting

        with pytest.raises(TypeError, match=r"drop the await.*nnb\.aconnect"):
            asyncio.run(misuse())
    finally:
        stream.close()
        server.close()


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


async def test_a_plain_and_an_async_stream_buffer_the_same_frames_on_their_reader_threads() -> None:
    server = nnb.serve(api_key=KEY, demo=False)
    plain = nnb.connect(server.url, api_key=KEY)  # a cell: blocks this loop while it connects
    try:
        async with nnb.aconnect(server.url, api_key=KEY) as awaited_stream:
            plain.subscribe(CHANNEL)
            await awaited_stream.subscribe(CHANNEL)
            for n in range(700):  # past 256 rows: the buffers flatten blocks of them
                server.publish(CHANNEL, {"n": n, "value": "n/a" if n % 11 == 0 else n})
            threads: set[str] = set()
            for stream in (plain, awaited_stream):
                stream.client.add_reader_sink(
                    lambda *_: threads.add(threading.current_thread().name)
                )
            plain.wait_for(CHANNEL, rows=700)
            await awaited_stream.wait_for(CHANNEL, rows=700)
            pd.testing.assert_frame_equal(
                plain[CHANNEL].to_dataframe(), awaited_stream[CHANNEL].to_dataframe()
            )
            assert plain[CHANNEL].type_changes == awaited_stream[CHANNEL].type_changes > 0
    finally:
        plain.close()
        server.close()
    assert nexus_threads() == []


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
    awaited_stream = await nnb.aconnect(url, api_key=KEY, reconnect=False)
    try:
        plain.wait_for(CHANNEL, rows=count, timeout=10)
        await awaited_stream.wait_for(CHANNEL, rows=count, timeout=10)
        for stream in (plain, awaited_stream):
            assert stream[CHANNEL].to_dataframe()["n"].tolist() == list(range(1, count + 1))
    finally:
        plain.close()
        await awaited_stream.aclose()
        bare.close()
        host.call(bare.wait_closed())
        await host.stop()


def test_a_plain_stream_works_in_a_script_with_no_event_loop(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            import threading
            import nexus_nb as nnb
            server = nnb.serve(demo=False)
            stream = nnb.connect(server.url, api_key=server.api_key)
            stream.subscribe("tasks.updates")
            for i in range(50):
                server.publish("tasks.updates", {"task_id": i, "status": "running"})
            print(len(stream.wait_for("tasks.updates", rows=50, timeout=10)))
            stream.close()
            server.close()
            print(sorted(t.name for t in threading.enumerate()))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["50", "['MainThread']"]


def test_a_stream_the_notebook_no_longer_references_is_closed_with_its_reader_thread() -> None:
    server = nnb.serve(api_key=KEY, demo=False)
    try:
        for _ in range(5):  # a cell run five times: `stream = nnb.connect(...)`
            stream = nnb.connect(server.url, api_key=KEY)
            stream.subscribe(CHANNEL)
            buffer = stream[CHANNEL]
        del stream
        gc.collect()
        assert poll(lambda: nexus_threads() == ["nexus_nb server"], timeout=10, step=0.01)
        assert poll(lambda: server.metrics()["activeConnections"] == 0, timeout=10, step=0.01)
        server.publish(CHANNEL, {"n": 1})
        assert len(buffer) == 0  # a buffer outlives its stream, frozen
    finally:
        server.close()
