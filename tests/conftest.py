"""Fixtures shared by the network tests: a real server on 127.0.0.1 and a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from proxy import Proxy
from redis_fixture import RedisProcess

from nexus_nb.server import Server, serve


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """A server with no demo traffic whose key is the test module's ``KEY``."""
    async with await serve(api_key=request.module.KEY, demo=False) as srv:
        yield srv


@pytest.fixture
async def proxy(server: Server) -> AsyncIterator[Proxy]:
    """A cuttable loopback proxy in front of ``server``."""
    relay = Proxy(server.port)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    """A real redis-server of the test's own, on 127.0.0.1 and a free port."""
    with RedisProcess() as server:
        yield server
