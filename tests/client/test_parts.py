"""The client's small parts: backoff, sequence tracking, queues, callbacks, credentials.

Reply matching is tested through the protocol object, in test_client_protocol.py.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_nb import protocol
from nexus_nb.client.backoff import Backoff
from nexus_nb.client.credential import api_key_from_env, auth_url, handshake_target
from nexus_nb.client.listeners import Listeners
from nexus_nb.client.queue import EventStream
from nexus_nb.client.registry import Registry
from nexus_nb.client.sequence import SeqTracker
from nexus_nb.exceptions import TransportError
from nexus_nb.protocol import EventColumns


@given(st.floats(0.001, 5), st.floats(1, 100), st.integers(0, 200))
def test_backoff_delays_stay_within_the_exponential_ceiling_and_the_cap(
    initial: float, factor: float, attempts: int
) -> None:
    cap = initial * factor
    backoff = Backoff(initial, cap, rng=random.Random(attempts))
    for n in range(attempts):
        delay = backoff.next_delay()
        assert 0 <= delay <= min(cap, initial * 2**n)


def test_backoff_reset_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(1.0, 64.0, rng=random.Random(1))
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_backoff_rejects_a_cap_below_the_initial_delay() -> None:
    with pytest.raises(ValueError, match="initial <= cap"):
        Backoff(2.0, 1.0)


def test_seq_tracker_drops_seen_seqs_and_passes_events_without_seq() -> None:
    tracker = SeqTracker()
    tracker.start_epoch("e1")
    assert tracker.accept("a", {"seq": 1})
    assert tracker.accept("a", {"seq": 3})
    assert not tracker.accept("a", {"seq": 3})
    assert not tracker.accept("a", {"seq": 2})
    assert tracker.accept("b", {"seq": 1})
    assert tracker.accept("a", {})
    assert tracker.resume_point(["a", "b", "c"]) == {"a": 3, "b": 1}


def test_seq_tracker_forgets_everything_when_the_epoch_changes() -> None:
    tracker = SeqTracker()
    assert tracker.start_epoch("e1") is False
    tracker.accept("a", {"seq": 10})
    assert tracker.start_epoch("e1") is False
    assert not tracker.accept("a", {"seq": 5})
    assert tracker.start_epoch("e2") is True
    assert tracker.accept("a", {"seq": 1})


async def test_event_stream_drops_the_oldest_beyond_maxlen_and_ends_after_draining() -> None:
    drops: list[int] = []
    stream = EventStream(3, drops.append)
    stream.put([{"n": n} for n in range(5)])
    stream.end()
    assert [m["n"] async for m in stream] == [2, 3, 4]
    assert drops == [2]
    assert stream.dropped == 2


async def test_event_stream_raises_the_closing_error_after_its_events() -> None:
    stream = EventStream(10, lambda n: None)
    stream.put([{"n": 1}])
    stream.end(TransportError("lost"))
    assert (await anext(stream))["n"] == 1
    with pytest.raises(TransportError, match="lost"):
        await anext(stream)


async def test_event_stream_wakes_a_waiting_consumer() -> None:
    stream = EventStream(10, lambda n: None)
    waiter = asyncio.create_task(anext(stream))
    await asyncio.sleep(0)
    stream.put([{"n": 9}])
    assert (await waiter)["n"] == 9


def test_a_coroutine_handler_is_refused_and_counted_without_a_warning() -> None:
    listeners = Listeners()

    async def handler(message: dict[str, Any]) -> None:
        return None

    listeners.on("event", handler)
    listeners.emit("event", {"type": "event"})
    assert listeners.errors == 1
    assert listeners.last_error is not None
    assert "synchronous" in listeners.last_error


def test_a_failing_sink_does_not_stop_the_next_sink() -> None:
    listeners = Listeners()
    got: list[str] = []

    def broken(channel: str, events: list[dict[str, Any]]) -> None:
        raise ValueError(channel)

    listeners.add_sink(broken)
    listeners.add_sink(lambda channel, events: got.append(channel))
    listeners.emit_events("a", [{}])
    assert got == ["a"]
    assert listeners.errors == 1


def test_api_key_from_env_takes_the_given_key_else_nexus_api_key_else_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NEXUS_API_KEY", raising=False)
    assert api_key_from_env(None) is None
    monkeypatch.setenv("NEXUS_API_KEY", "from-env")
    assert api_key_from_env(None) == "from-env"
    assert api_key_from_env("given") == "given"


def test_a_key_goes_in_the_authorization_header_or_the_query_never_both() -> None:
    assert handshake_target("ws://h/", "k", token_in_query=False, headers={"X": "1"}) == (
        "ws://h/",
        {"X": "1", "Authorization": "Bearer k"},
    )
    assert handshake_target("ws://h/", "k", token_in_query=True, headers=None) == (
        "ws://h/?token=k",
        {},
    )
    assert handshake_target("ws://h/", None, token_in_query=True, headers=None) == ("ws://h/", {})


def test_auth_url_appends_the_token_to_any_existing_query() -> None:
    assert auth_url("ws://h:1/stream", "k y") == "ws://h:1/stream?token=k+y"
    assert auth_url("ws://h:1/?a=1", "k") == "ws://h:1/?a=1&token=k"


def test_seq_tracker_takes_a_new_batch_whole_and_filters_a_replayed_one() -> None:
    tracker = SeqTracker()
    tracker.start_epoch("e1")
    fresh = [{"seq": n} for n in (1, 2, 3)]
    assert tracker.accept_batch("a", fresh) is fresh
    overlapping = [{"seq": n} for n in (2, 3, 4, 5)]
    assert tracker.accept_batch("a", overlapping) == [{"seq": 4}, {"seq": 5}]
    assert tracker.accept_batch("a", [{"seq": 5}]) == []
    unnumbered = [{"n": 1}, {"n": 2}]
    assert tracker.accept_batch("a", unnumbered) is unnumbered


def test_seq_tracker_cuts_the_replayed_head_off_a_columnar_batch() -> None:
    tracker = SeqTracker()
    tracker.start_epoch("e1")
    fresh = EventColumns("a", [1, 2], ["t", "t"], {"n": [1, 2]})
    assert tracker.accept_columns(fresh) is fresh
    overlapping = EventColumns("a", [2, 3], ["t", "t"], {"n": [2, 3]})
    rest = tracker.accept_columns(overlapping)
    assert (rest.seq, rest.data) == ([3], {"n": [3]})
    assert len(tracker.accept_columns(overlapping)) == 0
    assert tracker.resume_point(["a"]) == {"a": 3}


def test_registry_replans_a_columnar_batch_as_columnar() -> None:
    registry = Registry()
    registry.add(["a"], None, protocol.Batch(50, 0.01, columns=True))
    registry.add(["b"], None, protocol.Batch(50, 0.01))
    registry.add(["c"], {"k": 1}, None)
    assert registry.plan() == [
        (["a"], {}, protocol.Batch(50, 0.01, columns=True)),
        (["b"], {}, protocol.Batch(50, 0.01)),
        (["c"], {"k": 1}, None),
    ]


def test_listeners_give_column_sinks_the_columns_and_others_rebuilt_messages() -> None:
    listeners = Listeners()
    got: dict[str, Any] = {}
    listeners.add_column_sink(lambda channel, events: got.setdefault("columns", events))
    listeners.add_sink(lambda channel, events: got.setdefault("messages", events))
    handled: list[dict[str, Any]] = []
    listeners.on("event", handled.append)
    columns = EventColumns("a", [1], ["t"], {"n": [1], "gone": [None]})
    rebuilt = listeners.emit_events("a", columns)
    assert got["columns"] is columns
    expected = [{"type": "event", "channel": "a", "timestamp": "t", "data": {"n": 1}, "seq": 1}]
    assert got["messages"] == rebuilt == handled == expected
