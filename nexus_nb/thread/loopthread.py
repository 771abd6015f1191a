"""An event loop on a thread of its own: a reader or a demo server off the kernel's loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread", "block_on"]

T = TypeVar("T")


class LoopThread:
    """A daemon thread running an event loop until :meth:`stop` (or :meth:`shutdown`).

    It starts on construction. Work reaches it from other threads as
    coroutines: :meth:`run` from a coroutine on another loop, :meth:`call` from
    plain code, which blocks until the work is done. It is a daemon thread, so
    an owner never closed does not keep the interpreter alive.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def ident(self) -> int | None:
        """The thread's identifier (``threading.get_ident()`` on it)."""
        return self._thread.ident

    @property
    def stopped(self) -> bool:
        """Whether the loop has ended."""
        return self._done.done()

    def is_current(self) -> bool:
        """Whether the caller runs on this thread."""
        return threading.get_ident() == self._thread.ident

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                tasks = asyncio.all_tasks(self.loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()
                self._done.set_result(None)

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on this loop; its result (or error) comes back to the caller's loop.

        Cancelling the caller cancels ``work``.
        """
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        return await asyncio.wrap_future(future)

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on this loop and block until it is done; return its result.

        An interrupt (a notebook's stop button) cancels ``work`` and is raised.

        Raises:
            RuntimeError: Called on this thread itself (it would wait for itself),
                or the loop has stopped.
        """
        if self.is_current():
            work.close()
            raise RuntimeError("a LoopThread cannot block on work for its own loop")
        if self.stopped:
            work.close()
            raise RuntimeError("this LoopThread has stopped")
        return block_on(work, self.loop)

    def call_sync(self, fn: Callable[[], T]) -> T:
        """Run the plain function ``fn`` on this loop, block until it returns, return its result."""
        if self.is_current():
            return fn()

        async def on_loop() -> T:
            return fn()

        return self.call(on_loop())

    async def stop(self) -> None:
        """Stop the loop (cancelling what still runs on it), close it and join the thread."""
        if not self._done.done():
            self.loop.call_soon_threadsafe(self.loop.stop)
            await asyncio.wrap_future(self._done)
        self._thread.join()

    def shutdown(self) -> None:
        """:meth:`stop`, from plain code: block until the thread has ended."""
        if not self._done.done():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()


def block_on(work: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop) -> T:
    """Run ``work`` on ``loop`` (another thread's, running) and block until it is done.

    The one blocking hand-off: an interrupt (a notebook's stop button) cancels
    ``work`` on its loop and is raised here.
    """
    future = asyncio.run_coroutine_threadsafe(work, loop)
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        raise
