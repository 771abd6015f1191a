"""What ``serve()`` returns: the server itself to its user, closed once no longer referenced."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading

import pytest

from nexus_nb.server import Server, ServerHandle, ServerState, serve
from tests.helpers.keys import KEY
from tests.helpers.waiting import poll


def server_threads() -> int:
    return sum(t.name == "nexus_nb server" for t in threading.enumerate())


def test_the_handle_acts_as_the_server_it_started() -> None:
    handle = serve(api_key=KEY, demo=False)
    try:
        assert isinstance(handle, ServerHandle)
        assert isinstance(handle.server, Server)
        assert handle.url == handle.server.url
        assert handle.publish("system.alerts", {"severity": "info"}) == 1
        assert handle.metrics()["channels"]["system.alerts"]["published"] == 1
        assert repr(handle) == repr(handle.server)
        assert "publish" in dir(handle)
    finally:
        handle.close()
    assert handle.state is ServerState.CLOSED


def test_a_served_server_no_longer_referenced_is_closed_and_its_thread_ended() -> None:
    before = server_threads()
    handle = serve(api_key=KEY, demo=False)
    port = handle.port
    assert server_threads() == before + 1
    del handle  # `server = nnb.serve()` run again: the first handle is dropped
    gc.collect()
    assert poll(lambda: server_threads() == before, timeout=10, step=0.01)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there any more


def test_awaiting_serve_says_to_drop_the_await_or_use_aserve() -> None:
    handle = serve(api_key=KEY, demo=False)
    try:

        async def misuse() -> None:
            await handle  # what `await nnb.serve(...)` does once the server runs

        with pytest.raises(TypeError, match=r"drop the await.*nnb\.aserve"):
            asyncio.run(misuse())
    finally:
        handle.close()
