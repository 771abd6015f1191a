"""Client fault handling through a loopback TCP proxy that the test can cut or freeze."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from nexus_nb.client import Client, State
from nexus_nb.server import Server
from tests.helpers.keys import KEY
from tests.helpers.proxy import Proxy
from tests.helpers.waiting import until


async def test_resume_after_a_cut_loses_nothing_and_duplicates_nothing(
    server: Server, proxy: Proxy
) -> None:
    client = await Client.connect(proxy.url, api_key=KEY, backoff=(0.02, 0.1))
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
    await client.aclose()


async def test_a_silent_peer_is_detected_by_the_heartbeat_and_replaced(
    server: Server, proxy: Proxy
) -> None:
    client = await Client.connect(proxy.url, api_key=KEY, backoff=(0.02, 0.1), heartbeat=0.3)
    seen: list[int] = []
    client.on("event", lambda m: seen.append(m["data"]["n"]))
    await client.subscribe("tasks.updates")
    proxy.freeze()
    await until(lambda: client.stats.reconnects == 1 and client.state is State.OPEN)
    assert client.stats.last_error is not None
    server.publish("tasks.updates", {"n": 7})
    await until(lambda: seen == [7])
    await client.aclose()
