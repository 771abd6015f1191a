"""Starting and closing a server: ``await``/``async with aserve()``; an ``aclose`` that waits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nexus_nb import protocol
from nexus_nb.server import Server, ServerState, aserve
from nexus_nb.server.demo import DemoSource
from tests.helpers.keys import HEADERS, KEY
from tests.helpers.net import recv
from tests.helpers.waiting import until


async def subscribed(srv: Server) -> ClientConnection:
    ws = await connect(srv.url, additional_headers=HEADERS)
    assert (await recv(ws))["type"] == "connection_established"
    await ws.send(protocol.subscribe(["system.alerts"]).decode())
    assert (await recv(ws))["type"] == "subscription_confirmed"
    return ws


async def assert_closed_going_away(ws: ClientConnection) -> None:
    """Read what is left (demo events sent before the close) until the close; 1001."""
    async with asyncio.timeout(5):
        async for _ in ws:  # ends at a normal close, raises at an abnormal one
            pass
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 1001


async def test_async_with_serve_serves_in_the_block_and_is_closed_after_it() -> None:
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        assert srv.state is ServerState.SERVING
        ws = await subscribed(srv)
        srv.publish("system.alerts", {"n": 1})
        assert (await recv(ws))["data"] == {"n": 1}
    assert srv.state is ServerState.CLOSED
    await assert_closed_going_away(ws)


async def test_async_with_serve_closes_the_server_when_the_block_raises() -> None:
    with pytest.raises(KeyError):
        async with aserve(api_key=KEY, demo=True, rate=500.0, ping_interval=None) as srv:
            raise KeyError("boom")
    assert srv.state is ServerState.CLOSED
    assert srv.metrics()["demo"] == "done"


async def test_aclose_returns_once_every_client_is_closed_and_the_port_is_free() -> None:
    srv = await aserve(api_key=KEY, demo=True, rate=500.0, ping_interval=None)
    clients = [await subscribed(srv) for _ in range(3)]
    await srv.aclose()
    assert srv.state is ServerState.CLOSED
    assert srv.metrics()["activeConnections"] == 0
    assert srv.metrics()["demo"] == "done"
    for ws in clients:
        await assert_closed_going_away(ws)
    with pytest.raises(ConnectionRefusedError):
        await connect(srv.url, additional_headers=HEADERS, open_timeout=5)


async def test_aclose_from_two_tasks_and_again_waits_for_the_one_shutdown() -> None:
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None)
    ws = await subscribed(srv)
    await asyncio.gather(srv.aclose(), srv.aclose())
    assert srv.state is ServerState.CLOSED
    await srv.aclose()
    await assert_closed_going_away(ws)


async def test_wait_closed_waits_for_an_aclose_in_another_task() -> None:
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None)
    waiter = asyncio.create_task(srv.wait_closed())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await srv.aclose()
    async with asyncio.timeout(5):
        await waiter
    assert srv.state is ServerState.CLOSED


async def test_a_cancelled_aclose_still_finishes_the_shutdown() -> None:
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None)
    ws = await subscribed(srv)
    closing = asyncio.create_task(srv.aclose())
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    async with asyncio.timeout(5):
        await srv.wait_closed()
    assert srv.state is ServerState.CLOSED
    await assert_closed_going_away(ws)


class BrokenDemo(DemoSource):
    async def run(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the demo broke")


async def test_aclose_closes_a_server_whose_demo_failed(caplog: pytest.LogCaptureFixture) -> None:
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None)
    srv.start_demo(BrokenDemo())
    await until(lambda: (srv.metrics()["demo"] or "").startswith("failed"))
    await srv.aclose()
    assert srv.state is ServerState.CLOSED
    assert "demo source failed" in caplog.text


async def test_a_plain_close_of_a_server_on_the_callers_loop_refuses_and_it_keeps_serving() -> None:
    # Its close needs the loop the caller holds, so a plain close() would hang: it
    # says to await aclose() instead (close() returns only once closed, elsewhere).
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        with pytest.raises(RuntimeError, match=r"await server.aclose"):
            srv.close()
        assert srv.state is ServerState.SERVING
