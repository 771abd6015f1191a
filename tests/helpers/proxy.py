"""A loopback TCP proxy the tests can cut and freeze, to break connections for real."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class Proxy:
    """A TCP relay on 127.0.0.1 to ``target_port`` that can drop or black-hole connections."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.refusing = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pairs: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        pair: dict[str, Any] = {"frozen": False, "writers": (writer, up_writer)}
        self._pairs.append(pair)
        tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, pair)),
            asyncio.create_task(self._pipe(up_reader, writer, pair)),
        ]
        self._tasks.update(tasks)
        for task in tasks:
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair: dict[str, Any]
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if not pair["frozen"]:
                    writer.write(data)
                    await writer.drain()
        writer.transport.abort()

    def cut(self) -> None:
        """Abort every relayed connection and refuse new ones until :meth:`restore`."""
        self.refusing = True
        for pair in self._pairs:
            for writer in pair["writers"]:
                writer.transport.abort()
        self._pairs.clear()

    def restore(self) -> None:
        self.refusing = False

    def freeze(self) -> None:
        """Silently drop all traffic on the current connections (a dead peer)."""
        for pair in self._pairs:
            pair["frozen"] = True

    async def close(self) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
