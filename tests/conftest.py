"""Fixtures shared by the network tests: a real server on 127.0.0.1 and a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from proxy import Proxy
from redis_fixture import RedisProcess

from nexus_nb.server import Server, serve

# Property tests check behaviour, not speed: on a shared two-core machine a slow
# draw or example is noise, so hypothesis' timing checks are off everywhere.
settings.register_profile("nexus_nb", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nexus_nb")


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


@pytest.fixture
def page() -> Iterator[Any]:
    """A fresh page in headless Chromium, closed after the test (the browser tests)."""
    from conftest_browser import chromium_page

    with chromium_page() as p:
        yield p
