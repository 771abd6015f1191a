"""A client on the kernel's loop, blocked by a busy cell, gets back what the server skipped.

The server runs in another process (``tests.helpers.publisher``) at 5,000
events/s. While the client's loop is blocked nothing reads the socket, the
server's per-client bound overflows and it skips events; once the loop runs
again the server reports the skipped range in a ``gap``, the client asks for
it back (``recover``) and the server sends what its retention still holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nexus_nb as nnb
from tests.helpers.keys import KEY
from tests.helpers.publisher import CHANNEL, busy, publishing
from tests.helpers.waiting import until


async def test_an_8_s_busy_cell_skipped_by_the_server_ends_with_every_event_once_in_order(
    tmp_path: Path,
) -> None:
    async with publishing(retention=50_000) as publisher:
        stream = await nnb.connect(publisher.url, api_key=KEY)  # reads on this loop
        path = tmp_path / "busy.parquet"
        try:
            recording = stream.record(path)
            await stream.subscribe(CHANNEL)
            buf = stream[CHANNEL]
            await publisher.start(40_000, 5_000)
            busy(8.0)
            await publisher.done()
            await until(lambda: len(buf) >= 40_000, limit=60)
            recording.close()
            stats = stream.client.stats
            assert stats.gaps >= 1  # the server did skip events for this client
            assert stats.recovered > 0
            np.testing.assert_array_equal(buf.to_dataframe()["n"].to_numpy(), np.arange(1, 40_001))
            assert buf.gaps.empty
            recorded = nnb.read_capture(path)["n"].to_numpy()
            np.testing.assert_array_equal(recorded, np.arange(1, 40_001))
        finally:
            await stream.aclose()


@pytest.mark.slow
async def test_a_30_s_busy_cell_within_raised_retention_loses_nothing_either() -> None:
    # 150,000 events skipped and sent back 5,000 per answer; the server keeps the
    # client that long over its bound (slow_timeout) instead of closing it.
    async with publishing(retention=200_000, slow_timeout=60) as publisher:
        stream = await nnb.connect(publisher.url, api_key=KEY, maxlen=200_000)
        try:
            await stream.subscribe(CHANNEL)
            buf = stream[CHANNEL]
            await publisher.start(150_000, 5_000)
            busy(30.0)
            await publisher.done(limit=90)
            await until(lambda: len(buf) >= 150_000, limit=90)
            n = buf.to_dataframe()["n"].to_numpy()
            np.testing.assert_array_equal(n, np.arange(1, 150_001))
            assert buf.gaps.empty
            assert stream.client.stats.recovered > 0
        finally:
            await stream.aclose()


async def test_a_block_longer_than_retention_holds_leaves_one_gap_of_exactly_the_lost_events() -> (
    None
):
    async with publishing(retention=5_000) as publisher:
        stream = await nnb.connect(publisher.url, api_key=KEY)
        try:
            await stream.subscribe(CHANNEL)
            buf = stream[CHANNEL]
            await publisher.start(40_000, 5_000)
            busy(8.0)
            await publisher.done()
            await until(lambda: len(buf) + int(buf.gaps["missed"].sum()) >= 40_000, limit=60)
            n = buf.to_dataframe()["n"].to_numpy()
            assert (np.diff(n) > 0).all()  # in order, none twice
            assert len(buf.gaps) == 1
            assert int(buf.gaps["missed"].iloc[0]) == 40_000 - len(n)
            assert 0 < len(n) < 40_000
        finally:
            await stream.aclose()
