"""Sequence numbers, retention and resume: the log alone and through a live server."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from nexus_nb import protocol
from nexus_nb.server import MemoryEventLog, Missed, Server, aserve
from tests.helpers.keys import HEADERS, KEY
from tests.helpers.net import recv

TS = "2025-01-01T00:00:00.000Z"


def test_append_numbers_each_channel_from_one() -> None:
    log = MemoryEventLog(["a", "b"])
    seqs = [log.append(c, {}, TS).seq for c in ["a", "a", "b", "a"]]
    assert seqs == [1, 2, 1, 3]
    assert log.last_seq("a") == 3


def test_since_returns_entries_after_seq_and_reports_evicted_ones() -> None:
    log = MemoryEventLog(["a"], retention=3)
    for n in range(1, 8):
        log.append("a", {"n": n}, TS)
    entries, missed = log.since("a", 2)
    assert [e.seq for e in entries] == [5, 6, 7]
    assert missed == Missed(2, 3, 4)
    assert log.since("a", 5)[0][0].seq == 6
    assert log.since("a", 5)[1] is None
    assert log.since("a", 7) == ([], None)
    assert log.evicted == 4


def test_unserialisable_payload_leaves_no_hole_in_seq() -> None:
    log = MemoryEventLog(["a"])
    with pytest.raises(TypeError):
        log.append("a", {"x": object()}, TS)
    assert log.append("a", {}, TS).seq == 1


def test_retention_seconds_evicts_old_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("nexus_nb.server.eventlog.time.monotonic", lambda: now[0])
    log = MemoryEventLog(["a"], retention_seconds=5)
    log.append("a", {}, TS)
    now[0] = 110.0
    log.append("a", {}, TS)
    entries, missed = log.since("a", 0)
    assert [e.seq for e in entries] == [2]
    assert missed == Missed(1, 1, 1)


def test_retention_bytes_evicts_the_oldest_while_a_channel_holds_more_and_counts_them() -> None:
    size = len(MemoryEventLog(["a"]).append("a", {"pad": "x" * 100}, TS).payload)
    log = MemoryEventLog(["a", "b"], retention_bytes=3 * size + size // 2)
    for _ in range(10):
        log.append("a", {"pad": "x" * 100}, TS)
    other = log.append("b", {"pad": "x" * 100}, TS)
    entries, missed = log.since("a", 0)
    assert [e.seq for e in entries] == [8, 9, 10]
    assert missed == Missed(7, 1, 7)
    held = sum(len(e.payload) for e in [*entries, other])
    assert log.metrics() == {"evicted": 7, "retained_bytes": held}
    with pytest.raises(ValueError, match="retention_bytes"):
        MemoryEventLog(["a"], retention_bytes=0)


async def resume(
    srv: Server, channel: str, epoch: str, seq: int, filters: Any = None
) -> ClientConnection:
    ws = await connect(srv.url, additional_headers=HEADERS)
    assert (await recv(ws))["type"] == "connection_established"
    await ws.send(protocol.subscribe([channel], filters, resume=(epoch, {channel: seq})).decode())
    assert (await recv(ws))["type"] == "subscription_confirmed"
    return ws


async def test_resume_with_publishes_racing_gets_every_match_once_in_order() -> None:
    total = 3000
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        for n in range(1, 501):
            srv.publish("tasks.updates", {"n": n, "even": n % 2 == 0})
        done = asyncio.Event()

        async def publisher() -> None:
            for n in range(501, total + 1):
                srv.publish("tasks.updates", {"n": n, "even": n % 2 == 0})
                if n % 7 == 0:
                    await asyncio.sleep(0)
            done.set()

        task = asyncio.create_task(publisher())
        try:
            ws = await resume(srv, "tasks.updates", srv.epoch, 200, {"even": True})
            seqs: list[int] = []
            while not seqs or seqs[-1] < total:
                event = await recv(ws)
                assert event["data"]["even"] is True
                seqs.append(event["seq"])
            await done.wait()
            await ws.close()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert seqs == list(range(202, total + 1, 2))


async def test_resume_after_eviction_starts_with_a_retention_gap() -> None:
    async with aserve(api_key=KEY, demo=False, ping_interval=None, retention=10) as srv:
        for n in range(1, 26):
            srv.publish("system.alerts", {"n": n})
        async with await resume(srv, "system.alerts", srv.epoch, 5) as ws:
            gap = await recv(ws)
            seqs = [(await recv(ws))["seq"] for _ in range(10)]
    assert gap == {
        "type": "gap",
        "channel": "system.alerts",
        "missed": 10,
        "from_seq": 6,
        "to_seq": 15,
        "reason": "retention",
    }
    assert seqs == list(range(16, 26))


async def test_resume_with_another_epoch_replays_nothing() -> None:
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        for n in range(1, 4):
            srv.publish("system.alerts", {"n": n})
        async with await resume(srv, "system.alerts", "old-epoch", 1) as ws:
            seq = srv.publish("system.alerts", {"n": 4})
            event = await recv(ws)
    assert event["seq"] == seq == 4
