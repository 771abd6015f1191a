"""Two Redis-backed instances behind a real nginx with the reference's ``location /stream``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from websockets.asyncio.client import ClientConnection, connect

from nexus_nb import protocol
from nexus_nb.server import Server, aserve
from tests.helpers.keys import HEADERS, KEY
from tests.helpers.net import recv
from tests.helpers.nginx import NginxProcess
from tests.helpers.redis import RedisProcess
from tests.helpers.waiting import until

pytestmark = pytest.mark.redis

CHANNEL = "system.alerts"


@asynccontextmanager
async def behind_nginx(url: str) -> AsyncIterator[tuple[NginxProcess, list[Server]]]:
    async with AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(
                await aserve(api_key=KEY, demo=False, redis=url, ping_interval=None)
            )
            for _ in range(2)
        ]
        with NginxProcess([f"127.0.0.1:{s.port}" for s in servers]) as nginx:
            yield nginx, servers


async def subscribe(
    url: str, resume: tuple[str, int] | None = None
) -> tuple[ClientConnection, str]:
    ws = await connect(url, additional_headers=HEADERS)
    hello = await recv(ws, limit=10)
    point = (resume[0], {CHANNEL: resume[1]}) if resume else None
    await ws.send(protocol.subscribe([CHANNEL], {"severity": "high"}, resume=point).decode())
    assert (await recv(ws, limit=10))["type"] == "subscription_confirmed"
    return ws, str(hello["epoch"])


async def seqs(ws: ClientConnection, count: int) -> list[object]:
    return [(await recv(ws, limit=10))["seq"] for _ in range(count)]


async def test_clients_through_nginx_land_on_both_instances_and_get_every_event(
    redis_server: RedisProcess,
) -> None:
    async with behind_nginx(redis_server.url) as (nginx, (a, b)):
        clients = [(await subscribe(nginx.url))[0] for _ in range(4)]
        # Round robin without ip_hash: both instances hold clients.
        assert a.metrics()["activeConnections"] == b.metrics()["activeConnections"] == 2
        for n in range(10):
            await (a, b)[n % 2].submit(CHANNEL, [{"n": n, "severity": ["low", "high"][n % 2]}])
        for ws in clients:
            assert await seqs(ws, 5) == [2, 4, 6, 8, 10]
            await ws.close()


async def test_a_client_reconnecting_through_nginx_resumes_on_the_other_instance(
    redis_server: RedisProcess,
) -> None:
    async with behind_nginx(redis_server.url) as (nginx, (a, b)):
        first, epoch = await subscribe(nginx.url)
        home = [s.metrics()["activeConnections"] for s in (a, b)]
        for n in range(6):
            await a.submit(CHANNEL, [{"n": n, "severity": "high"}])
        assert await seqs(first, 3) == [1, 2, 3]
        await first.close()
        await until(
            lambda: a.metrics()["activeConnections"] == 0 == b.metrics()["activeConnections"],
            limit=10,
        )
        # No sticky sessions: round robin sends the next connection to the other instance.
        second, _ = await subscribe(nginx.url, resume=(epoch, 3))
        assert [s.metrics()["activeConnections"] for s in (a, b)] == home[::-1]
        for n in range(6, 8):
            await b.submit(CHANNEL, [{"n": n, "severity": "high"}])
        assert await seqs(second, 5) == [4, 5, 6, 7, 8]
        await second.close()
