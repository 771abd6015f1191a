"""Several server instances sharing one real redis-server: delivery, resume, failures."""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nexus_nb import protocol
from nexus_nb.server import Server, aserve
from tests.helpers.keys import HEADERS, KEY
from tests.helpers.net import recv
from tests.helpers.proxy import Proxy
from tests.helpers.redis import RedisProcess
from tests.helpers.waiting import until

pytestmark = pytest.mark.redis

CHANNEL = "tasks.updates"


@asynccontextmanager
async def instances(url: str, count: int) -> AsyncIterator[list[Server]]:
    async with AsyncExitStack() as stack:
        servers = []
        for _ in range(count):
            srv = await aserve(api_key=KEY, demo=False, redis=url, ping_interval=None)
            servers.append(await stack.enter_async_context(srv))
        yield servers


async def subscribe(
    url: str, filters: dict[str, Any] | None = None, resume: tuple[str, int] | None = None
) -> tuple[ClientConnection, str]:
    """Connect, subscribe to CHANNEL; return the connection and the announced epoch."""
    ws = await connect(url, additional_headers=HEADERS)
    hello = await recv(ws, limit=10)
    point = (resume[0], {CHANNEL: resume[1]}) if resume else None
    await ws.send(protocol.subscribe([CHANNEL], filters, resume=point).decode())
    assert (await recv(ws, limit=10))["type"] == "subscription_confirmed"
    return ws, hello["epoch"]


async def events_until(ws: ClientConnection, done: Callable[[list[int]], bool]) -> list[int]:
    """The ``seq`` of each event received until ``done(seqs)``."""
    seqs: list[int] = []
    while not done(seqs):
        message = await recv(ws, limit=10)
        assert message["type"] == "event", message
        seqs.append(message["seq"])
    return seqs


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


async def http_get(
    srv: Server, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """GET from a thread: the server answers on this test's loop."""
    return await asyncio.to_thread(fetch, f"http://127.0.0.1:{srv.port}{path}", headers)


async def wait_health(srv: Server, status: int) -> bytes:
    """Poll ``/healthz`` until it answers ``status`` (10 s at most); return the body."""
    async with asyncio.timeout(10):
        while True:
            code, body = await http_get(srv, "/healthz")
            if code == status:
                return body
            await asyncio.sleep(0.02)


async def test_events_published_on_any_instance_reach_matching_subscribers_of_all(
    redis_server: RedisProcess,
) -> None:
    async with instances(redis_server.url, 3) as (a, b, c):
        done_on_a, _ = await subscribe(a.url, {"status": "done"})
        all_on_b, _ = await subscribe(b.url)
        some_on_c, _ = await subscribe(c.url, {"status": ["running", "done"]})
        statuses = ["queued", "running", "done"] * 10
        for i, status in enumerate(statuses):
            await (a, b, c)[i % 3].submit(CHANNEL, [{"i": i, "status": status}])
        publisher = await connect(c.url, additional_headers=HEADERS)
        await recv(publisher, limit=10)
        await publisher.send(protocol.publish(CHANNEL, [{"status": "done"}], request_id=7).decode())
        ack = await recv(publisher, limit=10)
        assert (ack["type"], ack["seq"], ack["id"]) == ("publish_ack", 31, 7)
        everything = await events_until(all_on_b, lambda s: len(s) == 31)
        done = await events_until(done_on_a, lambda s: len(s) == 11)
        some = await events_until(some_on_c, lambda s: len(s) == 21)
    assert everything == list(range(1, 32))
    assert done == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 31]
    assert some == [s for s in range(1, 31) if s % 3 != 1] + [31]


async def test_a_client_moved_to_another_instance_mid_stream_resumes_without_loss_or_repeat(
    redis_server: RedisProcess,
) -> None:
    total = 2000
    async with instances(redis_server.url, 3) as (a, b, c):
        first, epoch = await subscribe(a.url)

        async def produce() -> None:
            for start in range(0, total, 10):
                await c.submit(CHANNEL, [{"n": n} for n in range(start, start + 10)])

        producer = asyncio.create_task(produce())
        try:
            before = await events_until(first, lambda s: len(s) == 500)
            await first.close()
            second, same_epoch = await subscribe(b.url, resume=(epoch, before[-1]))
            after = await events_until(second, lambda s: bool(s) and s[-1] == total)
            await producer
        finally:
            producer.cancel()
        assert same_epoch == epoch
        assert before + after == list(range(1, total + 1))
        await second.close()


async def test_a_client_resuming_ahead_of_an_instance_gets_nothing_twice(
    redis_server: RedisProcess,
) -> None:
    async with instances(redis_server.url, 1) as (srv,):
        # The client claims seq 5 while this instance has read only 2 (another
        # instance's reader was faster): 3..5 must not be sent again when they arrive.
        await srv.submit(CHANNEL, [{"n": 1}, {"n": 2}])
        await until(lambda: srv.metrics()["log"]["read"] == 2, limit=10)
        ws, _ = await subscribe(srv.url, resume=(srv.epoch, 5))
        await srv.submit(CHANNEL, [{"n": n} for n in range(3, 9)])
        assert await events_until(ws, lambda s: len(s) == 3) == [6, 7, 8]
        await ws.close()


async def test_an_instance_killed_leaves_the_others_serving_and_its_clients_resume_there(
    redis_server: RedisProcess,
) -> None:
    argv = [sys.executable, "-m", "nexus_nb", "serve", "--port", "0", "--api-key", KEY]
    process = await asyncio.create_subprocess_exec(
        *argv, "--redis", redis_server.url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            doomed = (await process.stdout.readline()).decode().strip()
        async with instances(redis_server.url, 1) as (survivor,):
            moving, epoch = await subscribe(doomed)
            staying, _ = await subscribe(survivor.url)
            for n in range(10):
                await survivor.submit(CHANNEL, [{"n": n}])
            seen = await events_until(moving, lambda s: len(s) == 10)
            process.kill()
            assert await close_code(moving) is None
            for n in range(10, 20):
                await survivor.submit(CHANNEL, [{"n": n}])
            moved, _ = await subscribe(survivor.url, resume=(epoch, seen[-1]))
            assert await events_until(moved, lambda s: len(s) == 10) == list(range(11, 21))
            assert await events_until(staying, lambda s: len(s) == 20) == list(range(1, 21))
    finally:
        if process.returncode is None:
            process.kill()
        async with asyncio.timeout(10):
            await process.wait()


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the connection closes; the close code received (None: none, as on a kill)."""
    try:
        while True:
            await recv(ws, limit=10)
    except ConnectionClosed as exc:
        return None if exc.rcvd is None else int(exc.rcvd.code)


async def test_redis_restarted_without_data_closes_clients_1012_into_a_new_epoch(
    redis_server: RedisProcess,
) -> None:
    async with instances(redis_server.url, 2) as (a, b):
        ws_a, epoch = await subscribe(a.url)
        ws_b, _ = await subscribe(b.url)
        await a.submit(CHANNEL, [{"n": 1}])
        await events_until(ws_b, lambda s: len(s) == 1)
        redis_server.stop()
        body = await wait_health(a, 503)
        assert orjson.loads(body) == {"status": "degraded", "log": "disconnected"}
        redis_server.start()
        assert [await close_code(ws) for ws in (ws_a, ws_b)] == [1012, 1012]
        assert orjson.loads(await wait_health(a, 200)) == {"status": "ok", "log": "connected"}
        assert a.epoch == b.epoch != epoch
        # Resuming the lost epoch replays nothing; the new one counts from 1.
        again, new_epoch = await subscribe(b.url, resume=(epoch, 1))
        assert new_epoch == a.epoch
        await a.submit(CHANNEL, [{"n": 2}])
        assert await events_until(again, lambda s: len(s) == 1) == [1]
        assert a.metrics()["log"]["epochChanges"] == 1
        await again.close()


async def test_redis_restarted_with_its_data_loses_nothing_and_keeps_clients() -> None:
    with RedisProcess(appendonly=True) as redis_server:
        async with instances(redis_server.url, 2) as (a, b):
            ws, epoch = await subscribe(b.url)
            await a.submit(CHANNEL, [{"n": 1}])
            redis_server.restart()
            await until(lambda: b.metrics()["log"]["reconnects"] >= 1, limit=10)
            await wait_health(a, 200)
            await wait_health(b, 200)
            for n in range(2, 6):
                await a.submit(CHANNEL, [{"n": n}])
            assert await events_until(ws, lambda s: len(s) == 5) == [1, 2, 3, 4, 5]
            assert b.epoch == epoch
            await ws.close()


async def test_metrics_are_served_as_prometheus_text_and_json(redis_server: RedisProcess) -> None:
    async with instances(redis_server.url, 1) as (srv,):
        await srv.submit(CHANNEL, [{"n": 1}])
        await until(lambda: srv.metrics()["log"]["read"] == 1, limit=10)
        status, body = await http_get(srv, "/metrics?format=prometheus", HEADERS)
        text = body.decode()
        assert status == 200
        assert f'nexus_published_total{{channel="{CHANNEL}"}} 1' in text
        assert "nexus_log_written_total 1" in text
        assert "# TYPE nexus_active_connections gauge" in text
        assert 'nexus_log_info{state="connected"} 1' in text
        accept = {**HEADERS, "Accept": "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"}
        assert (await http_get(srv, "/metrics", accept))[1].startswith(b"# HELP")
        document = orjson.loads((await http_get(srv, "/metrics", HEADERS))[1])
        assert document["log"]["state"] == "connected"
        assert (await http_get(srv, "/metrics?format=prometheus"))[0] == 401


async def test_the_demo_pauses_while_redis_is_away_and_goes_on_after() -> None:
    with RedisProcess(appendonly=True) as redis_server:
        demo = await aserve(api_key=KEY, redis=redis_server.url, rate=200.0, ping_interval=None)
        async with demo as srv:
            await until(lambda: srv.metrics()["log"]["read"] >= 20, limit=10)
            redis_server.stop()
            await wait_health(srv, 503)
            await until(lambda: srv.metrics()["log"]["pending"] == 1, limit=10)
            redis_server.start()
            await wait_health(srv, 200)
            before = srv.metrics()["log"]["read"]
            await until(lambda: srv.metrics()["log"]["read"] >= before + 20, limit=10)
            assert srv.metrics()["demo"] == "running"
            assert srv.metrics()["log"]["pending"] <= 1


async def test_an_instance_cut_off_from_redis_past_retention_tells_its_clients_the_gap(
    redis_server: RedisProcess,
) -> None:
    relay = Proxy(redis_server.port)
    await relay.start()
    try:
        direct = await aserve(api_key=KEY, demo=False, redis=redis_server.url, retention=20)
        behind = await aserve(
            api_key=KEY, demo=False, redis=f"redis://127.0.0.1:{relay.port}", retention=20
        )
        async with direct as a, behind as b:
            ws, _ = await subscribe(b.url)
            await a.submit(CHANNEL, [{"n": n} for n in range(1, 4)])
            assert await events_until(ws, lambda s: len(s) == 3) == [1, 2, 3]
            relay.cut()
            await wait_health(b, 503)
            for start in range(4, 504, 50):  # MAXLEN ~ trims whole 100-entry nodes
                await a.submit(CHANNEL, [{"n": n} for n in range(start, start + 50)])
            relay.restore()
            gap = await recv(ws, limit=10)
            assert gap["type"] == "gap"
            assert (gap["from_seq"], gap["reason"]) == (4, "retention")
            assert gap["missed"] == gap["to_seq"] - 3
            rest = await events_until(ws, lambda s: bool(s) and s[-1] == 503)
            assert rest == list(range(gap["to_seq"] + 1, 504))
            assert b.metrics()["gapsSent"] == 1
            await ws.close()
    finally:
        await relay.close()
