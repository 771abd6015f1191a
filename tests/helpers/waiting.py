"""Bounded waits on conditions that no event announces (counters, lists, buffers)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(predicate: Callable[[], bool], limit: float = 20.0) -> None:
    """Wait until ``predicate()`` holds, failing with TimeoutError after ``limit`` seconds."""
    async with asyncio.timeout(limit):
        # Polls state owned by other components, which offer no event to await.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
