"""Client ingest rate as a ratio to a bare websockets client reading the same frames.

A bare websockets server in a subprocess (pinned to CPU 1 when there are two)
greets each connection with ``connection_established`` and then writes the
whole run's frames, framed once in advance, in one ``transport.write``: sending
costs nothing per frame, so the receiver is always the bottleneck and ``raw`` is
a real ceiling (a sender calling ``send()`` per frame tops out near the rate our
client decodes at, which made ``client / raw`` meaningless). The streams: ``/single`` sends one
``event`` per frame, ``/batch`` sends ``event_batch`` frames of 100 event
messages, ``/columns`` the same 100 events as one columnar ``event_batch``
(``batch.format = "columns"``). In this process (CPU 0), each round measures:

* ``raw``: ``websockets`` ``recv(decode=False)`` in a loop, nothing decoded;
* ``client``: :class:`nexus_nb.client.Client` decoding every frame with orjson,
  checking ``seq`` and handing each frame's events to one sink (a column sink
  for ``/columns``, which gets the decoded lists);
* ``loop``: the same client, on this loop, with a sink that extends a
  :class:`~nexus_nb.buffer.RingBuffer` (flattened, typed columns) per frame:
  the ingest with no thread at all, the baseline of the next one;
* ``buffers``: a stream (:func:`nexus_nb.aconnect`, the same as a plain
  ``nnb.connect()``): the socket read, decoded and stored in its buffers on the
  stream's own reader thread, end to end from the greeting to the last row.

Rates are events per second from the greeting to the last event; the figure that
matters is ``client / raw`` from the same run (absolute rates drift with load).

Usage: ``.venv/bin/python benchmarks/bench_client.py [--events 200000] [--rounds 3]``
(about 20-40 s on the 2-core machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import orjson
from figures import figure
from websockets.asyncio.client import connect as ws_connect

from nexus_nb.buffer import RingBuffer
from nexus_nb.client import Client, Events
from nexus_nb.protocol import event_columns
from nexus_nb.session import aconnect

BATCH = 100


MODES = ("single", "batch", "columns")
LABELS = {
    "single": "single-event frames",
    "batch": f"{BATCH}-event batches",
    "columns": f"{BATCH}-event columnar batches",
}


def frames(mode: str, events: int) -> list[bytes]:
    """The pre-encoded frames for ``mode`` carrying ``events`` events in all."""
    messages = [
        {
            "type": "event",
            "channel": "telemetry.metrics",
            "timestamp": "2025-11-03T01:54:00.000Z",
            "data": {
                "event_type": "system.metric",
                "source": "server-01",
                "metric_name": "cpu_usage",
                "value": 45.2 + (seq % 7),
                "timestamp": "2025-11-03T01:54:00.000Z",
            },
            "seq": seq,
        }
        for seq in range(1, events + 1)
    ]
    if mode == "columns":
        return [
            event_columns(
                "telemetry.metrics",
                [m["seq"] for m in chunk],
                [m["timestamp"] for m in chunk],
                [m["data"] for m in chunk],
            )
            for chunk in (messages[i : i + BATCH] for i in range(0, events, BATCH))
        ]
    encoded = [orjson.dumps(message) for message in messages]
    if mode == "single":
        return encoded
    head = b'{"type":"event_batch","channel":"telemetry.metrics","events":['
    return [head + b",".join(encoded[i : i + BATCH]) + b"]}" for i in range(0, events, BATCH)]


async def run_server(events: int) -> None:
    """The subprocess: serve pre-encoded frames; print the port."""
    from websockets.asyncio.server import ServerConnection, serve

    prepared = {mode: frames(mode, events) for mode in MODES}
    hello = orjson.dumps(
        {"type": "connection_established", "client_id": "bench", "timestamp": "now"}
    )

    from websockets.frames import Frame, Opcode

    # Framed once: unmasked text frames, as a server sends them.
    streams = {
        mode: b"".join(Frame(Opcode.TEXT, f).serialize(mask=False) for f in prepared[mode])
        for mode in MODES
    }

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        await ws.send(hello, text=True)
        ws.transport.write(streams[ws.request.path.strip("/")])
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None) as server:
        print(next(iter(server.sockets)).getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def raw_rate(url: str, count: int) -> float:
    """Events per second read by a bare websockets client (frames not decoded)."""
    async with ws_connect(url, compression=None, max_size=None) as ws:
        await ws.recv(decode=False)
        start = time.perf_counter()
        for _ in range(count):
            await ws.recv(decode=False)
        elapsed = time.perf_counter() - start
    return (count * (1 if url.endswith("single") else BATCH)) / elapsed


async def client_rate(url: str, events: int) -> float:
    """Events per second decoded by our client and handed to a sink."""
    done = asyncio.Event()
    got = 0
    finished = 0.0

    def sink(channel: str, batch: Events) -> None:
        nonlocal got, finished
        got += len(batch)
        if got >= events:
            finished = time.perf_counter()
            done.set()

    client = await Client.connect(url, heartbeat=None, reconnect=False)
    start = time.perf_counter()
    client.add_column_sink(sink)
    await done.wait()
    await client.aclose()
    return events / (finished - start)


async def loop_rate(url: str, events: int) -> float:
    """Events per second into a ring buffer by a client on this loop (no thread)."""
    buffer = RingBuffer("telemetry.metrics", maxlen=events)
    done = asyncio.Event()
    got = 0

    def sink(channel: str, batch: Events) -> None:
        nonlocal got
        buffer.extend(batch)
        got += len(batch)
        if got >= events:
            done.set()

    start = time.perf_counter()
    client = await Client.connect(url, heartbeat=None, reconnect=False)
    client.add_column_sink(sink)
    await done.wait()
    rows = len(buffer)  # the last staged rows are stored by this read
    finished = time.perf_counter()
    await client.aclose()
    assert rows == events
    return events / (finished - start)


async def buffer_rate(url: str, events: int) -> float:
    """Events per second from the socket into a stream's buffer, on its reader thread."""
    start = time.perf_counter()
    stream = await aconnect(url, heartbeat=None, reconnect=False, maxlen=events)
    await stream.wait_for("telemetry.metrics", rows=events, timeout=120)
    finished = time.perf_counter()
    await stream.aclose()
    return events / (finished - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="print every round")
    args = parser.parse_args()
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})
    # A blocking spawn before any connection exists: nothing on the loop to stall.
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, __file__, "--serve", str(args.events)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if (os.cpu_count() or 1) >= 2:
            os.sched_setaffinity(proc.pid, {1})
        port = int(proc.stdout.readline())
        for mode in MODES:
            url = f"ws://127.0.0.1:{port}/{mode}"
            count = args.events if mode == "single" else args.events // BATCH
            raws, clients, loops, buffers = [], [], [], []
            for _ in range(args.rounds):
                raws.append(await raw_rate(url, count))
                clients.append(await client_rate(url, args.events))
                loops.append(await loop_rate(url, args.events))
                buffers.append(await buffer_rate(url, args.events))
            raw, ours = statistics.median(raws), statistics.median(clients)
            looped, buffered = statistics.median(loops), statistics.median(buffers)
            if args.verbose:
                rounds = (raws, clients, loops, buffers)
                print(mode, *([f"{r:,.0f}" for r in rates] for rates in rounds))
            print(
                f"{mode:7}  raw {raw:>10,.0f} ev/s   client {ours:>10,.0f} ev/s ({ours / raw:.2f})"
                f"   into buffers by a stream {buffered:>10,.0f} ev/s ({buffered / raw:.2f},"
                f" {buffered / looped:.2f} of a client on the loop filling a buffer at"
                f" {looped:,.0f})   (median of {args.rounds}, {args.events:,} events)"
            )
            figure(
                f"{mode}_buffers_thread",
                buffered,
                "events/s",
                what=f"{LABELS[mode]}, into a stream's buffers on its reader thread",
                baseline=looped,
                against="a client on the caller's loop extending a buffer (no thread)",
                better="higher",
            )
            for key, value, what in (
                ("client", ours, "decoded by the client"),
                ("buffers", buffered, "decoded into buffers"),
            ):
                figure(
                    f"{mode}_{key}",
                    value,
                    "events/s",
                    what=f"{LABELS[mode]}, {what}",
                    baseline=raw,
                    against="raw `websockets` receive",
                    ceiling=True,
                    better="higher",
                )
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=10)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        asyncio.run(run_server(int(sys.argv[2])))
    else:
        asyncio.run(main())
