"""Our client against the reference Node server (``tests/system/interop/reference/server.js``).

The server runs from a temp copy whose simulated-event interval is lowered from
5000 ms to 50 ms; everything else is verbatim. It echoes no ``id``, sends no
``seq``/``epoch`` and answers every action with exactly one message, so replies
are matched in FIFO order.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import nexus_nb as nnb
from nexus_nb.client import Client, State
from nexus_nb.exceptions import AuthError, ProtocolError, SubscriptionError
from tests.helpers.keys import KEY
from tests.helpers.net import free_port
from tests.helpers.waiting import until
from tests.system.interop.nodeenv import HERE, node_env

pytestmark = pytest.mark.node

SOURCE = (HERE / "reference" / "server.js").read_text()


class Reference:
    """The reference server as a child process on a fixed port (so it can be restarted)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        fast = SOURCE.replace("\n}, 5000);", "\n}, 50);")
        assert fast.count("}, 50);") == 1, "the reference's event interval moved"
        self.script = workdir / "server.js"
        self.script.write_text(fast)
        self.log = workdir / "server.log"
        self.env = {**env, "PORT": str(self.port), "NEXUS_API_KEY": KEY}
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                "node", str(self.script), cwd=self.script.parent, env=self.env,
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        marker = f"WebSocket server running on port {self.port}"
        runs = self.log.read_text().count(marker)
        await until(lambda: self.log.read_text().count(marker) > runs or self.exited)

    @property
    def exited(self) -> bool:
        return self.proc is None or self.proc.returncode is not None

    async def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode


@pytest.fixture
async def reference(tmp_path: Path) -> AsyncIterator[Reference]:
    env = await asyncio.to_thread(node_env)
    ref = Reference(tmp_path, env)
    await ref.start()
    try:
        yield ref
    finally:
        await ref.stop()


@pytest.fixture
async def client(reference: Reference) -> AsyncIterator[Client]:
    c = await Client.connect(reference.url, api_key=KEY, backoff=(0.05, 0.2))
    try:
        yield c
    finally:
        await c.aclose()


async def test_connects_with_a_bearer_header_and_sees_no_epoch(client: Client) -> None:
    assert client.state is State.OPEN
    assert client.client_id is not None
    assert client.client_id.startswith("client_")
    assert client.epoch is None


async def test_subscribe_returns_the_confirmation_without_an_id_echo_and_events_flow(
    client: Client,
) -> None:
    events: list[dict[str, Any]] = []
    client.on("event", events.append)
    reply = await client.subscribe(["telemetry.metrics"], {"source": "server-01"})
    assert reply["type"] == "subscription_confirmed"
    assert "id" not in reply
    assert reply["filters"] == {"source": "server-01"}
    await until(lambda: len(events) >= 3)
    first = events[0]
    assert list(first) == ["type", "channel", "timestamp", "data"]
    assert first["channel"] == "telemetry.metrics"
    assert first["data"]["metric_name"] == "cpu_usage"


async def test_replies_are_matched_in_order_across_errors_and_pings(client: Client) -> None:
    with pytest.raises(SubscriptionError, match="Invalid channels: bogus"):
        await client.subscribe(["bogus"])
    assert await client.ping() > 0
    with pytest.raises(ProtocolError, match="Unknown action: publish"):
        await client.publish("tasks.updates", {"n": 1})
    results = await asyncio.gather(
        client.subscribe("tasks.updates", {"priority": "high"}),
        client.ping(),
        client.unsubscribe("tasks.updates"),
    )
    assert results[0]["type"] == "subscription_confirmed"
    assert results[0]["filters"] == {"priority": "high"}
    assert results[2]["type"] == "unsubscription_confirmed"


async def test_a_wrong_key_is_refused_with_auth_error(reference: Reference) -> None:
    with pytest.raises(AuthError, match="Invalid token"):
        await Client.connect(reference.url, api_key="wrong")


async def test_every_subscription_is_restored_after_the_reference_restarts(
    reference: Reference, client: Client
) -> None:
    events: list[dict[str, Any]] = []
    reconnected: list[dict[str, Any]] = []
    client.on("event", events.append)
    client.on("reconnected", reconnected.append)
    # The reference client would resubscribe only the last call's channels.
    await client.subscribe("telemetry.metrics", {"metric_name": "cpu_usage"})
    await client.subscribe("tasks.updates")
    await until(lambda: len(events) >= 1)
    assert await reference.stop() == 0
    await until(lambda: client.state is State.RECONNECTING)
    await reference.start()
    await until(lambda: bool(reconnected))
    assert reconnected[0]["resumed"] is False
    seen = len(events)
    await until(lambda: len(events) >= seen + 3)
    assert events[-1]["channel"] == "telemetry.metrics"
    assert client.state is State.OPEN
    assert client.stats.reconnects == 1
    assert client.subscriptions == {
        "telemetry.metrics": [{"metric_name": "cpu_usage"}],
        "tasks.updates": [None],
    }


async def test_a_stream_asking_for_columnar_batches_still_buffers_the_reference_events(
    reference: Reference,
) -> None:
    # The reference ignores the batch request and keeps sending single events.
    async with nnb.aconnect(reference.url, api_key=KEY, maxlen=1000) as stream:
        reply = await stream.subscribe("telemetry.metrics", batch=100)
        assert reply["type"] == "subscription_confirmed"
        buffer = await stream.wait_for("telemetry.metrics", rows=3, timeout=10)
        frame = buffer.to_dataframe()
        assert {"source", "metric_name", "value"} <= set(frame.columns)
        assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
        assert stream.stats.frames == stream.stats.events  # one event per frame
