"""Fixtures of the system tests: a real redis-server, a headless Chromium page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.redis import RedisProcess


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    """A real redis-server of the test's own, on 127.0.0.1 and a free port."""
    with RedisProcess() as server:
        yield server


@pytest.fixture
def page() -> Iterator[Any]:
    """A fresh page in headless Chromium, closed after the test (the browser tests)."""
    # Imported here: playwright loads only for the tests that drive a browser.
    from tests.helpers.lab import chromium_page

    with chromium_page() as p:
        yield p
