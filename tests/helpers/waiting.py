"""Bounded waits on conditions that no event announces (counters, lists, buffers, pages)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def until(predicate: Callable[[], bool], limit: float = 20.0, step: float = 0.005) -> None:
    """Wait on the loop until ``predicate()`` holds, polling every ``step`` seconds.

    Raises:
        TimeoutError: ``predicate()`` still fails after ``limit`` seconds.
    """
    async with asyncio.timeout(limit):
        # Polls state owned by other components, which offer no event to await.
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(step)


def poll(pred: Callable[[], T], timeout: float, step: float = 0.25) -> T | None:
    """Block until ``pred()`` returns something truthy and return it, or None after ``timeout`` s.

    For code with no loop of its own to wait on (a browser page, a child process).
    """
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= end:
            return None
        time.sleep(step)
