"""The longest busy cell that loses nothing, at 5,000 events/s, per reader.

A server in another process publishes ``telemetry.metrics`` events (frames of
about 350 bytes, as the demo's) at 5,000 per second while this process, the
"kernel", blocks its event loop with CPU-bound Python for a given time and
reads nothing. Then it lets the loop run until every event has arrived or been
reported lost, and counts what the buffer holds against what was published.

* ``loop-norecover``: a :class:`~nexus_nb.client.Client` on the kernel's loop
  (what an asyncio application would use directly) without ``recover``
  (before this extension, the baseline): while the loop is blocked nothing
  reads the socket, the server's per-client bound (4 MiB) fills and it skips
  events, reported as a ``gap``.
* ``loop``: the same with ``recover`` (the default): after the block the client
  asks the skipped range back from the server's retention (10,000 events per
  channel by default), so it loses only what retention no longer holds.
* ``thread``: a stream (``nnb.connect`` / ``nnb.aconnect``), which reads and
  stores every frame on its own reader thread while the cell computes: its
  only bound is the buffer's ``maxlen`` (here larger than the run).

Every figure counts exactly: ``lost`` is published minus buffered, and the gap
markers' ``missed`` must add up to it. The baseline is the loop reader without
``recover``, in the same run.

It also measures what retention costs the server: the traced memory of a
``MemoryEventLog`` holding the default 10,000 such events, against the bytes of
their encoded frames.

Usage: ``.venv/bin/python benchmarks/bench_busy.py [--rate 5000] [--blocks 2,8,30,45]``
(about 3 minutes: the blocks run one after another, for each reader).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

from figures import figure

import nexus_nb as nnb
from nexus_nb.buffer import RingBuffer
from nexus_nb.client import Client
from nexus_nb.server.eventlog import MemoryEventLog
from nexus_nb.session.feed import Feed

CHANNEL = "telemetry.metrics"
KEY = "bench-busy"


def busy(seconds: float) -> None:
    """Block this thread, and its event loop, with CPU-bound Python."""
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


async def one_block(
    proc: asyncio.subprocess.Process, url: str, reader: str, seconds: float, rate: float
) -> tuple[int, int, int]:
    """(published, buffered, missed in gap markers) for one busy cell of ``seconds``."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    total = int(seconds * rate)
    async with _reading(url, reader, total + 1) as buf:
        proc.stdin.write(f"go {total} {rate}\n".encode())
        await proc.stdin.drain()
        busy(seconds)
        async with asyncio.timeout(seconds + 60):
            assert (await proc.stdout.readline()).strip() == b"done"
            # Everything published has arrived or been reported lost.
            while len(buf) + int(buf.gaps["missed"].sum()) < total:  # noqa: ASYNC110 - polls a count
                await asyncio.sleep(0.05)
        missed = int(buf.gaps["missed"].sum())
        return total, len(buf), missed


@contextlib.asynccontextmanager
async def _reading(url: str, reader: str, maxlen: int) -> AsyncIterator[RingBuffer]:
    """The subscribed channel's buffer, filled by a stream or by a client on this loop."""
    if reader == "thread":
        async with nnb.aconnect(url, api_key=KEY, maxlen=maxlen) as stream:
            await stream.subscribe(CHANNEL)
            yield stream[CHANNEL]
        return
    feed = Feed(maxlen=maxlen, window=None)
    async with Client(url, api_key=KEY, recover=reader == "loop") as client:
        client.add_column_sink(lambda channel, events: feed.deliver(channel, events, 0))
        client.on("gap", feed.on_gap)
        await client.subscribe(CHANNEL)
        yield feed.buffer(CHANNEL)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--blocks", default="2,8,30,45", help="busy cells to try, seconds")
    args = parser.parse_args()
    blocks = [float(b) for b in args.blocks.split(",")]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("pacer.py")),
        KEY,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    longest: dict[str, float] = {}
    try:
        assert proc.stdout is not None
        url = (await proc.stdout.readline()).decode().strip()
        for reader in ("loop-norecover", "loop", "thread"):
            longest[reader] = 0.0
            for seconds in blocks:
                if reader.startswith("loop") and seconds > 8:
                    continue  # it already loses at 8 s; longer blocks only lose more
                total, held, missed = await one_block(proc, url, reader, seconds, args.rate)
                lost = total - held
                assert missed == lost, (reader, seconds, total, held, missed)
                if lost == 0:
                    longest[reader] = max(longest[reader], seconds)
                print(
                    f"{reader:14}  busy {seconds:4.0f} s at {args.rate:,.0f} ev/s: "
                    f"{held:>7,} of {total:>7,} buffered, {lost:>7,} lost "
                    f"(gap markers say {missed:,})",
                    flush=True,
                )
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        await proc.wait()
    print(
        f"longest block with nothing lost: {longest['thread']:.0f} s for a stream, "
        f"{longest['loop']:.0f} s for a client on the loop with recover, "
        f"{longest['loop-norecover']:.0f} s without"
    )
    tried = ", ".join(f"{b:.0f}" for b in blocks)
    for key, reader, how in (
        ("longest_lossless_block", "thread", "a stream (`nnb.connect`, its reader thread)"),
        ("longest_lossless_block_loop", "loop", "client on the loop with `recover`"),
    ):
        figure(
            key,
            longest[reader],
            "s",
            what=f"longest busy cell at {args.rate:,.0f} events/s with nothing lost "
            f"(of {tried} s tried), {how}",
            baseline=longest["loop-norecover"],
            against="the client on the kernel's loop without recover (the previous design)",
            better="higher",
        )
    retention_cost()


def retention_cost(events: int = 10_000) -> None:
    """Traced memory of a full default retention of bench-size events, against their frames."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    log = MemoryEventLog([CHANNEL], retention=events)
    for n in range(events):
        log.append(CHANNEL, {"n": n, "value": float(n), "note": "x" * 200}, "2026-12-03T00:00:00Z")
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    frames = log.metrics()["retained_bytes"]
    print(
        f"retention of {events:,} events: {held / 2**20:.1f} MiB traced "
        f"({held / events:.0f} B/event; their frames are {frames / events:.0f} B/event)"
    )
    figure(
        "retention_memory",
        held / 2**20,
        "MiB",
        what=f"server memory of a full default retention ({events:,} events of one channel, "
        f"{frames // events} B frames)",
        baseline=frames / 2**20,
        against="the encoded frames alone",
    )


if __name__ == "__main__":
    asyncio.run(main())
