"""The fan-out index delivers exactly what a naive per-client filter loop would."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import MagicMock

from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_nb.protocol import Filter
from nexus_nb.server.eventlog import MemoryEventLog
from nexus_nb.server.fanout import Fanout
from nexus_nb.server.frame import text_frame
from nexus_nb.server.metrics import Counters
from nexus_nb.server.peer import Peer, TokenBucket

CHANNELS = ("a", "b")
values = st.one_of(st.sampled_from(["x", "y", "z"]), st.integers(0, 2), st.booleans(), st.none())
filters = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["k", "m"]),
        st.one_of(values, st.lists(values, max_size=3)),
        max_size=2,
    ),
)
payloads = st.dictionaries(st.sampled_from(["k", "m", "n"]), values, max_size=3)
subscriptions = st.lists(st.tuples(st.sampled_from(CHANNELS), filters), max_size=4)


def make_peer(fanout: Fanout, counters: Counters, index: int) -> Peer:
    return Peer(
        MagicMock(),
        MagicMock(),
        f"client_{index}",
        max_queue_bytes=fanout.max_queue_bytes,
        bucket=TokenBucket(1.0, 1.0),
        counters=counters,
        on_dirty=fanout.mark_dirty,
        on_overflow=fanout.watch,
    )


@settings(max_examples=150, deadline=None)
@given(
    clients=st.lists(subscriptions, min_size=1, max_size=5),
    events=st.lists(st.tuples(st.sampled_from(CHANNELS), payloads), max_size=12),
    unsubscribe=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(CHANNELS)), max_size=2),
)
def test_index_delivers_the_same_events_as_a_naive_matches_loop(
    clients: list[list[tuple[str, Any]]],
    events: list[tuple[str, dict[str, Any]]],
    unsubscribe: list[tuple[int, str]],
) -> None:
    async def scenario() -> None:
        counters = Counters.for_channels(CHANNELS)
        fanout = Fanout(counters, max_queue_bytes=2**30, slow_timeout=10, on_slow=lambda peer: None)
        log = MemoryEventLog(CHANNELS)
        peers = [make_peer(fanout, counters, i) for i in range(len(clients))]
        naive: list[list[tuple[str, Filter]]] = []
        for peer, subs in zip(peers, clients, strict=True):
            fanout.add(peer)
            compiled = [(channel, Filter.compile(raw)) for channel, raw in subs]
            for channel, filter_ in compiled:
                fanout.subscribe(peer, channel, filter_, None)
            naive.append(compiled)
        for index, channel in unsubscribe:
            if index < len(peers):
                fanout.unsubscribe(peers[index], channel)
                naive[index] = [(c, f) for c, f in naive[index] if c != channel]
        expected: list[list[bytes]] = [[] for _ in peers]
        for channel, data in events:
            entry = log.append(channel, data, "2025-01-01T00:00:00.000Z")
            fanout.deliver(entry)
            for i, subs in enumerate(naive):
                if any(c == channel and f.matches(data) for c, f in subs):
                    expected[i].append(text_frame(entry.payload))
        got = [list(peer.outbox) for peer in peers]
        fanout.close()
        assert got == expected

    asyncio.run(scenario())
