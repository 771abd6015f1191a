"""The shared-log seam: a log that assigns seq asynchronously and delivers events back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from nexus_nb import protocol
from nexus_nb.exceptions import TransportError
from nexus_nb.server import Entry, MemoryEventLog, Missed, aserve
from tests.helpers.keys import HEADERS, KEY
from tests.helpers.net import recv
from tests.helpers.waiting import until


class FakeSharedLog:
    """A shared EventLog double: stores in a MemoryEventLog one loop step later, then delivers."""

    def __init__(self) -> None:
        self._log = MemoryEventLog(protocol.CHANNELS, epoch="shared-epoch")
        self._deliver: Callable[[Entry], object] = lambda entry: None
        self.on_epoch: Callable[[str], object] = lambda epoch: None
        self.failing = False
        self.closed = False

    @property
    def epoch(self) -> str:
        return self._log.epoch

    async def start(
        self,
        deliver: Callable[[Entry], object],
        on_epoch: Callable[[str], object],
        on_gap: Callable[[str, Missed], object],
    ) -> None:
        self._deliver, self.on_epoch = deliver, on_epoch

    def submit(
        self, channel: str, events: Sequence[Mapping[str, Any]], timestamp: str
    ) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def store() -> None:
            if self.failing:
                future.set_exception(TransportError("redis is away"))
                return
            entries = [self._log.append(channel, data, timestamp) for data in events]
            for entry in entries:
                self._deliver(entry)
            future.set_result(entries[-1].seq)

        asyncio.get_running_loop().call_soon(store)
        return future

    def submit_nowait(
        self,
        channel: str,
        events: Sequence[Mapping[str, Any]],
        timestamp: str,
        on_error: Callable[[BaseException], object],
    ) -> int:
        def report(future: asyncio.Future[int]) -> None:
            if (exc := future.exception()) is not None:
                on_error(exc)

        self.submit(channel, events, timestamp).add_done_callback(report)
        return 0

    def since(self, channel: str, seq: int) -> tuple[list[Entry], Missed | None]:
        return self._log.since(channel, seq)

    def last_seq(self, channel: str) -> int:
        return self._log.last_seq(channel)

    def metrics(self) -> dict[str, Any]:
        return {"state": "fake"}

    def health(self) -> tuple[bool, dict[str, Any]]:
        return not self.failing, {"log": "failing" if self.failing else "fake"}

    async def aclose(self) -> None:
        self.closed = True


async def client(url: str) -> ClientConnection:
    ws = await connect(url, additional_headers=HEADERS)
    assert (await recv(ws))["type"] == "connection_established"
    await ws.send(protocol.subscribe(["system.alerts"]).decode())
    assert (await recv(ws))["type"] == "subscription_confirmed"
    return ws


async def test_shared_log_publishes_come_back_through_deliver_with_its_seq() -> None:
    log = FakeSharedLog()
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None, log=log)
    async with srv, await client(srv.url) as ws:
        assert srv.epoch == "shared-epoch"
        assert srv.publish("system.alerts", {"n": 1}) == 0
        first = await recv(ws)
        seq = await srv.submit("system.alerts", [{"n": 2}, {"n": 3}])
        later = [await recv(ws) for _ in range(2)]
        assert srv.metrics()["log"] == {"state": "fake"}
    assert (first["seq"], first["data"]) == (1, {"n": 1})
    assert seq == 3
    assert [m["seq"] for m in later] == [2, 3]
    assert log.closed


async def test_publish_action_on_a_shared_log_acks_after_storing() -> None:
    log = FakeSharedLog()
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None, log=log)
    async with srv, await client(srv.url) as ws:
        await ws.send(protocol.publish("system.alerts", [{"n": 1}], request_id=5).decode())
        messages = [await recv(ws) for _ in range(2)]
        log.failing = True
        await ws.send(protocol.publish("system.alerts", [{"n": 2}], request_id=6).decode())
        refused = await recv(ws)
    by_type = {m["type"]: m for m in messages}
    assert by_type["publish_ack"] == {
        "type": "publish_ack", "channel": "system.alerts", "count": 1, "seq": 1, "id": 5,
    }  # fmt: skip
    assert by_type["event"]["seq"] == 1
    assert refused["code"] == "UNAVAILABLE"
    assert refused["id"] == 6
    assert srv.metrics()["publishFailures"] == 1


async def test_a_failed_write_of_a_publish_call_is_counted() -> None:
    log = FakeSharedLog()
    async with aserve(api_key=KEY, demo=False, ping_interval=None, log=log) as srv:
        log.failing = True
        assert srv.publish("system.alerts", {"n": 1}) == 0
        await until(lambda: srv.metrics()["publishFailures"] == 1)
        assert srv.health() == (False, {"status": "degraded", "log": "failing"})


async def test_an_epoch_change_closes_clients_with_1012() -> None:
    log = FakeSharedLog()
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None, log=log)
    async with srv, await client(srv.url) as ws:
        log.on_epoch("new-epoch")
        with pytest.raises(ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 1012
