"""RingBuffer: bounds, eviction, schema growth, type changes, reads and gaps."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_nb.buffer import RingBuffer
from nexus_nb.columnar import flatten, flattened, format_timestamp
from nexus_nb.columnar.table import Table
from nexus_nb.protocol import EventColumns, event_columns

BASE = 1_762_134_840_000_000_000
MS = 1_000_000

# The reference model's field types: one fixed type per field name.
FIELD_TYPES = {"f": float, "i": int, "s": str, "b": bool}


def message(ms: int, channel: str = "telemetry.metrics", **data: Any) -> dict[str, Any]:
    stamp = format_timestamp(BASE + ms * MS)
    return {
        "type": "event",
        "channel": channel,
        "timestamp": stamp,
        "data": {**data, "timestamp": stamp},
        "seq": ms,
    }


def naive_frame(rows: list[tuple[int, dict[str, Any]]], names: list[str]) -> pd.DataFrame:
    """The frame a buffer must give, built with plain pandas from (ms, data) rows."""
    columns: dict[str, Any] = {
        "timestamp": pd.to_datetime([BASE + ms * MS for ms, _ in rows], utc=True).astype(
            "datetime64[ns, UTC]"
        ),
        "channel": pd.Categorical(
            ["telemetry.metrics"] * len(rows),
            categories=pd.Index(["telemetry.metrics"] if rows else [], dtype="str"),
        ),
    }
    for name in names:
        values = [data.get(name) for _, data in rows]
        kind = FIELD_TYPES[name]
        missing = any(v is None for v in values)
        if kind is float:
            columns[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        elif kind is str:
            seen = list(dict.fromkeys(v for v in values if v is not None))
            columns[name] = pd.Categorical(values, categories=pd.Index(seen, dtype="str"))
        elif kind is int:
            columns[name] = pd.array(values, dtype="Int64" if missing else "int64")
        else:
            columns[name] = pd.array(values, dtype="boolean" if missing else "bool")
    frame = pd.DataFrame(columns)
    frame.index = pd.RangeIndex(len(frame))
    return frame


def field_values(name: str) -> st.SearchStrategy[Any]:
    return {
        "f": st.floats(-1e6, 1e6, allow_nan=False),
        "i": st.integers(-(2**40), 2**40),
        "s": st.sampled_from(["a", "b", "c", ""]),
        "b": st.booleans(),
    }[name]


event_data = st.fixed_dictionaries({}, optional={name: field_values(name) for name in FIELD_TYPES})
batches = st.lists(
    st.tuples(st.booleans(), st.lists(st.tuples(st.integers(0, 50), event_data), max_size=6)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(
    batches=batches,
    maxlen=st.integers(1, 12),
    window_ms=st.one_of(st.none(), st.integers(1, 60)),
)
def test_buffer_matches_a_naive_pandas_model_of_maxlen_and_window_eviction(
    batches: list[tuple[bool, list[tuple[int, dict[str, Any]]]]],
    maxlen: int,
    window_ms: int | None,
) -> None:
    window = None if window_ms is None else pd.Timedelta(milliseconds=window_ms)
    buffer = RingBuffer("telemetry.metrics", maxlen=maxlen, window=window)
    kept: list[tuple[int, dict[str, Any]]] = []
    names: list[str] = []
    clock = 0
    newest = -(10**9)
    appended = 0
    for use_extend, batch in batches:
        timed = []
        for step, data in batch:
            clock += step - 10  # mostly increasing, sometimes late
            timed.append((clock, data))
        messages = [message(ms, **data) for ms, data in timed]
        if use_extend:
            buffer.extend(messages)
        else:
            for item in messages:
                buffer.append(item)
        for ms, data in timed:
            names.extend(name for name in data if name not in names)
            if len(kept) == maxlen:
                kept.pop(0)
            kept.append((ms, data))
            appended += 1
            newest = max(newest, ms)
            while window_ms is not None and kept and kept[0][0] <= newest - window_ms:
                kept.pop(0)
        assert len(buffer) == len(kept) <= maxlen
        assert buffer.appended == appended
        assert buffer.evicted == appended - len(kept)
    pd.testing.assert_frame_equal(buffer.to_dataframe(), naive_frame(kept, names))
    start = max(0, appended - 3)
    first, arrays = buffer.read(["timestamp", *names], start=start)
    expected = kept[len(kept) - (appended - first) :]
    assert first == max(start, appended - len(kept))
    assert arrays["timestamp"].tolist() == [BASE + ms * MS for ms, _ in expected]


def test_maxlen_keeps_the_newest_rows_and_counts_evictions() -> None:
    buffer = RingBuffer(maxlen=3)
    for i in range(5):
        buffer.append(message(i, v=float(i)))
    assert len(buffer) == 3
    assert buffer.evicted == 2
    assert buffer.to_dataframe()["v"].tolist() == [2.0, 3.0, 4.0]


def test_window_evicts_rows_exactly_window_older_than_the_newest() -> None:
    buffer = RingBuffer(window="10ms")
    for ms in (0, 5, 10, 11):
        buffer.append(message(ms, v=float(ms)))
    # newest is 11: the window is (1ms, 11ms], so 0 is out and 5, 10, 11 stay.
    assert buffer.to_dataframe()["v"].tolist() == [5.0, 10.0, 11.0]
    buffer.append(message(15, v=15.0))
    # (5, 15]: the row at exactly 5 ms is evicted (boundary exclusive).
    assert buffer.to_dataframe()["v"].tolist() == [10.0, 11.0, 15.0]
    assert buffer.window == pd.Timedelta("10ms")


def test_a_number_window_is_seconds() -> None:
    assert RingBuffer(window=1.5).window == pd.Timedelta(seconds=1.5)


@pytest.mark.parametrize("kwargs", [{"maxlen": 0}, {"window": "0s"}, {"window": -1.0}])
def test_invalid_limits_raise_value_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RingBuffer(**kwargs)


def test_a_field_first_seen_later_is_backfilled_with_missing_values() -> None:
    buffer = RingBuffer()
    buffer.append(message(0, a=1.0))
    buffer.append(message(1, a=2.0, late="x", flag=True, n=3))
    frame = buffer.to_dataframe()
    assert buffer.columns == ["timestamp", "channel", "a", "late", "flag", "n"]
    assert frame["late"].isna().tolist() == [True, False]
    assert str(frame["late"].dtype) == "category"
    assert str(frame["flag"].dtype) == "boolean"
    assert str(frame["n"].dtype) == "Int64"


def test_nested_fields_stay_next_to_their_family() -> None:
    buffer = RingBuffer()
    buffer.append(message(0, m={"x": 1}, z=1))
    buffer.append(message(1, m={"x": 1, "y": 2}, z=2))
    assert buffer.columns == ["timestamp", "channel", "m.x", "m.y", "z"]


def test_int_column_receiving_a_float_widens_and_counts_one_type_change() -> None:
    buffer = RingBuffer()
    for item in (message(0, v=1), message(1, v=2.5), message(2, v=3)):
        buffer.append(item)
    frame = buffer.to_dataframe()
    assert frame["v"].dtype == np.float64
    assert frame["v"].tolist() == [1.0, 2.5, 3.0]
    assert buffer.type_changes == 1


def test_number_column_receiving_text_turns_to_text_without_losing_values() -> None:
    buffer = RingBuffer()
    for item in (message(0, v=1), message(1, v=2.0), message(2, v="high"), message(3, v=True)):
        buffer.append(item)
    frame = buffer.to_dataframe()
    assert frame["v"].astype(object).tolist() == ["1", "2", "high", "true"]
    assert buffer.type_changes == 3


mixed = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5),
    st.sampled_from(["x", "1"]),
    st.fixed_dictionaries({"k": st.integers(0, 2)}),
)


@given(
    st.lists(st.tuples(mixed, mixed), min_size=1, max_size=40),
    st.lists(st.integers(1, 9), min_size=1, max_size=5),
)
def test_batched_storage_equals_storing_rows_one_by_one(
    values: list[tuple[Any, Any]], cuts: list[int]
) -> None:
    messages = [message(i, v=v, w=w) for i, (v, w) in enumerate(values)]
    buffer = RingBuffer(maxlen=100)
    start = 0
    for cut in cuts:
        buffer.extend(messages[start : start + cut])
        len(buffer)  # store this batch now
        start += cut
    buffer.extend(messages[start:])
    table = Table(len(messages))
    for slot, item in enumerate(messages):
        table.put_row(slot, flatten(item))
    pd.testing.assert_frame_equal(buffer.to_dataframe(), table.frame([(0, len(messages))]))
    assert buffer.type_changes == table.type_changes


def test_rejected_messages_are_counted_by_reason_and_not_stored() -> None:
    buffer = RingBuffer()
    buffer.extend([{"data": [1]}, "nope", {"data": {"v": 1}}])  # type: ignore[list-item]
    buffer.append(message(0, v=1.0))
    assert len(buffer) == 1
    assert buffer.rejected == 3
    assert buffer.rejected_reasons == {"data_not_object": 1, "not_object": 1, "no_timestamp": 1}
    assert buffer.appended == 1


def test_seq_and_envelope_type_are_not_columns() -> None:
    buffer = RingBuffer()
    buffer.append(message(0, v=1.0))
    assert buffer.columns == ["timestamp", "channel", "v"]


def test_channel_name_fills_rows_whose_message_has_none() -> None:
    buffer = RingBuffer("tasks.updates")
    item = message(0, v=1.0)
    del item["channel"]
    buffer.append(item)
    assert buffer.to_dataframe()["channel"].tolist() == ["tasks.updates"]


def test_read_from_an_arrival_index_returns_exactly_the_new_rows() -> None:
    buffer = RingBuffer(maxlen=5)
    buffer.extend(message(i, v=float(i), s=f"s{i % 2}", b=i % 2 == 0) for i in range(4))
    first, arrays = buffer.read(["v"], start=0)
    assert first == 0
    assert arrays["v"].tolist() == [0.0, 1.0, 2.0, 3.0]
    buffer.extend(message(i, v=float(i)) for i in range(4, 7))
    first, arrays = buffer.read(["timestamp", "v", "s", "b", "unknown"], start=4)
    assert first == 4
    assert arrays["timestamp"].dtype == np.int64
    assert arrays["v"].tolist() == [4.0, 5.0, 6.0]
    assert arrays["s"].tolist() == [None, None, None]
    assert np.isnan(arrays["b"]).all()
    assert np.isnan(arrays["unknown"]).all()
    first, arrays = buffer.read(["s", "b"], start=0)  # rows 0 and 1 were evicted
    assert first == 2
    assert arrays["s"].tolist() == ["s0", "s1", None, None, None]
    assert arrays["b"].tolist()[:2] == [1.0, 0.0]
    first, arrays = buffer.read(["v"], start=7)
    assert (first, len(arrays["v"])) == (7, 0)


def test_to_dataframe_last_and_since_select_rows_by_count_and_event_time() -> None:
    buffer = RingBuffer()
    buffer.extend(message(ms, v=float(ms)) for ms in (0, 1000, 2000, 3000))
    assert buffer.to_dataframe(last=2)["v"].tolist() == [2000.0, 3000.0]
    assert buffer.to_dataframe(last=0).empty
    assert buffer.to_dataframe(last="2s")["v"].tolist() == [2000.0, 3000.0]
    since = pd.Timestamp(BASE + 1000 * MS, tz="UTC")
    assert buffer.to_dataframe(since=since)["v"].tolist() == [1000.0, 2000.0, 3000.0]
    with pytest.raises(ValueError, match="last"):
        buffer.to_dataframe(last=-1)


def test_to_dataframe_is_a_copy() -> None:
    buffer = RingBuffer()
    buffer.append(message(0, v=1.0))
    frame = buffer.to_dataframe()
    frame.loc[0, "v"] = 99.0
    assert buffer.to_dataframe()["v"].tolist() == [1.0]


def test_version_increases_on_every_change() -> None:
    buffer = RingBuffer()
    seen = [buffer.version]
    buffer.append(message(0, v=1.0))
    seen.append(buffer.version)
    buffer.extend([message(1, v=1.0)])
    seen.append(buffer.version)
    buffer.mark_gap(BASE, BASE + MS, reason="reconnect")
    seen.append(buffer.version)
    assert seen == sorted(set(seen))


def test_gaps_are_listed_with_duration_and_bounded() -> None:
    buffer = RingBuffer()
    buffer.mark_gap(BASE, BASE + 2 * MS, missed=4, reason="server_dropped")
    buffer.mark_gap(BASE + 5 * MS, BASE + 6 * MS, reason="reconnect")
    gaps = buffer.gaps
    assert list(gaps.columns) == ["start", "end", "duration", "missed", "reason"]
    assert str(gaps["start"].dtype) == "datetime64[ns, UTC]"
    assert gaps["duration"].tolist() == [pd.Timedelta(2, "ms"), pd.Timedelta(1, "ms")]
    assert gaps["missed"].tolist()[0] == 4
    assert gaps["missed"].isna().tolist() == [False, True]
    assert gaps["reason"].tolist() == ["server_dropped", "reconnect"]
    for i in range(1005):
        buffer.mark_gap(BASE + i, BASE + i, reason="x")
    assert len(buffer.gaps) == 1000
    assert buffer.gaps_dropped == 7
    with pytest.raises(ValueError, match="before it starts"):
        buffer.mark_gap(BASE + 1, BASE, reason="backwards")


def test_label_dictionary_stays_bounded_with_unique_strings() -> None:
    buffer = RingBuffer(maxlen=100)
    for start in range(0, 20_000, 500):
        buffer.extend(message(i, id=f"id-{i}") for i in range(start, start + 500))
    column = buffer._table.columns["id"]
    assert column.label_count <= 2 * 100 + 1024 + 500
    assert buffer.to_dataframe()["id"].tolist() == [f"id-{i}" for i in range(19_900, 20_000)]


def test_bytes_per_metric_event_stay_under_64() -> None:
    buffer = RingBuffer(maxlen=4096)
    buffer.extend(
        message(i, event_type="system.metric", source=f"server-{i % 8:02d}", value=i * 0.5)
        for i in range(4096)
    )
    assert buffer.nbytes / len(buffer) < 64


def test_repr_shows_channel_rows_and_columns() -> None:
    buffer = RingBuffer("telemetry.metrics", maxlen=10)
    buffer.append(message(0, v=1.0))
    assert repr(buffer) == "RingBuffer(channel='telemetry.metrics', rows=1/10, columns=3)"


def test_to_parquet_and_to_csv_write_the_frame(tmp_path: Any) -> None:
    from nexus_nb.capture import read_capture

    buffer = RingBuffer()
    buffer.extend(message(i, v=float(i), s="x") for i in range(3))
    buffer.to_parquet(tmp_path / "b.parquet")
    buffer.to_csv(tmp_path / "b.csv")
    pd.testing.assert_frame_equal(read_capture(tmp_path / "b.parquet"), buffer.to_dataframe())
    assert read_capture(tmp_path / "b.csv")["v"].tolist() == [0.0, 1.0, 2.0]


def test_an_empty_gap_list_has_the_documented_dtypes() -> None:
    gaps = RingBuffer().gaps
    assert gaps.empty
    assert [str(t) for t in gaps.dtypes] == [
        "datetime64[ns, UTC]",
        "datetime64[ns, UTC]",
        "timedelta64[ns]",
        "Int64",
        "str",
    ]


def test_since_accepts_iso_text_and_reads_naive_times_as_utc() -> None:
    buffer = RingBuffer()
    buffer.extend(message(ms, v=float(ms)) for ms in (0, 1000, 2000))
    assert buffer.to_dataframe(since="2025-11-03T01:54:01")["v"].tolist() == [1000.0, 2000.0]
    assert buffer.to_dataframe(since="2025-11-03T02:54:01+01:00")["v"].tolist() == [1000.0, 2000.0]


def test_non_text_keys_become_text_columns() -> None:
    buffer = RingBuffer()
    buffer.append(
        message(0, **{"v": 1.0}) | {"data": {1: 2.0, "timestamp": format_timestamp(BASE)}}
    )
    assert buffer.columns == ["timestamp", "channel", "1"]


def as_columns(messages: list[dict[str, Any]]) -> EventColumns:
    """The columnar frame a server sends for these messages, as a client decodes it."""
    frame = event_columns(
        "telemetry.metrics",
        [m["seq"] for m in messages],
        [m["timestamp"] for m in messages],
        [m["data"] for m in messages],
    )
    return EventColumns.from_message(orjson.loads(frame))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(mixed, mixed), min_size=1, max_size=40),
    st.lists(
        st.tuples(st.sampled_from(["messages", "columns", "block"]), st.integers(1, 9)),
        min_size=1,
        max_size=6,
    ),
    st.integers(1, 50),
)
def test_columnar_batches_and_blocks_store_what_their_messages_store(
    values: list[tuple[Any, Any]], parts: list[tuple[str, int]], maxlen: int
) -> None:
    messages = [message(i, v=v, w=w) for i, (v, w) in enumerate(values)]
    by_messages = RingBuffer(maxlen=maxlen)
    by_messages.extend(messages)
    mixed_parts = RingBuffer(maxlen=maxlen)
    start = 0
    for kind, size in parts:
        part = messages[start : start + size]
        if part:
            staged = {"columns": as_columns, "block": flattened}.get(kind)
            mixed_parts.extend(staged(part) if staged else part)
        start += size
    if messages[start:]:
        mixed_parts.extend(as_columns(messages[start:]))
    pd.testing.assert_frame_equal(
        mixed_parts.to_dataframe(), by_messages.to_dataframe(), check_like=True
    )
    assert mixed_parts.type_changes == by_messages.type_changes
    assert (mixed_parts.appended, mixed_parts.evicted) == (len(messages), by_messages.evicted)


def test_a_block_flattened_elsewhere_counts_its_rejections_in_the_buffer() -> None:
    buffer = RingBuffer("telemetry.metrics")
    buffer.extend(flattened([message(0, v=1.5), {"type": "event", "data": 3}, [2]]))
    assert len(buffer) == 1
    assert buffer.rejected_reasons == {"data_not_object": 1, "not_object": 1}


def test_a_columnar_batch_lands_in_its_columns_with_their_dtypes() -> None:
    buffer = RingBuffer("telemetry.metrics")
    buffer.extend(as_columns([message(i, value=i / 2, source=f"s{i % 2}") for i in range(4)]))
    frame = buffer.to_dataframe()
    assert list(frame.columns) == ["timestamp", "channel", "value", "source"]
    assert frame["value"].tolist() == [0.0, 0.5, 1.0, 1.5]
    assert str(frame["source"].dtype) == "category"
    assert frame["timestamp"].dtype == "datetime64[ns, UTC]"


def _times_ns(buf: RingBuffer) -> np.ndarray:
    return buf.read(["timestamp"])[1]["timestamp"]


@settings(max_examples=60)
@given(
    steps=st.lists(st.integers(0, 50), min_size=1, max_size=300),
    back=st.sets(st.integers(0, 299), max_size=3),
    maxlen=st.integers(1, 120),
    bounds=st.tuples(st.integers(-5, 4000), st.integers(0, 800)),
)
def test_locate_finds_the_rows_of_a_time_range_while_they_are_in_time_order(
    steps: list[int], back: set[int], maxlen: int, bounds: tuple[int, int]
) -> None:
    buf = RingBuffer(maxlen=maxlen)
    ms = 0
    for i, step in enumerate(steps):
        ms = ms - 7 if i in back else ms + step  # a few arrivals go back in time
        buf.extend([message(ms, v=float(i))]) if i % 2 else buf.append(message(ms, v=float(i)))
    start, width = bounds
    lo, hi = BASE + start * MS, BASE + (start + width) * MS
    found = buf.locate(lo, hi)
    times = _times_ns(buf)
    ordered = bool(np.all(times[1:] >= times[:-1]))
    if found is None:
        # Only refused while a row that went back in time is still held.
        assert not ordered or any(i >= len(steps) - len(buf) for i in back)
        return
    assert ordered
    first, stop = found
    got = buf.read(["timestamp"], start=first, stop=stop)[1]["timestamp"]
    np.testing.assert_array_equal(got, times[(times >= lo) & (times <= hi)])


def test_locate_works_again_once_the_row_out_of_time_order_is_evicted() -> None:
    buf = RingBuffer(maxlen=10)
    buf.extend([message(ms) for ms in (0, 10, 5, 20)])
    assert buf.locate(BASE, BASE + 30 * MS) is None
    buf.extend([message(ms) for ms in range(30, 40)])  # evicts 5 and everything before it
    assert buf.locate(BASE + 31 * MS, BASE + 33 * MS) == (5, 8)


def test_read_stops_before_the_stop_index() -> None:
    buf = RingBuffer(maxlen=5)
    buf.extend([message(ms, v=float(ms)) for ms in range(8)])
    first, cols = buf.read(["v"], start=0, stop=6)
    assert first == 3
    assert cols["v"].tolist() == [3.0, 4.0, 5.0]
