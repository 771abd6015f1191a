"""The Redis Streams event log alone, against a real redis-server started by the tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from subprocess import PIPE

import orjson
import pytest
import redis.asyncio as aioredis

from nexus_nb import protocol
from nexus_nb.exceptions import TransportError
from nexus_nb.server import Entry, Missed
from nexus_nb.server.redis_log import PUBLISH_SCRIPT, LinkState, RedisEventLog
from tests.helpers.proxy import Proxy
from tests.helpers.redis import RedisProcess

pytestmark = pytest.mark.redis

TS = "2025-01-01T00:00:00.000Z"
CHANNELS = ("a", "b")


class Sink:
    """Collects what a log delivers and the epochs it announces."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.epochs: list[str] = []
        self.gaps: list[tuple[str, Missed]] = []
        self.changed = asyncio.Event()

    def deliver(self, entry: Entry) -> None:
        self.entries.append(entry)
        self.changed.set()

    def on_epoch(self, epoch: str) -> None:
        self.epochs.append(epoch)
        self.changed.set()

    def on_gap(self, channel: str, missed: Missed) -> None:
        self.gaps.append((channel, missed))
        self.changed.set()

    async def wait(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def started(url: str, **kwargs: object) -> AsyncIterator[tuple[RedisEventLog, Sink]]:
    log = RedisEventLog(url, CHANNELS, **kwargs)  # type: ignore[arg-type]
    sink = Sink()
    await log.start(sink.deliver, sink.on_epoch, sink.on_gap)
    try:
        yield log, sink
    finally:
        await log.aclose()


async def test_submitted_events_come_back_numbered_with_the_server_encoding(
    redis_server: RedisProcess,
) -> None:
    async with started(redis_server.url) as (log, sink):
        seqs = [await log.submit("a", [{"n": n}], TS) for n in range(3)]
        assert await log.submit("b", [{"n": 0}, {"n": 1}], TS) == 2
        await sink.wait(lambda: len(sink.entries) == 5)
    assert seqs == [1, 2, 3]
    a = [e for e in sink.entries if e.channel == "a"]
    assert [e.seq for e in a] == [1, 2, 3]
    assert a[1].payload == protocol.event("a", {"n": 1}, timestamp=TS, seq=2)
    assert a[1].data == {"n": 1}
    assert log.last_seq("b") == 2


async def test_two_logs_share_one_sequence_and_see_each_others_events(
    redis_server: RedisProcess,
) -> None:
    async with started(redis_server.url) as (one, sink1), started(redis_server.url) as (two, sink2):
        assert one.epoch == two.epoch
        futures = [log.submit("a", [{"from": i}], TS) for i, log in enumerate([one, two] * 5)]
        seqs = sorted(await asyncio.gather(*futures))
        assert seqs == list(range(1, 11))
        await sink1.wait(lambda: len(sink1.entries) == 10)
        await sink2.wait(lambda: len(sink2.entries) == 10)
    assert [e.payload for e in sink1.entries] == [e.payload for e in sink2.entries]


async def test_a_producer_in_another_language_publishes_with_the_documented_script(
    redis_server: RedisProcess,
) -> None:
    async with started(redis_server.url) as (_, sink):
        argv = ["redis-cli", "-p", str(redis_server.port), "EVAL", PUBLISH_SCRIPT, "3"]
        keys = ["nexus:epoch", "nexus:seq:a", "nexus:stream:a"]
        args = ["", "10000", TS, '{"status": "ok"}', TS, '{"status": "late"}']
        cli = await asyncio.create_subprocess_exec(*argv, *keys, *args, stdout=PIPE)
        async with asyncio.timeout(10):
            out, _ = await cli.communicate()
        assert out.strip() == b"2"
        await sink.wait(lambda: len(sink.entries) == 2)
    assert orjson.loads(sink.entries[1].payload) == {
        "type": "event",
        "channel": "a",
        "timestamp": TS,
        "data": {"status": "late"},
        "seq": 2,
    }


async def test_a_new_log_prefills_its_mirror_and_reports_what_retention_dropped(
    redis_server: RedisProcess,
) -> None:
    async with started(redis_server.url, retention=5) as (log, sink):
        await log.submit("a", [{"n": n} for n in range(1, 21)], TS)
        await sink.wait(lambda: len(sink.entries) == 20)
    async with started(redis_server.url, retention=5) as (late, _):
        entries, missed = late.since("a", 3)
        assert [e.seq for e in entries] == [16, 17, 18, 19, 20]
        assert missed == Missed(12, 4, 15)
        assert late.since("a", 18)[0][0].data == {"n": 19}
        assert late.since("a", 20) == ([], None)
        assert late.since("b", 0) == ([], None)


async def test_an_entry_whose_data_is_not_an_object_is_skipped_and_counted(
    redis_server: RedisProcess,
) -> None:
    async with started(redis_server.url) as (log, sink):
        raw = aioredis.Redis.from_url(redis_server.url)
        keys = ["nexus:epoch", "nexus:seq:a", "nexus:stream:a"]
        await raw.eval(PUBLISH_SCRIPT, 3, *keys, "", 100, TS, "[1, 2]")  # type: ignore[misc]
        await raw.aclose()
        await log.submit("a", [{"ok": True}], TS)
        await sink.wait(lambda: len(sink.entries) == 1)
        assert log.metrics()["malformed"] == 1
    assert sink.entries[0].seq == 2
    assert sink.entries[0].data == {"ok": True}


async def test_publishes_past_max_pending_are_refused_and_counted(
    redis_server: RedisProcess,
) -> None:
    async with started(redis_server.url, max_pending=3) as (log, _):
        redis_server.stop()
        await wait_state(log, LinkState.DISCONNECTED)
        waiting = log.submit("a", [{"n": 1}, {"n": 2}, {"n": 3}], TS)
        with pytest.raises(TransportError, match="queue full"):
            log.submit("a", [{"n": 4}], TS)
        assert log.metrics()["rejected"] == 1
        assert log.metrics()["pending"] == 3
        redis_server.start()
        assert await asyncio.wait_for(waiting, 10) == 3
        assert log.healthy


async def test_unserialisable_event_is_refused_before_it_is_queued(
    redis_server: RedisProcess,
) -> None:
    async with started(redis_server.url) as (log, _):
        with pytest.raises(TypeError):
            log.submit("a", [{"x": object()}], TS)
        assert log.metrics()["pending"] == 0
        assert await log.submit("a", [{}], TS) == 1


async def test_redis_restarted_without_its_data_starts_a_new_epoch_and_says_so(
    redis_server: RedisProcess,
) -> None:
    async with started(redis_server.url) as (log, sink):
        first = log.epoch
        await log.submit("a", [{"n": 1}, {"n": 2}], TS)
        await sink.wait(lambda: len(sink.entries) == 2)
        redis_server.restart()
        await sink.wait(lambda: len(sink.epochs) == 1)
        assert sink.epochs == [log.epoch]
        assert log.epoch != first
        assert log.last_seq("a") == 0
        assert await log.submit("a", [{"n": 3}], TS) == 1
        assert log.metrics()["epochChanges"] == 1
        assert log.metrics()["reconnects"] >= 1


async def test_redis_restarted_with_its_data_keeps_the_epoch_and_loses_nothing() -> None:
    with RedisProcess(appendonly=True) as redis_server:
        async with (
            started(redis_server.url) as (log, sink),
            started(redis_server.url) as (other, _),
        ):
            epoch = log.epoch
            await log.submit("a", [{"n": 1}], TS)
            redis_server.restart()
            await wait_reconnected(log)
            await wait_reconnected(other)
            # Publishes queued while Redis was away, and others' events, all arrive.
            pending = log.submit("a", [{"n": 2}], TS)
            assert await asyncio.wait_for(other.submit("a", [{"n": 3}], TS), 10) >= 2
            await asyncio.wait_for(pending, 10)
            await sink.wait(lambda: len(sink.entries) == 3)
            assert log.epoch == epoch
            assert sink.epochs == []
            assert [e.seq for e in sink.entries] == [1, 2, 3]


async def test_unreachable_redis_at_start_raises_transport_error() -> None:
    with RedisProcess() as redis_server:
        url = redis_server.url
    log = RedisEventLog(url, CHANNELS, timeout=1.0)
    with pytest.raises(TransportError, match="cannot reach Redis"):
        await log.start(lambda entry: None, lambda epoch: None, lambda channel, missed: None)


async def test_close_fails_queued_publishes_with_transport_error(
    redis_server: RedisProcess,
) -> None:
    async with started(redis_server.url) as (log, _):
        redis_server.stop()
        await wait_state(log, LinkState.DISCONNECTED)
        waiting = log.submit("a", [{}], TS)
    with pytest.raises(TransportError):
        await waiting
    with pytest.raises(TransportError, match="closed"):
        log.submit("a", [{}], TS)


async def wait_state(log: RedisEventLog, state: LinkState) -> None:
    """Poll the link state, failing after 10 s."""
    async with asyncio.timeout(10):
        while log.state is not state:  # noqa: ASYNC110 - the link state exposes no event
            await asyncio.sleep(0.01)


async def wait_reconnected(log: RedisEventLog) -> None:
    """Poll until the log noticed a lost connection and is connected again (10 s at most)."""
    async with asyncio.timeout(10):
        while not (log.counts["reconnects"] and log.state is LinkState.CONNECTED):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_failing_deliver_callback_stops_the_link_and_is_surfaced(
    redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    def deliver(entry: Entry) -> None:
        raise RuntimeError("boom")

    log = RedisEventLog(redis_server.url, CHANNELS)
    await log.start(deliver, lambda epoch: None, lambda channel, missed: None)
    try:
        # Its own outcome is unknown: the failure interrupts the write too.
        await asyncio.wait([log.submit("a", [{}], TS)])
        await wait_state(log, LinkState.FAILED)
        assert isinstance(log.error, RuntimeError)
        assert "redis link failed" in caplog.text
        with pytest.raises(TransportError, match="failed"):
            log.submit("a", [{}], TS)
    finally:
        await log.aclose()


async def test_entries_trimmed_while_a_reader_was_cut_off_are_reported_as_a_gap(
    redis_server: RedisProcess,
) -> None:
    relay = Proxy(redis_server.port)
    await relay.start()
    try:
        async with (
            started(redis_server.url, retention=20) as (writer, _),
            started(f"redis://127.0.0.1:{relay.port}", retention=20) as (reader, sink),
        ):
            await writer.submit("a", [{"n": n} for n in range(1, 6)], TS)
            await sink.wait(lambda: len(sink.entries) == 5)
            relay.cut()
            await wait_state(reader, LinkState.DISCONNECTED)
            # MAXLEN ~ trims whole stream nodes (100 entries): 500 is enough to trim.
            for start in range(6, 506, 50):
                await writer.submit("a", [{"n": n} for n in range(start, start + 50)], TS)
            relay.restore()
            await sink.wait(lambda: bool(sink.entries) and sink.entries[-1].seq == 505)
    finally:
        await relay.close()
    assert len(sink.gaps) == 1
    channel, missed = sink.gaps[0]
    after = [entry.seq for entry in sink.entries[5:]]
    assert channel == "a"
    assert (missed.from_seq, missed.to_seq, missed.count) == (6, after[0] - 1, after[0] - 6)
    assert after == list(range(after[0], 506))
    assert reader.metrics()["skipped"] == missed.count
