"""Fixtures shared by the loopback tests: a real server on 127.0.0.1 and a proxy before it.

The system tests (browser, notebooks, Redis, nginx, Node) add theirs in
``tests/system/conftest.py``; plain functions live in ``tests/helpers``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, settings

from nexus_nb.server import Server, aserve
from tests.helpers.keys import KEY
from tests.helpers.proxy import Proxy

# Property tests check behaviour, not speed: on a shared two-core machine a slow
# draw or example is noise, so hypothesis' timing checks are off everywhere.
settings.register_profile("nexus_nb", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("nexus_nb")


@pytest.fixture
def server_key() -> str:
    """The API key the ``server`` fixture accepts; override it in a module that needs another."""
    return KEY


@pytest.fixture
async def server(server_key: str) -> AsyncIterator[Server]:
    """A server with no demo traffic that accepts ``server_key``."""
    async with aserve(api_key=server_key, demo=False) as srv:
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
