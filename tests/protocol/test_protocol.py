"""The protocol core: message shapes byte for byte, validation codes, filter semantics."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_nb import protocol
from nexus_nb.exceptions import ProtocolError
from nexus_nb.protocol import CHANNELS, ErrorCode, Filter, Limits, parse_request


def js_stringify(value: Any) -> bytes:
    """What ``JSON.stringify`` produces for plain JSON values: compact, insertion order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def error_code(raw: str | bytes, **kwargs: Any) -> str:
    with pytest.raises(ProtocolError) as info:
        parse_request(raw, **kwargs)
    return info.value.code


# -- shapes ------------------------------------------------------------------------------


def test_event_message_is_the_reference_envelope_byte_for_byte_plus_seq() -> None:
    data = {"event_type": "system.metric", "source": "server-01", "value": 45.2}
    ts = "2025-11-03T01:54:00.000Z"
    reference = {"type": "event", "channel": "telemetry.metrics", "timestamp": ts, "data": data}
    assert protocol.event("telemetry.metrics", data, timestamp=ts) == js_stringify(reference)
    with_seq = protocol.event("telemetry.metrics", data, timestamp=ts, seq=7)
    assert with_seq == js_stringify({**reference, "seq": 7})


def test_subscription_confirmed_omits_absent_filters_as_json_stringify_does() -> None:
    without = orjson.loads(protocol.subscription_confirmed(["tasks.updates"], None, "sub_1"))
    assert list(without) == ["type", "channels", "subscription_id"]
    with_filters = protocol.subscription_confirmed(["tasks.updates"], {"priority": ["high"]}, "s")
    assert with_filters == js_stringify(
        {
            "type": "subscription_confirmed",
            "channels": ["tasks.updates"],
            "filters": {"priority": ["high"]},
            "subscription_id": "s",
        }
    )


def test_reference_shaped_server_messages_keep_the_reference_key_order() -> None:
    assert list(orjson.loads(protocol.pong())) == ["type", "timestamp"]
    assert list(orjson.loads(protocol.error("INVALID_CHANNEL", "x"))) == ["type", "message", "code"]
    assert list(orjson.loads(protocol.unsubscription_confirmed(["a"]))) == ["type", "channels"]
    established = orjson.loads(protocol.connection_established("client_1", epoch="e1"))
    assert list(established)[:3] == ["type", "client_id", "timestamp"]
    assert established["epoch"] == "e1"


def test_request_id_is_echoed_only_when_the_client_sent_one() -> None:
    assert "id" not in orjson.loads(protocol.pong())
    assert orjson.loads(protocol.pong("r1"))["id"] == "r1"


def test_isotime_formats_like_javascript_to_iso_string() -> None:
    assert protocol.isotime(0) == "1970-01-01T00:00:00.000Z"
    assert protocol.isotime(1762134840.5) == "2025-11-03T01:54:00.500Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", protocol.isotime())


def test_event_batch_joins_encoded_events_into_one_valid_frame() -> None:
    events = [protocol.event("ai.requests", {"n": i}, timestamp="t", seq=i) for i in (1, 2)]
    frame = orjson.loads(protocol.event_batch("ai.requests", events))
    assert frame["type"] == "event_batch"
    assert [e["seq"] for e in frame["events"]] == [1, 2]
    assert all(e["type"] == "event" for e in frame["events"])


def test_client_actions_match_the_reference_clients() -> None:
    assert protocol.subscribe(["tasks.updates"]) == js_stringify(
        {"action": "subscribe", "channels": ["tasks.updates"], "filters": {}}
    )
    assert protocol.unsubscribe(["a"]) == b'{"action":"unsubscribe","channels":["a"]}'
    assert protocol.ping() == b'{"action":"ping"}'


# -- parsing and error codes -------------------------------------------------------------


def test_the_reference_subscribe_example_parses() -> None:
    raw = (
        '{"action":"subscribe","channels":["telemetry.metrics","tasks.updates"],'
        '"filters":{"priority":["high","critical"],"source":"agent_001"}}'
    )
    request = parse_request(raw)
    assert isinstance(request, protocol.Subscribe)
    assert request.channels == ("telemetry.metrics", "tasks.updates")
    assert request.filter.source == {"priority": ["high", "critical"], "source": "agent_001"}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", ErrorCode.INVALID_MESSAGE),
        (b'{"action":"ping"}', ErrorCode.INVALID_MESSAGE),
        ("[1,2]", ErrorCode.INVALID_MESSAGE),
        ('"ping"', ErrorCode.INVALID_MESSAGE),
        ("{}", ErrorCode.MISSING_ACTION),
        ('{"action":7}', ErrorCode.MISSING_ACTION),
        ('{"action":"dance"}', ErrorCode.UNKNOWN_ACTION),
        ('{"action":"subscribe"}', ErrorCode.INVALID_FIELD),
        ('{"action":"subscribe","channels":"tasks.updates"}', ErrorCode.INVALID_FIELD),
        ('{"action":"subscribe","channels":[]}', ErrorCode.INVALID_FIELD),
        ('{"action":"subscribe","channels":[1]}', ErrorCode.INVALID_FIELD),
        ('{"action":"subscribe","channels":["nope"]}', ErrorCode.INVALID_CHANNEL),
        ('{"action":"subscribe","channels":["' + "x" * 5000 + '"]}', ErrorCode.INVALID_CHANNEL),
        (
            '{"action":"subscribe","channels":["tasks.updates"],"filters":[1]}',
            ErrorCode.INVALID_FILTER,
        ),
        (
            '{"action":"subscribe","channels":["tasks.updates"],"filters":{"a":{"b":1}}}',
            ErrorCode.INVALID_FILTER,
        ),
        (
            '{"action":"subscribe","channels":["tasks.updates"],"resume":{"epoch":1}}',
            ErrorCode.INVALID_RESUME,
        ),
        (
            '{"action":"subscribe","channels":["tasks.updates"],"batch":{"maxlen":0}}',
            ErrorCode.INVALID_FIELD,
        ),
        ('{"action":"unsubscribe","channels":null}', ErrorCode.INVALID_FIELD),
        ('{"action":"publish","channel":"tasks.updates"}', ErrorCode.INVALID_FIELD),
        ('{"action":"publish","channel":"nope","data":{}}', ErrorCode.INVALID_CHANNEL),
        ('{"action":"publish","channel":"tasks.updates","events":[1]}', ErrorCode.INVALID_FIELD),
    ],
)
def test_malformed_input_gets_a_stable_error_code(raw: str | bytes, code: ErrorCode) -> None:
    assert error_code(raw) == code


def test_over_long_values_are_refused_without_echoing_them_whole() -> None:
    raw = '{"action":"' + "a" * 10_000 + '"}'
    with pytest.raises(ProtocolError) as info:
        parse_request(raw)
    assert info.value.code == ErrorCode.UNKNOWN_ACTION
    assert len(info.value.message) < 300


def test_limits_bound_filters_and_publish_batches() -> None:
    limits = Limits(max_filter_keys=2, max_filter_values=3, max_publish_events=2)
    too_many_keys = {
        "action": "subscribe",
        "channels": ["ai.requests"],
        "filters": dict.fromkeys("abc", 1),
    }
    assert (
        error_code(orjson.dumps(too_many_keys).decode(), limits=limits) == ErrorCode.INVALID_FILTER
    )
    too_many_values = {
        "action": "subscribe",
        "channels": ["ai.requests"],
        "filters": {"a": [1, 2, 3, 4]},
    }
    assert (
        error_code(orjson.dumps(too_many_values).decode(), limits=limits)
        == ErrorCode.INVALID_FILTER
    )
    flood = {"action": "publish", "channel": "ai.requests", "events": [{}, {}, {}]}
    assert error_code(orjson.dumps(flood).decode(), limits=limits) == ErrorCode.PAYLOAD_TOO_LARGE


def test_a_server_configured_with_more_channels_accepts_them() -> None:
    raw = '{"action":"subscribe","channels":["lab.sensors"]}'
    assert error_code(raw) == ErrorCode.INVALID_CHANNEL
    request = parse_request(raw, channels=(*CHANNELS, "lab.sensors"))
    assert isinstance(request, protocol.Subscribe)


def test_publish_accepts_one_payload_or_a_list() -> None:
    one = parse_request('{"action":"publish","channel":"ai.requests","data":{"a":1},"id":3}')
    many = parse_request('{"action":"publish","channel":"ai.requests","events":[{"a":1},{"a":2}]}')
    assert isinstance(one, protocol.Publish)
    assert isinstance(many, protocol.Publish)
    assert one.events == ({"a": 1},)
    assert one.id == 3
    assert len(many.events) == 2


# -- filters -----------------------------------------------------------------------------


def test_filters_require_every_key_and_lists_mean_any_of() -> None:
    f = Filter.compile({"priority": ["high", "critical"], "source": "agent_001"})
    assert f.matches({"priority": "high", "source": "agent_001", "x": 1})
    assert not f.matches({"priority": "low", "source": "agent_001"})
    assert not f.matches({"priority": "high", "source": "agent_002"})
    assert not f.matches({"priority": "high"})


def test_filters_use_json_strict_equality() -> None:
    assert Filter.compile({"n": 1}).matches({"n": 1.0})
    assert not Filter.compile({"n": 1}).matches({"n": True})
    assert not Filter.compile({"flag": True}).matches({"flag": 1})
    assert not Filter.compile({"n": "1"}).matches({"n": 1})
    assert not Filter.compile({"x": None}).matches({})
    assert Filter.compile({"x": None}).matches({"x": None})
    assert not Filter.compile({"x": [1]}).matches({"x": [1]})


def test_empty_or_missing_filters_match_everything() -> None:
    assert Filter.compile(None).matches({"a": 1})
    assert Filter.compile({}).matches({})


def test_filters_selecting_the_same_events_share_an_identity() -> None:
    a = Filter.compile({"a": [1, 2], "b": "x"})
    b = Filter.compile({"b": ["x"], "a": [2, 1]})
    assert a.identity == b.identity


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["a", "b", "c"]))


def js_matches(data: dict[str, Any], filters: dict[str, Any]) -> bool:
    """The reference's matchesFilters, transcribed with JS's === on JSON values."""

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, bool) or isinstance(b, bool):
            return isinstance(a, bool) and isinstance(b, bool) and a == b
        return type(a) is type(b) and a == b if a is None or b is None else a == b

    missing = object()
    for key, value in filters.items():
        got = data.get(key, missing)
        if isinstance(value, list):
            if not any(got is not missing and same(v, got) for v in value):
                return False
        elif got is missing or not same(value, got):
            return False
    return True


@given(
    data=st.dictionaries(st.sampled_from("pqr"), scalars, max_size=3),
    filters=st.dictionaries(
        st.sampled_from("pqr"), st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=3
    ),
)
def test_compiled_filters_agree_with_the_reference_semantics(
    data: dict[str, Any], filters: dict[str, Any]
) -> None:
    assert Filter.compile(filters).matches(data) == js_matches(data, filters)


@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_input_parses_or_raises_a_protocol_error_with_a_known_code(raw: str | bytes) -> None:
    try:
        parse_request(raw)
    except ProtocolError as exc:
        code = exc.code
    else:
        code = "parsed"
    assert code in {*ErrorCode, "parsed"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["action", "channels", "filters", "channel", "data", "events", "resume", "batch", "id"]
        ),
        json_values
        | st.sampled_from(["subscribe", "unsubscribe", "ping", "publish", "tasks.updates"])
        | st.just(["tasks.updates"]),
    )
)
def test_any_json_object_parses_or_raises_a_protocol_error(message: dict[str, Any]) -> None:
    try:
        parse_request(json.dumps(message))
    except ProtocolError as exc:
        assert exc.code in set(ErrorCode)  # noqa: PT017 - the code is the property under test
    else:
        assert message["action"] in {a.value for a in protocol.Action}
