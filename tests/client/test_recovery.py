"""A client on its caller's loop, blocked by busy code, gets back what the server skipped.

(A stream reads on a thread of its own and never blocks like this; an asyncio
application using :class:`~nexus_nb.client.Client` directly can.)

The server runs in another process (``tests.helpers.publisher``) at 5,000
events/s. While the client's loop is blocked nothing reads the socket, the
server's per-client bound overflows and it skips events; once the loop runs
again the server reports the skipped range in a ``gap``, the client asks for
it back (``recover``) and the server sends what its retention still holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

import nexus_nb as nnb
from nexus_nb.capture import Recorder
from nexus_nb.client import Client
from nexus_nb.session.feed import Feed
from tests.helpers.keys import KEY
from tests.helpers.publisher import CHANNEL, busy, publishing
from tests.helpers.waiting import until


@asynccontextmanager
async def loop_client(url: str, maxlen: int = 100_000) -> AsyncIterator[tuple[Client, Feed]]:
    """A client reading on this loop, storing frames and gaps as a stream's feed does."""
    feed = Feed(maxlen=maxlen, window=None)
    async with Client(url, api_key=KEY) as client:
        client.add_column_sink(lambda channel, events: feed.deliver(channel, events, 0))
        client.on("gap", feed.on_gap)
        yield client, feed


async def test_an_8_s_busy_cell_skipped_by_the_server_ends_with_every_event_once_in_order(
    tmp_path: Path,
) -> None:
    async with publishing(retention=50_000) as publisher:
        path = tmp_path / "busy.parquet"
        recorder = Recorder(path)
        async with loop_client(publisher.url) as (client, feed):
            client.add_column_sink(lambda channel, events: recorder.write_many(events))
            await client.subscribe(CHANNEL)
            buf = feed.buffer(CHANNEL)
            await publisher.start(40_000, 5_000)
            busy(8.0)
            await publisher.done()
            await until(lambda: len(buf) >= 40_000, limit=60)
            recorder.close()
            stats = client.stats
            assert stats.gaps >= 1  # the server did skip events for this client
            assert stats.recovered > 0
            np.testing.assert_array_equal(buf.to_dataframe()["n"].to_numpy(), np.arange(1, 40_001))
            assert buf.gaps.empty
            recorded = nnb.read_capture(path)["n"].to_numpy()
            np.testing.assert_array_equal(recorded, np.arange(1, 40_001))


@pytest.mark.slow
async def test_a_30_s_busy_cell_within_raised_retention_loses_nothing_either() -> None:
    # 150,000 events skipped and sent back 5,000 per answer; the server keeps the
    # client that long over its bound (slow_timeout) instead of closing it.
    async with (
        publishing(retention=200_000, slow_timeout=60) as publisher,
        loop_client(publisher.url, maxlen=200_000) as (client, feed),
    ):
        await client.subscribe(CHANNEL)
        buf = feed.buffer(CHANNEL)
        await publisher.start(150_000, 5_000)
        busy(30.0)
        await publisher.done(limit=90)
        await until(lambda: len(buf) >= 150_000, limit=90)
        n = buf.to_dataframe()["n"].to_numpy()
        np.testing.assert_array_equal(n, np.arange(1, 150_001))
        assert buf.gaps.empty
        assert client.stats.recovered > 0


async def test_a_block_longer_than_retention_holds_leaves_one_gap_of_exactly_the_lost_events() -> (
    None
):
    async with (
        publishing(retention=5_000) as publisher,
        loop_client(publisher.url) as (client, feed),
    ):
        await client.subscribe(CHANNEL)
        buf = feed.buffer(CHANNEL)
        await publisher.start(40_000, 5_000)
        busy(8.0)
        await publisher.done()
        await until(lambda: len(buf) + int(buf.gaps["missed"].sum()) >= 40_000, limit=60)
        n = buf.to_dataframe()["n"].to_numpy()
        assert (np.diff(n) > 0).all()  # in order, none twice
        assert len(buf.gaps) == 1
        assert int(buf.gaps["missed"].iloc[0]) == 40_000 - len(n)
        assert 0 < len(n) < 40_000
