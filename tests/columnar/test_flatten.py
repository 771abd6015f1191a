"""Flattening event messages into rows and back, one by one and in columnar batches."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_nb.columnar.flatten import (
    Block,
    Rejection,
    flatten,
    flatten_columns,
    flatten_many,
    flatten_or_reject,
    flattened,
    runs,
    to_text,
    unflatten,
)
from nexus_nb.exceptions import SchemaError
from nexus_nb.protocol import EventColumns, event_columns

TS = "2025-11-03T01:54:00.000Z"
TS_NS = 1_762_134_840_000_000_000


def event(data: object, **envelope: object) -> dict[str, object]:
    return {
        "type": "event",
        "channel": "telemetry.metrics",
        "timestamp": TS,
        "data": data,
        **envelope,
    }


def test_flatten_uses_the_data_timestamp_and_keeps_field_order() -> None:
    row = flatten(event({"source": "s1", "value": 1.5, "timestamp": "2025-11-03T01:54:01.000Z"}))
    assert row == {
        "timestamp": TS_NS + 1_000_000_000,
        "channel": "telemetry.metrics",
        "source": "s1",
        "value": 1.5,
    }
    assert list(row) == ["timestamp", "channel", "source", "value"]


def test_flatten_falls_back_to_the_envelope_time_and_keeps_an_odd_data_timestamp() -> None:
    row = flatten(event({"timestamp": 17, "value": 1}))
    assert row["timestamp"] == TS_NS
    assert row["data.timestamp"] == 17


def test_flatten_nests_dotted_columns_lists_as_json_and_drops_nulls() -> None:
    row = flatten(event({"m": {"a": 1, "b": {"c": True}}, "tags": [1, "x"], "gone": None, "e": {}}))
    assert row["m.a"] == 1
    assert row["m.b.c"] is True
    assert row["tags"] == '[1,"x"]'
    assert "gone" not in row
    assert "e" not in row


def test_flatten_moves_a_data_channel_field_out_of_the_way() -> None:
    row = flatten(event({"channel": "other", "x": 1}))
    assert row["channel"] == "telemetry.metrics"
    assert row["data.channel"] == "other"


def test_flatten_turns_integers_beyond_int64_into_floats() -> None:
    row = flatten(event({"big": 2**70, "nested": {"big": -(2**70)}}))
    assert row["big"] == float(2**70)
    assert row["nested.big"] == float(-(2**70))


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ([1, 2], Rejection.NOT_OBJECT),
        ({"type": "event", "data": [1]}, Rejection.DATA_NOT_OBJECT),
        ({"type": "event", "data": {"v": 1}}, Rejection.NO_TIMESTAMP),
        ({"timestamp": "soon", "data": {"timestamp": "later"}}, Rejection.NO_TIMESTAMP),
    ],
)
def test_flatten_or_reject_names_the_reason(message: object, reason: Rejection) -> None:
    assert flatten_or_reject(message) is reason
    with pytest.raises(SchemaError, match=reason.value):
        flatten(message)


def test_unflatten_nests_dotted_names_and_drops_missing_values() -> None:
    data = unflatten({"a.b": 1, "a.c": None, "d": float("nan"), "e": "x"})
    assert data == {"a": {"b": 1}, "e": "x"}


def test_unflatten_of_a_value_that_is_also_a_parent_raises_schema_error() -> None:
    with pytest.raises(SchemaError):
        unflatten({"a": 1, "a.b": 2})


def test_to_text_prints_integral_floats_like_javascript() -> None:
    assert [to_text(v) for v in (45.0, 45.5, 3, True, "s")] == ["45", "45.5", "3", "true", "s"]


scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.none(),
)
keys = st.sampled_from(["a", "b", "c", "value"])
datas = st.recursive(
    st.dictionaries(keys, scalars, max_size=3),
    lambda inner: st.dictionaries(keys, st.one_of(scalars, inner), min_size=1, max_size=3),
    max_leaves=8,
)


@given(datas)
def test_unflatten_inverts_flatten_for_nested_scalars(data: dict[str, object]) -> None:
    row = flatten(event(data))
    fields = {k: v for k, v in row.items() if k not in ("timestamp", "channel")}
    assert flatten(event(unflatten(fields))) == row


messages = st.one_of(
    st.builds(event, datas),
    st.builds(event, st.dictionaries(st.sampled_from(["a", "b", "channel"]), scalars, max_size=3)),
    st.just([1]),
    st.just({"data": {"v": 1}}),
)


@given(
    st.lists(messages, max_size=8),
    st.lists(st.sampled_from(["a", "b", "c", "value", "channel", "a.b"]), unique=True),
)
def test_flatten_many_equals_flattening_each_message(
    batch: list[object], expected: list[str]
) -> None:
    block, rejections = flatten_many(batch, expected=expected)
    rows = [flatten_or_reject(m) for m in batch]
    stored = [row for row in rows if isinstance(row, dict)]
    assert rejections == [row for row in rows if isinstance(row, Rejection)]
    assert block.times.tolist() == [row["timestamp"] for row in stored]
    rebuilt = [
        {name: values[i] for name, values in block.columns.items() if values[i] is not None}
        for i in range(len(stored))
    ]
    assert rebuilt == [{k: v for k, v in row.items() if k != "timestamp"} for row in stored]
    assert block.types == {name: set(map(type, values)) for name, values in block.columns.items()}
    if not expected:
        names = list(dict.fromkeys(k for row in stored for k in row if k != "timestamp"))
        assert list(block.columns) == (names if stored else [])


def test_flatten_many_takes_the_fast_path_for_flat_events() -> None:
    batch = [event({"v": i, "s": "x", "timestamp": TS}) for i in range(3)]
    block, rejections = flatten_many(batch)
    assert rejections == []
    assert block.columns == {"channel": ["telemetry.metrics"] * 3, "v": [0, 1, 2], "s": ["x"] * 3}


def rows_of(block: Block) -> list[dict[str, object]]:
    """Each row of a block as {name: value}, missing values left out."""
    return [
        {name: values[i] for name, values in block.columns.items() if values[i] is not None}
        for i in range(len(block.times))
    ]


timed_datas = st.one_of(
    datas,
    datas.map(lambda data: {**data, "timestamp": TS}),
    datas.map(lambda data: {**data, "timestamp": "2025-11-03T01:54:00.5+01:00"}),
    datas.map(lambda data: {**data, "channel": "elsewhere", "timestamp": TS}),
)


@given(st.lists(timed_datas, max_size=8))
def test_flatten_columns_equals_flatten_many_on_the_same_events(
    events: list[dict[str, object]],
) -> None:
    stamps = [TS] * len(events)
    frame = event_columns("telemetry.metrics", list(range(1, len(events) + 1)), stamps, events)
    columns = EventColumns.from_message(orjson.loads(frame))
    block, rejections = flatten_columns(columns)
    expected, expected_rejections = flatten_many([event(data) for data in events])
    assert rejections == expected_rejections
    assert block.times.tolist() == expected.times.tolist()
    assert rows_of(block) == rows_of(expected)
    assert set(block.columns) == set(expected.columns)
    assert {n: t - {type(None)} for n, t in block.types.items()} == {
        n: t - {type(None)} for n, t in expected.types.items()
    }


def test_flatten_columns_takes_the_lists_as_they_are_for_flat_events() -> None:
    columns = EventColumns(
        "telemetry.metrics", [1, 2], [TS, TS], {"timestamp": [TS, TS], "v": [1.5, None]}
    )
    block, _ = flatten_columns(columns)
    assert block.columns["v"] is columns.data["v"]
    assert block.times.tolist() == [TS_NS, TS_NS]


@pytest.mark.parametrize(
    "values", [[1, 2**63 - 1], [-(2**63), 2**63], [2**64, None], [-(2**63) - 1, 1.5]]
)
def test_flatten_columns_of_integers_beyond_int64_equals_flatten_many(
    values: list[object],
) -> None:
    columns = EventColumns(
        "telemetry.metrics", [1, 2], [TS, TS], {"timestamp": [TS, TS], "v": values}
    )
    block, _ = flatten_columns(columns)
    expected, _ = flatten_many(columns.messages())
    assert block.columns["v"] == expected.columns["v"]
    assert block.types["v"] == expected.types["v"] == set(map(type, expected.columns["v"]))


@given(st.lists(messages, max_size=8))
def test_a_flattened_block_carries_the_rows_and_rejections_of_flatten_many(
    batch: list[object],
) -> None:
    block = flattened(batch)
    expected, rejections = flatten_many(batch)
    assert list(block.rejected) == rejections
    assert len(block) == len(expected.times)
    stored = [row for row in map(flatten_or_reject, batch) if isinstance(row, dict)]
    assert [{k: v for k, v in row.items() if v is not None} for row in block.rows()] == stored


def test_runs_keep_blocks_whole_and_in_order_between_messages_and_batches() -> None:
    first, second = event({"v": 1, "timestamp": TS}), event({"v": 2, "timestamp": TS})
    block = flattened([first, second])
    columns = EventColumns("telemetry.metrics", [], [TS], {"v": [3]})
    assert list(runs([first, block, block, columns, columns, second])) == [
        [first],
        block,
        block,
        EventColumns.concat([columns, columns]),
        [second],
    ]
