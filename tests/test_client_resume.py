"""Client fault handling through a loopback TCP proxy that the test can cut or freeze."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from waiting import until

from nexus_nb.client import State, connect
from nexus_nb.server import Server

KEY = "test-key"


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


@pytest.fixture
async def proxy(server: Server) -> AsyncIterator[Proxy]:
    relay = Proxy(server.port)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


async def test_resume_after_a_cut_loses_nothing_and_duplicates_nothing(
    server: Server, proxy: Proxy
) -> None:
    client = await connect(proxy.url, api_key=KEY, backoff=(0.02, 0.1))
    seqs: list[int] = []
    values: list[int] = []
    reconnected: list[dict[str, Any]] = []
    client.add_sink(lambda channel, events: seqs.extend(e["seq"] for e in events))
    client.on("event", lambda m: values.append(m["data"]["n"]) if m["data"]["odd"] else None)
    client.on("reconnected", reconnected.append)
    await client.subscribe("telemetry.metrics")
    await client.subscribe("telemetry.metrics", {"odd": True})
    total = 300
    published = 0

    async def publish_steadily() -> None:
        nonlocal published
        for n in range(total):
            server.publish("telemetry.metrics", {"n": n, "odd": n % 2 == 1})
            published += 1
            await asyncio.sleep(0.002)

    publisher = asyncio.create_task(publish_steadily())
    try:
        await until(lambda: len(seqs) >= 50)
        proxy.cut()
        await until(lambda: client.state is State.RECONNECTING)
        # Let events pile up on the server while the client is away.
        mark = published
        await until(lambda: published >= mark + 40)
        assert len(seqs) < published
        proxy.restore()
        await publisher
    finally:
        publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publisher
    await until(lambda: len(seqs) == total)
    assert seqs == list(range(1, total + 1))
    assert values == list(range(1, total, 2))
    assert reconnected[0]["resumed"] is True
    assert reconnected[0]["epoch_changed"] is False
    assert client.stats.reconnects == 1
    await client.close()


async def test_a_silent_peer_is_detected_by_the_heartbeat_and_replaced(
    server: Server, proxy: Proxy
) -> None:
    client = await connect(proxy.url, api_key=KEY, backoff=(0.02, 0.1), heartbeat=0.3)
    seen: list[int] = []
    client.on("event", lambda m: seen.append(m["data"]["n"]))
    await client.subscribe("tasks.updates")
    proxy.freeze()
    await until(lambda: client.stats.reconnects == 1 and client.state is State.OPEN)
    assert client.stats.last_error is not None
    server.publish("tasks.updates", {"n": 7})
    await until(lambda: seen == [7])
    await client.close()
