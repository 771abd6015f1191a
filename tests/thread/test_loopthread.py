"""A LoopThread runs coroutines for other threads, plain or awaited, and stops cleanly."""

from __future__ import annotations

import asyncio
import threading

import pytest

from nexus_nb.thread import LoopThread


async def where() -> int:
    await asyncio.sleep(0)
    return threading.get_ident()


async def fail() -> None:
    raise ValueError("from the loop thread")


def test_a_plain_call_blocks_until_the_work_ran_on_the_thread_and_returns_its_result() -> None:
    thread = LoopThread("test")
    try:
        ident = thread.call(where())
        assert ident == thread.ident != threading.get_ident()
        assert thread.call_sync(threading.get_ident) == thread.ident
        with pytest.raises(ValueError, match="from the loop thread"):
            thread.call(fail())
    finally:
        thread.shutdown()
    assert thread.stopped
    with pytest.raises(RuntimeError, match="stopped"):
        thread.call(where())


async def test_an_awaited_run_comes_back_to_the_callers_loop_and_stop_joins_the_thread() -> None:
    thread = LoopThread("test")
    try:
        assert await thread.run(where()) == thread.ident
    finally:
        await thread.stop()
    assert thread.stopped
    await thread.stop()  # again: nothing left to stop


def test_a_thread_refuses_to_block_on_work_for_its_own_loop() -> None:
    thread = LoopThread("test")

    async def nested() -> None:
        thread.call(where())

    try:
        with pytest.raises(RuntimeError, match="its own loop"):
            thread.call(nested())
    finally:
        thread.shutdown()


def test_work_still_running_at_shutdown_is_cancelled() -> None:
    thread = LoopThread("test")
    started = threading.Event()
    cancelled = threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    future = asyncio.run_coroutine_threadsafe(forever(), thread.loop)
    assert started.wait(5)
    thread.shutdown()
    assert cancelled.is_set()
    assert future.cancelled()
