"""The two ways to start a server, chosen by name: ``serve()`` plainly, ``aserve()`` awaited."""

from __future__ import annotations

import inspect
import subprocess
import sys
import threading

import pytest
from websockets.asyncio.client import ClientConnection, connect

from nexus_nb import protocol
from nexus_nb.server import Server, ServerHandle, ServerStart, ServerState, aserve, serve
from tests.helpers.keys import HEADERS, KEY
from tests.helpers.net import recv
from tests.helpers.paths import ROOT

CHANNEL = "system.alerts"

# A script: no event loop runs anywhere in it, the server's own thread apart.
SCRIPT = f"""
import json
from websockets.sync.client import connect
from nexus_nb import protocol
from nexus_nb.server import serve

server = serve(api_key={KEY!r}, demo=False, ping_interval=None)
with connect(server.url, additional_headers={{"Authorization": "Bearer {KEY}"}}) as ws:
    print(json.loads(ws.recv(timeout=10))["type"])
    ws.send(protocol.subscribe([{CHANNEL!r}]).decode())
    print(json.loads(ws.recv(timeout=10))["type"])
    server.publish({CHANNEL!r}, {{"n": 7}})
    print(json.loads(ws.recv(timeout=10))["data"])
server.close()
print(server.state.name)
"""


async def subscribed(server: Server) -> ClientConnection:
    ws = await connect(server.url, additional_headers=HEADERS)
    assert (await recv(ws))["type"] == "connection_established"
    await ws.send(protocol.subscribe([CHANNEL]).decode())
    assert (await recv(ws))["type"] == "subscription_confirmed"
    return ws


def test_serve_in_a_script_with_no_running_loop_serves_a_raw_websockets_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n") == [
        "connection_established",
        "subscription_confirmed",
        "{'n': 7}",
        "CLOSED",
        "",
    ]


async def test_serve_called_plainly_in_a_coroutine_on_the_main_thread_serves_as_in_a_cell() -> None:
    # A notebook cell: the kernel's loop runs on the main thread and the cell's
    # plain call holds it; the server starts on a thread of its own regardless.
    assert threading.current_thread() is threading.main_thread()
    server = serve(api_key=KEY, demo=False, ping_interval=None)
    try:
        assert isinstance(server, ServerHandle)
        assert not server._owner.here()
        ws = await subscribed(server)
        server.publish(CHANNEL, {"n": 1})
        assert (await recv(ws))["data"] == {"n": 1}
        await ws.close()
    finally:
        server.close()
    assert server.state is ServerState.CLOSED
    assert not [t for t in threading.enumerate() if t.name == "nexus_nb server"]


async def test_aserve_runs_the_server_on_the_callers_loop_and_async_with_closes_it() -> None:
    start = aserve(api_key=KEY, demo=False, ping_interval=None)
    assert isinstance(start, ServerStart)
    async with start as server:
        assert server._owner.here()
        ws = await subscribed(server)
        server.publish(CHANNEL, {"n": 2})
        assert (await recv(ws))["data"] == {"n": 2}
    assert server.state is ServerState.CLOSED


def test_serve_on_a_servers_own_thread_raises_instead_of_blocking_it() -> None:
    server = serve(api_key=KEY, demo=False, ping_interval=None)
    try:
        with pytest.raises(RuntimeError, match=r"await aserve\(\.\.\.\)"):
            server._owner.call(serve, api_key=KEY, demo=False)
        assert server.state is ServerState.SERVING
    finally:
        server.close()


def test_serve_and_aserve_take_the_same_options() -> None:
    plain, awaited = inspect.signature(serve), inspect.signature(aserve)
    assert list(plain.parameters) == list(awaited.parameters)
    assert "host" in plain.parameters
    assert "max_queue_bytes" in plain.parameters
    assert plain.return_annotation == "ServerHandle"
    assert awaited.return_annotation == "ServerStart"
    assert "Args:" in (serve.__doc__ or "")
    assert "Args:" in (aserve.__doc__ or "")


def test_a_failed_serve_stops_the_thread_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEXUS_API_KEY", raising=False)
    with pytest.raises(ValueError, match="explicit api_key"):
        serve(host="0.0.0.0", demo=False)
    assert not [t for t in threading.enumerate() if t.name == "nexus_nb server"]
