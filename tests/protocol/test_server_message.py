"""Parsing server messages: :func:`parse_server_message` with plain function calls."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_nb import protocol
from nexus_nb.exceptions import ProtocolError, SubscriptionError
from nexus_nb.protocol import (
    EventColumns,
    EventFrame,
    Greeting,
    Notice,
    Reply,
    parse_server_message,
)


def test_an_event_parses_to_a_frame_of_that_one_message_uncopied() -> None:
    raw = protocol.event("a", {"n": 1}, timestamp="t", seq=3)
    parsed = parse_server_message(raw)
    assert parsed == EventFrame("a", [orjson.loads(raw)])


def test_an_event_batch_parses_to_its_events_and_a_columnar_one_to_columns() -> None:
    events = [protocol.event("a", {"n": n}, timestamp="t", seq=n) for n in (1, 2)]
    rows = parse_server_message(protocol.event_batch("a", events))
    assert isinstance(rows, EventFrame)
    assert [e["seq"] for e in rows.events] == [1, 2]  # type: ignore[index]
    columns = parse_server_message(
        protocol.event_columns("a", [1, 2], ["t", "t"], [{"n": 1}, {"n": 2}])
    )
    assert columns == EventFrame("a", EventColumns("a", [1, 2], ["t", "t"], {"n": [1, 2]}))


def test_our_greeting_says_the_server_echoes_ids_and_the_references_does_not() -> None:
    ours = parse_server_message(
        protocol.connection_established("client_1", epoch="e1", extensions=["id"])
    )
    assert isinstance(ours, Greeting)
    assert (ours.client_id, ours.epoch, ours.echoes_id) == ("client_1", "e1", True)
    reference = parse_server_message(
        b'{"type": "connection_established", "client_id": "c", "timestamp": "t"}'
    )
    assert reference == Greeting(
        "c", None, False, {"type": "connection_established", "client_id": "c", "timestamp": "t"}
    )


def test_a_greeting_with_wrongly_typed_fields_counts_them_as_absent() -> None:
    hello = protocol.greeting({"type": "connection_established", "client_id": 5, "epoch": []})
    assert (hello.client_id, hello.epoch, hello.echoes_id) == (None, None, False)


def test_a_refusal_parses_to_a_reply_carrying_its_error() -> None:
    refused = parse_server_message(
        protocol.subscription_error(ProtocolError("INVALID_CHANNEL", "Invalid channels: x"), 4)
    )
    assert isinstance(refused, Reply)
    assert (refused.kind, refused.id) == ("subscription_error", 4)
    assert isinstance(refused.error, SubscriptionError)
    assert (refused.error.code, refused.error.message) == ("INVALID_CHANNEL", "Invalid channels: x")
    error = parse_server_message(b'{"type": "error", "message": "bad"}')
    assert isinstance(error, Reply)
    assert type(error.error) is ProtocolError
    assert error.error.code == "ERROR"


def test_a_confirmation_parses_to_a_reply_without_error() -> None:
    reply = parse_server_message(protocol.pong(7, timestamp="t"))
    assert reply == Reply("pong", {"type": "pong", "timestamp": "t", "id": 7}, 7, None)


def test_a_gap_and_an_unknown_type_parse_to_notices() -> None:
    gap = protocol.gap("a", missed=2, from_seq=1, to_seq=2, reason="retention")
    assert parse_server_message(gap) == Notice("gap", orjson.loads(gap))
    assert parse_server_message(b'{"type": "future", "x": 1}') == Notice(
        "future", {"type": "future", "x": 1}
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'"a string"',
        b"[]",
        b"{}",
        b'{"type": 1}',
        b'{"type": "event", "channel": 1}',
        b'{"type": "event_batch", "channel": "a"}',
        b'{"type": "event_batch", "channel": "a", "events": [{}, "x"]}',
        b'{"type": "event_batch", "channel": "a", "format": "columns", "count": 1,'
        b' "seq": ["1"], "timestamp": ["t"], "data": {}}',
    ],
)
def test_a_malformed_frame_raises_invalid_message(raw: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_server_message(raw)
    assert info.value.code == protocol.ErrorCode.INVALID_MESSAGE


@given(st.binary(max_size=300))
def test_any_bytes_parse_to_a_message_or_raise_invalid_message(raw: bytes) -> None:
    codes: list[str] = []
    try:
        parsed = parse_server_message(raw)
    except ProtocolError as exc:
        codes.append(exc.code)
    else:
        assert isinstance(parsed, Greeting | EventFrame | Reply | Notice)
    assert codes in ([], [protocol.ErrorCode.INVALID_MESSAGE])
