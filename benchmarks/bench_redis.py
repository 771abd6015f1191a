"""Scale-out cost: one in-process server vs one and two Redis-backed instances.

``python benchmarks/bench_redis.py [--clients K] [--events N] [--rate R]`` runs:

1. Throughput: the same K clients (spread over the instances) and the same N
   events, published as fast as flow control allows (batches of 200, pausing
   while any client holds more than 1 MiB of outgoing bytes) through (a) one
   server with the in-memory log, (b) one instance on Redis, (c) two instances
   on one Redis, the events published on the first. Delivered events/s are
   measured by the load process from its first to its last event.
2. Latency: events published at a fixed rate R, with ``time.time()`` inside,
   on one in-process server, then on the first of two Redis-backed instances; a
   client on each instance records receive time minus that: p50/p99 end to end
   (publish -> Redis -> reader -> fan-out -> WebSocket -> client).

The servers run in this process pinned to CPU 0, the clients in a load process
on CPU 1, redis-server (started here, on a free port) wherever the kernel puts
it: on a two-core machine Redis shares a core, so read the ratios, not the
absolute figures. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key-0123456789"
CHANNEL = "telemetry.metrics"
BATCH = 200
HIGH_WATER = 1 << 20
TIMEOUT = 60.0


def event(i: int, stamp: float = 0.0) -> dict[str, Any]:
    """A ~180-byte event shaped like the reference's simulated telemetry."""
    return {
        "event_type": "system.metric",
        "source": "server-01",
        "metric_name": "cpu_usage",
        "value": (i * 7919 % 10_000) / 100,
        "unit": "percent",
        "i": i,
        "t": stamp,
    }


async def load(urls: list[str], clients: int, count: int, latency: bool) -> None:
    """The load process: subscribe ``clients`` connections, then count (or time) events."""
    import orjson
    from websockets.asyncio.client import connect

    from nexus_nb import protocol

    headers = {"Authorization": f"Bearer {KEY}"}
    sockets = [
        await connect(urls[i % len(urls)], additional_headers=headers) for i in range(clients)
    ]
    for ws in sockets:
        await ws.recv()
        await ws.send(protocol.subscribe([CHANNEL]).decode())
        await ws.recv()
    print("ready", flush=True)
    first: list[float] = []
    delays: list[float] = []

    async def drain(ws: Any) -> float:
        got = 0
        while got < count:
            frame = await ws.recv(decode=False)
            if not frame.startswith(b'{"type":"event"'):
                continue
            now = time.time()
            if not first:
                first.append(time.perf_counter())
            if latency:
                delays.append(now - orjson.loads(frame)["data"]["t"])
            got += 1
        return time.perf_counter()

    async with asyncio.timeout(TIMEOUT):
        last = max(await asyncio.gather(*(drain(ws) for ws in sockets)))
    for ws in sockets:
        await ws.close()
    print(orjson.dumps({"seconds": last - first[0], "delays": delays}).decode(), flush=True)


async def run_load(
    urls: list[str], clients: int, count: int, publish: Any, latency: bool = False
) -> dict[str, Any]:
    """Start the load process, run ``publish()`` once it is subscribed, return its report."""
    import orjson

    argv = [sys.executable, __file__, "--load", ",".join(urls), "--clients", str(clients)]
    argv += ["--events", str(count)] + (["--latency"] if latency else [])
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, preexec_fn=lambda: pin(1), limit=1 << 26
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            assert (await proc.stdout.readline()).strip() == b"ready"
            await publish()
            report: dict[str, Any] = orjson.loads(await proc.stdout.readline())
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return report


def pin(cpu: int) -> None:
    """Pin the calling process to ``cpu`` when the machine has it."""
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


async def flood(servers: list[Any], count: int) -> None:
    """Publish ``count`` events on ``servers[0]`` in batches, pausing on full client queues."""
    first = servers[0]
    for start in range(0, count, BATCH):
        # Polled: the server exposes no event for "queues drained".
        while any(s.max_queued_bytes() > HIGH_WATER for s in servers):  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        await first.submit(CHANNEL, [event(i) for i in range(start, min(count, start + BATCH))])
        await asyncio.sleep(0)


async def paced(server: Any, rate: float, count: int) -> None:
    """Publish ``count`` events at ``rate`` per second, one at a time, stamped with the time."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        server.publish(CHANNEL, event(i, time.time()))


async def bench(clients: int, count: int, rate: float) -> None:
    """Run the throughput and latency measurements and print them."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))
    from redis_fixture import RedisProcess

    from nexus_nb.server import serve

    pin(0)
    options: dict[str, Any] = {"api_key": KEY, "demo": False, "ping_interval": None}
    print(f"{clients} clients, {count} events of ~180 B on one channel; batches of {BATCH}")
    baseline = 0.0
    for label, instances, redis in [
        ("in-process (memory log)", 1, False),
        ("1 instance on Redis", 1, True),
        ("2 instances on Redis", 2, True),
    ]:
        with RedisProcess() as redis_server:
            url = redis_server.url if redis else None
            servers = [await serve(redis=url, **options) for _ in range(instances)]
            try:
                urls = [s.url for s in servers]
                report = await run_load(urls, clients, count, lambda s=servers: flood(s, count))
            finally:
                for server in servers:
                    await server.aclose()
        rate_seen = clients * count / report["seconds"]
        baseline = baseline or rate_seen
        print(f"  {label:26s} {rate_seen:>12,.0f} deliveries/s  ({rate_seen / baseline:.2f}x)")
    total = int(rate * 3)
    for label, redis in [("in-process (memory log)", False), ("2 instances on Redis", True)]:
        with RedisProcess() as redis_server:
            url = redis_server.url if redis else None
            servers = [await serve(redis=url, **options) for _ in range(2 if redis else 1)]
            try:
                urls = [s.url for s in servers] * (1 if redis else 2)
                publish = servers[0]
                report = await run_load(
                    urls, 2, total, lambda p=publish: paced(p, rate, total), latency=True
                )
            finally:
                for server in servers:
                    await server.aclose()
        delays = sorted(report["delays"])
        p50 = statistics.median(delays) * 1000
        p99 = delays[int(len(delays) * 0.99)] * 1000
        where = f"latency at {rate:,.0f} ev/s, {label}"
        print(f"{where:50s}: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({len(delays)} samples)")


def main() -> None:
    """Parse the arguments; run the benchmark, or the load process with ``--load``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=2_000.0, help="latency run, events/s")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--latency", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        sys.path.insert(0, str(ROOT))
        asyncio.run(load(args.load.split(","), args.clients, args.events, args.latency))
    else:
        asyncio.run(bench(args.clients, args.events, args.rate))


if __name__ == "__main__":
    main()
