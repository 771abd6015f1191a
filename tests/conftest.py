"""Fixtures shared by the network tests: a real server on 127.0.0.1 and a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nexus_nb.server import Server, serve


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """A server with no demo traffic whose key is the test module's ``KEY``."""
    async with await serve(api_key=request.module.KEY, demo=False) as srv:
        yield srv
