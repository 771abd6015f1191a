"""Columnar event_batch frames: encoding, checking, rebuilding, joining (no I/O)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_nb import protocol
from nexus_nb.exceptions import ProtocolError
from nexus_nb.protocol import EventColumns, event_columns

TS = "2025-11-03T01:54:00.000Z"

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.integers(0, 3), max_size=2),
    st.fixed_dictionaries({"k": st.integers(0, 3)}),
)
datas = st.dictionaries(st.sampled_from(["a", "b", "c", "timestamp"]), values, max_size=4)


def decode(frame: bytes) -> EventColumns:
    return EventColumns.from_message(orjson.loads(frame))


def as_message(seq: int, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "event", "channel": "ai.requests", "timestamp": TS, "data": data, "seq": seq}


@given(st.lists(datas, max_size=6))
def test_a_columnar_frame_rebuilds_the_event_messages_without_their_nulls(
    events: list[dict[str, Any]],
) -> None:
    seqs = list(range(1, len(events) + 1))
    columns = decode(event_columns("ai.requests", seqs, [TS] * len(events), events))
    assert len(columns) == len(events)
    expected = [
        as_message(seq, {k: v for k, v in data.items() if v is not None})
        for seq, data in zip(seqs, events, strict=True)
    ]
    assert columns.messages() == expected


def test_the_frame_has_one_list_per_field_in_first_seen_order() -> None:
    frame = orjson.loads(event_columns("ai.requests", [7, 8], [TS, TS], [{"b": 1}, {"a": "x"}]))
    assert frame == {
        "type": "event_batch",
        "channel": "ai.requests",
        "format": "columns",
        "count": 2,
        "seq": [7, 8],
        "timestamp": [TS, TS],
        "data": {"b": [1, None], "a": [None, "x"]},
    }


GOOD = {
    "type": "event_batch",
    "channel": "c",
    "format": "columns",
    "count": 2,
    "seq": [1, 2],
    "timestamp": [TS, TS],
    "data": {"v": [1, 2]},
}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"channel": None}, "channel"),
        ({"count": -1}, "count"),
        ({"count": "2"}, "count"),
        ({"timestamp": [TS]}, "timestamp"),
        ({"seq": [1]}, "seq"),
        ({"seq": [1, "2"]}, "seq"),
        ({"data": [1, 2]}, "data"),
        ({"data": {"v": [1]}}, "data.v"),
    ],
)
def test_a_malformed_columnar_frame_is_refused_with_the_field_named(
    change: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint.replace(".", r"\.")):
        EventColumns.from_message({**GOOD, **change})


def test_after_keeps_the_events_past_a_seq() -> None:
    columns = EventColumns.from_message(GOOD)
    assert columns.after(0) is columns
    rest = columns.after(1)
    assert (rest.seq, rest.timestamp, rest.data) == ([2], [TS], {"v": [2]})
    assert len(columns.after(2)) == 0
    unnumbered = EventColumns("c", [], [TS], {"v": [1]})
    assert unnumbered.after(5) is unnumbered


def test_concat_joins_batches_and_pads_fields_a_part_lacks() -> None:
    first = EventColumns("c", [1], [TS], {"a": [1]})
    second = EventColumns("c", [2, 3], [TS, TS], {"b": ["x", "y"]})
    joined = EventColumns.concat([first, second])
    assert joined.seq == [1, 2, 3]
    assert joined.data == {"a": [1, None, None], "b": [None, "x", "y"]}
    assert joined.messages() == [*first.messages(), *second.messages()]
    assert EventColumns.concat([first]) is first
    with pytest.raises(ValueError, match="channels"):
        EventColumns.concat([first, EventColumns("d", [], [], {})])
    with pytest.raises(ValueError, match="nothing"):
        EventColumns.concat([])


def test_subscribe_asks_for_columns_only_when_told_and_the_server_reads_it() -> None:
    plain = protocol.subscribe(["c"], batch=protocol.Batch(10, 0.01))
    assert orjson.loads(plain)["batch"] == {"maxlen": 10, "interval": 0.01}
    columnar = protocol.subscribe(["c"], batch=protocol.Batch(10, 0.01, columns=True))
    assert orjson.loads(columnar)["batch"]["format"] == "columns"
    request = protocol.parse_request(columnar.decode(), channels=["c"])
    assert isinstance(request, protocol.Subscribe)
    assert request.batch == protocol.Batch(10, 0.01, columns=True)


def test_an_unknown_batch_format_is_an_invalid_field() -> None:
    raw = '{"action":"subscribe","channels":["c"],"batch":{"format":"arrow"}}'
    with pytest.raises(ProtocolError) as info:
        protocol.parse_request(raw, channels=["c"])
    assert info.value.code == protocol.ErrorCode.INVALID_FIELD
    assert "batch.format" in info.value.message
