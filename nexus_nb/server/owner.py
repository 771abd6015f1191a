"""The thread and event loop a server belongs to, and the one way other threads reach them.

Every server has one owner: the loop it was started on and that loop's thread
(a :class:`~nexus_nb.thread.LoopThread` of its own for ``serve()``, the
caller's for ``await aserve()``). Its peers, log, counters and tasks are only
touched there. A call made on the owner thread acts at once; a call from any
other thread is handed to the owner loop (``loop.call_soon_threadsafe`` or
``asyncio.run_coroutine_threadsafe``), and a plain caller blocks on the result
while an async caller awaits it on its own loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from nexus_nb.thread import LoopThread, block_on

__all__ = ["Owner"]

P = ParamSpec("P")
T = TypeVar("T")


class Owner:
    """The loop and thread that own a server; made on that loop, by the server.

    Attributes:
        loop: The owner event loop.
        thread: The owner thread's identifier.
        host: The :class:`LoopThread` that ``serve()`` started for the server (its
            close stops it too), or ``None`` for a server on its caller's loop.
    """

    __slots__ = ("host", "loop", "thread")

    def __init__(self, host: LoopThread | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.host = host

    def here(self) -> bool:
        """Whether the caller runs on the owner thread."""
        return threading.get_ident() == self.thread

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on the owner thread; block until it returns, return its result.

        On the owner thread it runs at once, as it does once the owner loop has
        ended (nothing else touches the state then). From another thread it
        waits for the owner loop to get to it: a loop busy with a long callback
        (a notebook cell, for a server on the kernel's loop) delays the answer.
        An interrupt stops the wait, not ``fn``.
        """
        if self.here() or not self.loop.is_running():
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def on_owner() -> None:
            if not future.set_running_or_notify_cancel():
                return  # the caller stopped waiting
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed back to the caller, raised there
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(on_owner)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def block(self, work: Coroutine[Any, Any, T], instead: str) -> T:
        """Run ``work`` on the owner loop for a plain caller on another thread; block until done.

        An interrupt (a notebook's stop button) cancels ``work`` and is raised.

        Raises:
            RuntimeError: Called on the owner thread, whose loop cannot run
                ``work`` while the caller blocks it (the message says to call
                ``instead``), or the owner loop has ended.
        """
        if self.here():
            work.close()
            raise RuntimeError(
                "this server belongs to this thread's event loop, which a plain call would "
                f"block for ever: {instead}"
            )
        if not self.loop.is_running():
            work.close()
            raise RuntimeError("the server's event loop is not running")
        return block_on(work, self.loop)

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work`` on the owner loop, from a coroutine on any loop.

        On the owner loop it is awaited directly; from another loop it is handed
        over and its result (or error) comes back. Cancelling the caller cancels
        ``work``.

        Raises:
            RuntimeError: The owner loop has ended.
        """
        if asyncio.get_running_loop() is self.loop:
            return await work
        if not self.loop.is_running():
            work.close()
            raise RuntimeError("the server's event loop is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))
