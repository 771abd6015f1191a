"""The client's sans-I/O protocol object, driven with plain calls: no loop, no socket.

Each test feeds frames as a server would send them (bytes) and checks what
:class:`ClientProtocol` returns and what it sends, as websockets tests its
``Protocol`` with ``receive_data`` / ``data_to_send``.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from nexus_nb import protocol
from nexus_nb.client.protocol import Answer, ClientProtocol, Resubscription, Steps
from nexus_nb.exceptions import ProtocolError, SubscriptionError
from nexus_nb.protocol import EventColumns, EventFrame, Notice

OURS = {"type": "connection_established", "client_id": "c1", "epoch": "e1", "server": "nexus_nb"}
REFERENCE = {"type": "connection_established", "client_id": "c1", "timestamp": "t"}


def frame(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


def event(channel: str, seq: int | None, n: int = 0) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "event", "channel": channel, "timestamp": "t", "data": {}}
    message["data"]["n"] = n
    if seq is not None:
        message["seq"] = seq
    return message


def connected(hello: dict[str, Any] = OURS, **options: Any) -> ClientProtocol:
    proto = ClientProtocol(**options)
    proto.connected(hello)
    return proto


def test_subscribe_returns_the_action_bytes_carrying_a_fresh_request_id() -> None:
    proto = connected()
    first = proto.subscribe(["a"], {"k": 1}, batch=protocol.Batch(10, 0.01, columns=True))
    second = proto.ping()
    assert (first.request_id, second.request_id) == (1, 2)
    assert orjson.loads(first.data) == {
        "action": "subscribe",
        "channels": ["a"],
        "filters": {"k": 1},
        "id": 1,
        "batch": {"maxlen": 10, "interval": 0.01, "format": "columns"},
    }
    assert orjson.loads(second.data) == {"action": "ping", "id": 2}


def test_a_reply_echoing_an_id_answers_that_request_even_out_of_order() -> None:
    proto = connected()
    one, two = proto.ping().request_id, proto.ping().request_id
    answer = proto.receive_data(frame({"type": "pong", "timestamp": "t", "id": two}))
    assert isinstance(answer, Answer)
    assert (answer.request_id, answer.reply.kind, answer.reply.error) == (two, "pong", None)
    refused = proto.receive_data(frame({"type": "error", "code": "X", "message": "no", "id": one}))
    assert isinstance(refused, Answer)
    assert refused.request_id == one
    assert isinstance(refused.reply.error, ProtocolError)
    assert refused.reply.error.code == "X"


def test_a_stray_reply_from_a_server_that_echoes_ids_answers_nothing() -> None:
    proto = connected()
    proto.ping()
    stray = proto.receive_data(frame({"type": "error", "code": "RATE_LIMITED", "message": "slow"}))
    assert isinstance(stray, Answer)
    assert stray.request_id is None
    assert proto.stats.last_error == "server error RATE_LIMITED: slow"


def test_without_id_echo_each_reply_answers_the_oldest_pending_request() -> None:
    proto = connected(REFERENCE)
    one = proto.subscribe(["a"]).request_id
    two = proto.subscribe(["x"]).request_id
    confirmed = proto.receive_data(frame({"type": "subscription_confirmed", "channels": ["a"]}))
    refused = proto.receive_data(frame({"type": "subscription_error", "message": "Invalid: x"}))
    assert isinstance(confirmed, Answer)
    assert isinstance(refused, Answer)
    assert (confirmed.request_id, refused.request_id) == (one, two)
    assert isinstance(refused.reply.error, SubscriptionError)
    assert refused.reply.error.message == "Invalid: x"
    late = proto.receive_data(frame({"type": "pong", "timestamp": "t"}))
    assert isinstance(late, Answer)
    assert late.request_id is None


def test_a_reply_carrying_a_known_id_switches_a_reference_connection_to_id_matching() -> None:
    proto = connected(REFERENCE)
    one, two = proto.ping().request_id, proto.ping().request_id
    answer = proto.receive_data(frame({"type": "pong", "id": two}))
    assert isinstance(answer, Answer)
    assert answer.request_id == two
    # From now on an id-less reply is a stray, not the answer to the oldest request.
    stray = proto.receive_data(frame({"type": "pong"}))
    assert isinstance(stray, Answer)
    assert stray.request_id is None
    assert proto.receive_data(frame({"type": "pong", "id": one})) == Answer(
        one, protocol.Reply("pong", {"type": "pong", "id": one}, one, None)
    )


def test_a_gap_notice_is_not_taken_for_a_reply_to_a_pending_request() -> None:
    proto = connected(REFERENCE)
    request_id = proto.ping().request_id
    gap = {"type": "gap", "channel": "a", "missed": 3, "from_seq": 1, "to_seq": 3, "reason": "x"}
    assert proto.receive_data(frame(gap)) == Notice("gap", gap)
    assert proto.stats.gaps == 1
    answer = proto.receive_data(frame({"type": "pong"}))
    assert isinstance(answer, Answer)
    assert answer.request_id == request_id


def test_a_new_connection_forgets_the_requests_pending_on_the_last_one() -> None:
    proto = connected(REFERENCE)
    proto.ping()
    proto.disconnected()
    proto.connected(REFERENCE)
    answer = proto.receive_data(frame({"type": "pong"}))
    assert isinstance(answer, Answer)
    assert answer.request_id is None
    assert proto.ping().request_id == 1


def test_events_already_seen_are_dropped_and_counted_as_duplicates() -> None:
    proto = connected()
    delivered = proto.receive_data(frame(event("a", 1)))
    assert isinstance(delivered, EventFrame)
    assert delivered.channel == "a"
    assert [e["seq"] for e in delivered.events] == [1]  # type: ignore[index]
    assert proto.receive_data(frame(event("a", 1))) is None
    assert isinstance(proto.receive_data(frame(event("a", 2))), EventFrame)
    unnumbered = proto.receive_data(frame(event("a", None)))
    assert isinstance(unnumbered, EventFrame)
    stats = proto.stats
    assert (stats.events_received, stats.duplicates, stats.channels) == (3, 1, {"a": 3})
    assert stats.messages_received == 5  # the greeting counts too


def test_a_replayed_batch_is_cut_to_its_new_events() -> None:
    proto = connected()
    proto.receive_data(frame(event("a", 2)))
    batch = {"type": "event_batch", "channel": "a", "events": [event("a", n) for n in (1, 2, 3)]}
    delivered = proto.receive_data(frame(batch))
    assert isinstance(delivered, EventFrame)
    assert [e["seq"] for e in delivered.events] == [3]  # type: ignore[index]
    assert proto.stats.duplicates == 2


def test_an_empty_batch_is_not_handed_on_and_counts_nothing() -> None:
    proto = connected()
    assert proto.receive_data(frame({"type": "event_batch", "channel": "a", "events": []})) is None
    assert proto.receive_data(protocol.event_columns("a", [], [], [])) is None
    assert (proto.stats.events_received, proto.stats.channels) == (0, {})


def test_a_replayed_columnar_batch_loses_its_head_and_stays_columnar() -> None:
    proto = connected()
    first = protocol.event_columns("a", [1, 2], ["t", "t"], [{"n": 1}, {"n": 2}])
    again = protocol.event_columns("a", [2, 3], ["t", "t"], [{"n": 2}, {"n": 3}])
    assert isinstance(proto.receive_data(first), EventFrame)
    delivered = proto.receive_data(again)
    assert isinstance(delivered, EventFrame)
    assert isinstance(delivered.events, EventColumns)
    assert (delivered.events.seq, delivered.events.data) == ([3], {"n": [3]})
    assert proto.receive_data(again) is None
    assert proto.stats.duplicates == 3


def test_malformed_frames_are_counted_and_skipped_without_raising() -> None:
    proto = connected()
    frames = [
        b"not json",
        b"[1, 2]",
        b'{"no": "type"}',
        b'{"type": "event"}',
        b'{"type": "event_batch", "channel": "a", "events": [{}, 3]}',
        b'{"type": "event_batch", "channel": "a", "format": "columns", "count": 2,'
        b' "seq": [1, 2], "timestamp": ["t"], "data": {}}',
    ]
    assert [proto.receive_data(raw) for raw in frames] == [None] * len(frames)
    assert proto.stats.malformed == len(frames)
    assert proto.stats.last_error is not None
    assert proto.stats.last_error.startswith("malformed message from the server")


def test_reconnecting_to_a_new_epoch_forgets_seqs_and_says_the_epoch_changed() -> None:
    proto = connected()
    proto.receive_data(frame(event("a", 5)))
    assert proto.connected(OURS) is False
    assert proto.receive_data(frame(event("a", 5))) is None
    assert proto.connected({**OURS, "epoch": "e2"}) is True
    assert proto.epoch == "e2"
    assert isinstance(proto.receive_data(frame(event("a", 1))), EventFrame)


def test_restore_plan_resumes_each_subscription_from_the_last_seq_seen() -> None:
    proto = connected()
    proto.subscribed(["a", "b"], None, None)
    proto.subscribed(["c"], {"k": 1}, protocol.Batch(5, 0.01))
    proto.receive_data(frame(event("a", 4)))
    proto.receive_data(frame(event("c", 9)))
    proto.disconnected()
    epoch_changed = proto.connected(OURS)
    plan = proto.restore_plan(epoch_changed)
    assert plan == [
        Resubscription(["a", "b"], {}, None, ("e1", {"a": 4})),
        Resubscription(["c"], {"k": 1}, protocol.Batch(5, 0.01), ("e1", {"c": 9})),
    ]
    sent = orjson.loads(proto.resubscribe(plan[0]).data)
    assert sent["resume"] == {"epoch": "e1", "seq": {"a": 4}}


def test_restore_plan_subscribes_live_when_nothing_can_or_may_be_resumed() -> None:
    never_seen = connected()
    never_seen.subscribed(["a"], None, None)
    assert never_seen.restore_plan(False) == [Resubscription(["a"], {}, None, None)]

    restarted = connected()
    restarted.subscribed(["a"], None, None)
    restarted.receive_data(frame(event("a", 4)))
    assert restarted.restore_plan(epoch_changed=True)[0].resume is None

    opted_out = connected(resume=False)
    opted_out.subscribed(["a"], None, None)
    opted_out.receive_data(frame(event("a", 4)))
    assert opted_out.restore_plan(False)[0].resume is None

    no_epoch = connected(REFERENCE)
    no_epoch.subscribed(["a"], None, None)
    no_epoch.receive_data(frame(event("a", 4)))
    assert no_epoch.restore_plan(False)[0].resume is None


def test_an_unsubscribed_channel_is_not_restored() -> None:
    proto = connected()
    proto.subscribed(["a", "b"], None, None)
    proto.unsubscribed(["a"])
    assert [p.channels for p in proto.restore_plan(False)] == [["b"]]


def test_a_subscription_is_recorded_as_its_confirming_reply_is_read() -> None:
    proto = connected()
    sub = proto.subscribe(["a", "b"], {"k": 1})
    assert proto.subscriptions == {}
    proto.receive_data(frame({"type": "subscription_confirmed", "id": sub.request_id}))
    assert proto.subscriptions == {"a": [{"k": 1}], "b": [{"k": 1}]}
    unsub = proto.unsubscribe(["a"])
    proto.receive_data(frame({"type": "unsubscription_confirmed", "id": unsub.request_id}))
    assert proto.subscriptions == {"b": [{"k": 1}]}


def test_a_refused_or_unanswered_subscription_is_not_recorded() -> None:
    proto = connected()
    refused = proto.subscribe(["a"])
    error = {"type": "subscription_error", "code": "INVALID_CHANNEL", "message": "no", "id": 1}
    assert refused.request_id == 1
    proto.receive_data(frame(error))
    proto.subscribe(["b"])
    proto.disconnected()
    proto.connected(OURS)
    proto.receive_data(frame({"type": "subscription_confirmed", "id": 2}))
    assert proto.subscriptions == {}


def test_a_resubscription_confirmed_is_not_recorded_twice() -> None:
    proto = connected()
    proto.subscribed(["a"], None, None)
    plan = proto.restore_plan(False)
    again = proto.resubscribe(plan[0])
    proto.unsubscribed(["a"])  # the user unsubscribed while the restore was on its way
    proto.receive_data(frame({"type": "subscription_confirmed", "id": again.request_id}))
    assert proto.subscriptions == {}


def test_a_refused_resume_falls_back_to_a_live_subscribe_and_nothing_else_does() -> None:
    plan = Resubscription(["a"], {}, None, ("e1", {"a": 4}))
    refused = ProtocolError(protocol.ErrorCode.INVALID_RESUME, "seq too old")
    assert ClientProtocol.fallback(plan, refused) == Resubscription(["a"], {}, None, None)
    other = SubscriptionError(protocol.ErrorCode.INVALID_CHANNEL, "Invalid channels: a")
    assert ClientProtocol.fallback(plan, other) is None
    live = Resubscription(["a"], {}, None, None)
    assert ClientProtocol.fallback(live, refused) is None


def test_a_second_greeting_on_one_connection_is_handed_on_and_resets_nothing() -> None:
    proto = connected()
    proto.receive_data(frame(event("a", 3)))
    notice = proto.receive_data(frame({**OURS, "epoch": "other"}))
    assert isinstance(notice, Notice)
    assert notice.kind == "connection_established"
    assert proto.epoch == "e1"
    assert proto.receive_data(frame(event("a", 3))) is None


@given(st.binary(max_size=200))
def test_receive_data_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    proto = connected()
    before = proto.stats.messages_received
    proto.receive_data(raw)
    assert proto.stats.messages_received == before + 1


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
message_types = st.sampled_from(
    ["event", "event_batch", "pong", "error", "subscription_error", "gap", "connection_established"]
)


@given(
    message_types,
    st.dictionaries(
        st.sampled_from(["channel", "events", "seq", "id", "format", "count", "data"]), json_values
    ),
)
def test_receive_data_never_raises_on_mangled_messages_of_known_types(
    kind: str, fields: dict[str, Any]
) -> None:
    proto = connected(REFERENCE)
    proto.ping()
    received = proto.receive_data(frame({"type": kind, **fields}))
    assert received is None or isinstance(received, EventFrame | Answer | Notice)


# -- recovery of overflow gaps ------------------------------------------------------------

RECOVERING = {**OURS, "extensions": ["id", "seq", "gap", "recover"]}


def gap(channel: str, first: int, last: int, missed: int) -> dict[str, Any]:
    return {
        "type": "gap",
        "channel": channel,
        "missed": missed,
        "from_seq": first,
        "to_seq": last,
        "reason": "overflow",
    }


def recovering(**options: Any) -> ClientProtocol:
    """A protocol connected to a server that recovers, subscribed to ``a``, at seq 2."""
    proto = connected(RECOVERING, **options)
    proto.subscribed(["a"], None, None)
    for seq in (1, 2):
        assert isinstance(proto.receive_data(frame(event("a", seq))), EventFrame)
    return proto


def seqs(items: Any) -> list[int]:
    """The seqs of the event frames among ``items``, in order."""
    return [e["seq"] for item in items if isinstance(item, EventFrame) for e in item.events]


def asked(steps: Any) -> dict[str, Any]:
    assert isinstance(steps, Steps)
    assert steps.send is not None
    action: dict[str, Any] = orjson.loads(steps.send.data)
    return action


def test_an_overflow_gap_asks_for_its_range_and_holds_live_events_until_it_came_back() -> None:
    proto = recovering()
    action = asked(proto.receive_data(frame(gap("a", 3, 5, 3))))
    assert action == {"action": "recover", "channel": "a", "from_seq": 3, "to_seq": 5, "id": 1}
    # Live events after the hole wait; the hole's own events pass at once.
    assert proto.receive_data(frame(event("a", 6))) is None
    assert proto.receive_data(frame(event("a", 7))) is None
    back = [proto.receive_data(frame(event("a", seq))) for seq in (3, 4, 5)]
    assert seqs(back) == [3, 4, 5]
    reply = {"type": "recovered", "channel": "a", "from_seq": 3, "to_seq": 5, "count": 3, "id": 1}
    steps = proto.receive_data(frame(reply))
    assert isinstance(steps, Steps)
    assert steps.send is None
    assert [n.kind for n in steps.items if isinstance(n, Notice)] == ["recovered"]  # no gap
    assert seqs(steps.items) == [6, 7]
    assert isinstance(proto.receive_data(frame(event("a", 8))), EventFrame)
    assert (proto.stats.recovered, proto.stats.events_received) == (3, 8)


def test_what_retention_no_longer_held_is_handed_on_as_a_gap_of_exactly_that_many() -> None:
    proto = recovering()
    asked(proto.receive_data(frame(gap("a", 3, 10, 8))))
    assert proto.receive_data(frame(event("a", 11))) is None
    for seq in (9, 10):  # 3..8 were evicted
        proto.receive_data(frame(event("a", seq)))
    reply = {"type": "recovered", "channel": "a", "from_seq": 3, "to_seq": 10, "count": 2, "id": 1}
    steps = proto.receive_data(frame(reply))
    assert isinstance(steps, Steps)
    gaps = [n.message for n in steps.items if isinstance(n, Notice) and n.kind == "gap"]
    assert [(g["missed"], g["recovered"], g["from_seq"], g["to_seq"]) for g in gaps] == [
        (6, 2, 3, 10)
    ]
    assert seqs(steps.items) == [11]


def test_a_range_larger_than_one_answer_is_asked_for_again_from_where_it_stopped() -> None:
    proto = recovering()
    asked(proto.receive_data(frame(gap("a", 3, 6, 4))))
    proto.receive_data(frame(event("a", 3)))
    proto.receive_data(frame(event("a", 4)))
    reply = {"type": "recovered", "channel": "a", "from_seq": 3, "to_seq": 4, "count": 2, "id": 1}
    again = asked(proto.receive_data(frame(reply)))
    assert (again["from_seq"], again["to_seq"], again["id"]) == (5, 6, 2)
    assert proto.receive_data(frame(event("a", 7))) is None  # still held
    for seq in (5, 6):
        assert seqs([proto.receive_data(frame(event("a", seq)))]) == [seq]
    reply = {"type": "recovered", "channel": "a", "from_seq": 5, "to_seq": 6, "count": 2, "id": 2}
    steps = proto.receive_data(frame(reply))
    assert isinstance(steps, Steps)
    assert seqs(steps.items) == [7]
    assert proto.stats.recovered == 4


def test_a_second_hole_during_a_recovery_is_recovered_next_and_order_is_kept() -> None:
    proto = recovering()
    asked(proto.receive_data(frame(gap("a", 3, 4, 2))))
    proto.receive_data(frame(event("a", 5)))  # held: between the holes
    assert proto.receive_data(frame(gap("a", 6, 7, 2))) == Steps()  # queued, not handed on
    proto.receive_data(frame(event("a", 8)))  # held: after both
    got = seqs([proto.receive_data(frame(event("a", s))) for s in (3, 4)])
    first = {"type": "recovered", "channel": "a", "from_seq": 3, "to_seq": 4, "count": 2, "id": 1}
    steps = proto.receive_data(frame(first))
    assert asked(steps)["from_seq"] == 6
    got += seqs(steps.items)
    got += seqs([proto.receive_data(frame(event("a", s))) for s in (6, 7)])
    second = {"type": "recovered", "channel": "a", "from_seq": 6, "to_seq": 7, "count": 2, "id": 2}
    steps = proto.receive_data(frame(second))
    assert isinstance(steps, Steps)
    got += seqs(steps.items)
    assert got == [3, 4, 5, 6, 7, 8]


def test_too_many_held_events_or_a_lost_connection_release_them_and_report_the_holes() -> None:
    proto = recovering(max_hold=2)
    asked(proto.receive_data(frame(gap("a", 3, 5, 3))))
    assert proto.receive_data(frame(event("a", 6))) is None
    assert proto.receive_data(frame(event("a", 7))) is None
    steps = proto.receive_data(frame(event("a", 8)))
    assert isinstance(steps, Steps)
    assert [n.message["missed"] for n in steps.items if isinstance(n, Notice)] == [3]
    assert seqs(steps.items) == [6, 7, 8]

    proto = recovering()
    asked(proto.receive_data(frame(gap("a", 3, 5, 3))))
    proto.receive_data(frame(event("a", 3)))
    proto.receive_data(frame(event("a", 6)))
    released = proto.disconnected()
    assert released is not None
    assert [n.message["missed"] for n in released.items if isinstance(n, Notice)] == [2]
    assert seqs(released.items) == [6]
    assert proto.disconnected() is None


def test_an_overflow_gap_read_right_after_the_subscribe_reply_is_recovered() -> None:
    # The reply, the events and the gap come in one read, before whoever awaits the
    # subscribe resumes: the subscription must already be known when the gap is read.
    proto = connected(RECOVERING)
    sub = proto.subscribe(["a"])
    proto.receive_data(frame({"type": "subscription_confirmed", "id": sub.request_id}))
    proto.receive_data(frame(event("a", 1)))
    action = asked(proto.receive_data(frame(gap("a", 2, 9, 8))))
    assert (action["action"], action["from_seq"], action["to_seq"]) == ("recover", 2, 9)


def test_gaps_pass_unchanged_when_recovery_is_off_unannounced_or_not_an_overflow() -> None:
    overflow = frame(gap("a", 3, 5, 3))
    off = connected(RECOVERING, recover=False)
    off.subscribed(["a"], None, None)
    unannounced = connected(OURS)
    unannounced.subscribed(["a"], None, None)
    retention = recovering()
    for proto, raw in (
        (off, overflow),
        (unannounced, overflow),
        (retention, frame({**gap("a", 3, 5, 3), "reason": "retention"})),
    ):
        notice = proto.receive_data(raw)
        assert isinstance(notice, Notice)
        assert notice.kind == "gap"
