"""What ``serve()`` hands a notebook: the server, closed once the notebook lets go of it.

A running server is referenced by its own event loop (the handler of every
connection, its tasks), so the :class:`~nexus_nb.server.Server` object itself
never becomes garbage while it serves. ``serve()`` therefore returns a
:class:`ServerHandle`, which the server's thread never references: re-running
``server = nnb.serve()`` drops the previous handle, and its finalizer closes
that server and ends its thread (``weakref.finalize``, also run at exit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import weakref
from collections.abc import Generator
from types import TracebackType
from typing import Any, NoReturn

from nexus_nb.server.server import Server
from nexus_nb.thread import LoopThread

__all__ = ["ServerHandle"]

#: Seconds a finalizer waits for an abandoned server to close (it never waits on that thread).
CLOSE_WAIT = 2.0


class ServerHandle:
    """A :class:`~nexus_nb.server.Server` started by ``serve()``: every attribute is the server's.

    ``server.url``, ``server.publish(...)``, ``server.close()``... act on the
    server (through its own thread, see :mod:`nexus_nb.server.owner`). Use
    :attr:`server` for the object itself.
    """

    __slots__ = ("__weakref__", "_finalizer", "server")

    def __init__(self, server: Server, host: LoopThread) -> None:
        self.server = server
        self._finalizer = weakref.finalize(self, _abandon, server, host)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)

    def __dir__(self) -> list[str]:
        return sorted({*dir(self.server), "server"})

    def close(self) -> None:
        """Close the server and end its thread; block until done (see :meth:`Server.close`)."""
        self.server.close()
        self._finalizer.detach()

    async def aclose(self) -> None:
        """Close the server and end its thread (see :meth:`Server.aclose`)."""
        await self.server.aclose()
        self._finalizer.detach()

    async def __aenter__(self) -> ServerHandle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __await__(self) -> Generator[Any, None, NoReturn]:
        raise TypeError(
            "nnb.serve() returns a running server: drop the await "
            "(or use `await nnb.aserve(...)` to run it on your own event loop)"
        )

    def __repr__(self) -> str:
        return repr(self.server)


def _abandon(server: Server, host: LoopThread) -> None:
    """Close ``server`` on its thread, then stop the thread; wait a little unless on it."""

    async def close_and_stop() -> None:
        try:
            await server.aclose()
        finally:
            asyncio.get_running_loop().stop()

    with contextlib.suppress(RuntimeError):  # the loop already ended: nothing to stop
        done = asyncio.run_coroutine_threadsafe(close_and_stop(), host.loop)
        if not host.is_current():
            concurrent.futures.wait([done], timeout=CLOSE_WAIT)
