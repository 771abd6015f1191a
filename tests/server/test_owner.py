"""One owner per server: calls from other threads run on the server's own thread and loop.

Each test runs against both kinds of server: one that ``serve()`` started on a
thread of its own, and one that ``await aserve()`` started on the test's loop.
The "other thread" is a plain worker thread (``asyncio.to_thread``), or a
second event loop on one (``asyncio.run`` there).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from nexus_nb import protocol
from nexus_nb.server import Server, ServerState, aserve, serve
from nexus_nb.server.peer import Peer
from tests.helpers.keys import HEADERS, KEY
from tests.helpers.net import recv

CHANNEL = "system.alerts"


@pytest.fixture(params=["serve", "aserve"])
async def srv(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """A server on a thread of its own (``serve``) or on the test's loop (``aserve``)."""
    if request.param == "serve":
        server = serve(api_key=KEY, demo=False, ping_interval=None)
    else:
        server = await aserve(api_key=KEY, demo=False, ping_interval=None)
    try:
        yield server
    finally:
        await server.aclose()


async def subscribed(server: Server) -> ClientConnection:
    ws = await connect(server.url, additional_headers=HEADERS)
    assert (await recv(ws))["type"] == "connection_established"
    await ws.send(protocol.subscribe([CHANNEL]).decode())
    assert (await recv(ws))["type"] == "subscription_confirmed"
    return ws


class Touches(dict[Peer, None]):
    """The server's peers, recording each thread that reads or changes them."""

    def __init__(self, peers: dict[Peer, None]) -> None:
        super().__init__(peers)
        self.readers: set[int] = set()
        self.writers: set[int] = set()

    def __iter__(self) -> Iterator[Peer]:
        self.readers.add(threading.get_ident())
        return super().__iter__()

    def __len__(self) -> int:
        self.readers.add(threading.get_ident())
        return super().__len__()

    def __setitem__(self, peer: Peer, value: None) -> None:
        self.writers.add(threading.get_ident())
        super().__setitem__(peer, value)

    def pop(self, peer: Peer, *default: Any) -> Any:
        self.writers.add(threading.get_ident())
        return super().pop(peer, *default)


async def test_metrics_called_from_another_thread_runs_on_the_servers_thread(srv: Server) -> None:
    touches = Touches(srv._fanout.peers)  # test hook, set before any client connects
    srv._fanout.peers = touches
    done = threading.Event()
    calls = 0

    def poll() -> None:  # a plain thread reading the figures, as a dashboard timer does
        nonlocal calls
        while not done.is_set() or calls == 0:
            assert srv.metrics()["activeConnections"] >= 0
            calls += 1

    poller = asyncio.ensure_future(asyncio.to_thread(poll))
    for _ in range(20):
        ws = await subscribed(srv)
        await ws.close()
    done.set()
    await poller

    # The server's thread is the one that adds and removes peers (its connection handler).
    assert len(touches.writers) == 1
    assert touches.readers <= touches.writers
    assert calls >= 1


async def test_publish_from_another_thread_reaches_subscribers_in_order(srv: Server) -> None:
    ws = await subscribed(srv)

    def publish_all() -> list[int]:
        return [srv.publish(CHANNEL, {"n": n}) for n in range(1, 301)]

    seqs = await asyncio.to_thread(publish_all)
    got = [(await recv(ws))["data"]["n"] for _ in range(300)]
    await ws.close()

    assert got == list(range(1, 301))
    assert seqs == sorted(seqs)


async def test_submit_awaited_on_another_loop_stores_on_the_servers_loop(srv: Server) -> None:
    ws = await subscribed(srv)

    seq = await asyncio.to_thread(asyncio.run, srv.submit(CHANNEL, [{"n": 1}, {"n": 2}]))

    assert [(await recv(ws))["data"]["n"] for _ in range(2)] == [1, 2]
    assert seq == 2
    await ws.close()


async def test_health_and_incident_called_from_another_thread_answer_from_the_server(
    srv: Server,
) -> None:
    healthy, body = await asyncio.to_thread(srv.health)
    assert healthy
    assert body["status"] == "ok"
    with pytest.raises(RuntimeError, match="runs no demo traffic"):
        await asyncio.to_thread(srv.incident, "latency", model="gpt-4o-mini")


async def test_a_plain_close_from_another_thread_closes_the_server(srv: Server) -> None:
    ws = await subscribed(srv)

    await asyncio.to_thread(srv.close)

    assert srv.state is ServerState.CLOSED
    async with asyncio.timeout(5):
        async for _ in ws:  # ends at the server's close
            pass
    assert ws.close_code == 1001


async def test_aclose_awaited_on_another_loop_closes_the_server(srv: Server) -> None:
    ws = await subscribed(srv)

    await asyncio.to_thread(asyncio.run, srv.aclose())

    assert srv.state is ServerState.CLOSED
    async with asyncio.timeout(5):
        await srv.wait_closed()
    await ws.close()


async def test_a_plain_close_on_the_servers_own_thread_raises_and_says_to_await_aclose(
    srv: Server,
) -> None:
    # A server on the test's loop: the test runs on its thread. One on a thread of
    # its own: the close is handed to that thread, as code the server runs would be.
    if srv._owner.here():
        close = srv.close
    else:

        def close() -> None:
            srv._owner.call(srv.close)

    with pytest.raises(RuntimeError, match=r"await server\.aclose\(\)"):
        close()
    assert srv.state is ServerState.SERVING


def test_serve_closes_its_thread_with_the_server() -> None:
    server = serve(api_key=KEY, demo=False, ping_interval=None)
    host = server._owner.host
    assert host is not None
    assert not host.is_current()

    server.close()
    server.close()  # again: nothing left to do

    assert server.state is ServerState.CLOSED
    assert host.stopped
    assert server.metrics()["activeConnections"] == 0  # the state at rest, read directly
