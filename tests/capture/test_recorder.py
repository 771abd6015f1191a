"""Recorder: bounded row groups, flushing on close, part files on schema change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_nb.capture import Recorder, iter_events, read_capture
from nexus_nb.capture.layout import ColumnOrders
from nexus_nb.columnar import format_timestamp, rows_to_frame
from nexus_nb.columnar.flatten import flatten
from nexus_nb.exceptions import CaptureError
from nexus_nb.protocol import EventColumns, event_columns

BASE = 1_762_134_840_000_000_000


def message(i: int, **data: Any) -> dict[str, Any]:
    stamp = format_timestamp(BASE + i * 1_000_000)
    return {
        "type": "event",
        "channel": "telemetry.metrics",
        "timestamp": stamp,
        "data": {**data, "timestamp": stamp},
    }


def expected(messages: list[dict[str, Any]]) -> pd.DataFrame:
    return rows_to_frame(flatten(m) for m in messages)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_close_flushes_the_pending_partial_row_group(tmp_path: Path, suffix: str) -> None:
    messages = [message(i, source=f"s{i % 3}", value=i * 0.5) for i in range(25)]
    path = tmp_path / f"c{suffix}"
    recorder = Recorder(path, row_group_size=10)
    recorder.write_many(messages)
    assert recorder.rows_written == 20
    recorder.close()
    assert recorder.rows_written == 25
    assert recorder.files == [path]
    back = read_capture(path)
    assert len(back) == 25
    assert back["value"].tolist() == [i * 0.5 for i in range(25)]


def test_parquet_capture_reads_back_like_a_buffer_frame(tmp_path: Path) -> None:
    messages = [message(i, source=f"s{i % 3}", count=i) for i in range(7)]
    messages.append(message(7, source="s1"))  # count missing in a later row group
    with Recorder(tmp_path / "c.parquet", row_group_size=3) as recorder:
        recorder.write_many(messages)
    pd.testing.assert_frame_equal(read_capture(tmp_path / "c.parquet"), expected(messages))


def test_close_in_finally_flushes_after_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    recorder = Recorder(path, row_group_size=100)

    def owner() -> None:
        try:
            recorder.write(message(0, value=1.0))
            recorder.write(message(1, value=2.0))
            raise RuntimeError("owner cancelled")
        finally:
            recorder.close()

    with pytest.raises(RuntimeError, match="cancelled"):
        owner()
    assert recorder.closed
    assert read_capture(path)["value"].tolist() == [1.0, 2.0]


def test_new_field_or_type_starts_a_part_file_and_read_back_joins_them(tmp_path: Path) -> None:
    messages = [message(i, value=i) for i in range(4)]  # value: int
    messages += [message(i, value=i + 0.5) for i in range(4, 6)]  # int schema cannot hold
    messages += [message(i, value=1.0, extra="x") for i in range(6, 8)]  # new field
    path = tmp_path / "c.parquet"
    with Recorder(path, row_group_size=2) as recorder:
        recorder.write_many(messages)
    assert [p.name for p in recorder.files] == [
        "c.parquet",
        "c.part-0001.parquet",
        "c.part-0002.parquet",
    ]
    pd.testing.assert_frame_equal(read_capture(path), expected(messages))


def test_csv_new_field_starts_a_part_file_with_its_own_header(tmp_path: Path) -> None:
    messages = [message(i, value=float(i)) for i in range(3)]
    messages += [message(3, value=3.0, extra="x")]
    with Recorder(tmp_path / "c.csv", row_group_size=3) as recorder:
        recorder.write_many(messages)
    assert len(recorder.files) == 2
    back = read_capture(tmp_path / "c.csv")
    assert back["value"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert back["extra"].isna().tolist() == [True, True, True, False]


def test_jsonl_recorder_keeps_raw_messages(tmp_path: Path) -> None:
    messages = [message(i, value=i) for i in range(3)]
    with Recorder(tmp_path / "c.jsonl", row_group_size=2) as recorder:
        recorder.write_many(messages)
    lines = (tmp_path / "c.jsonl").read_bytes().splitlines()
    assert len(lines) == 3
    pd.testing.assert_frame_equal(read_capture(tmp_path / "c.jsonl"), expected(messages))


def test_a_new_recorder_replaces_an_old_capture_and_its_parts(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    with Recorder(path, row_group_size=1) as recorder:
        recorder.write_many([message(0, a=1), message(1, b="x")])
    assert len(recorder.files) == 2
    with Recorder(path) as recorder:
        recorder.write(message(2, a=5))
    assert read_capture(path)["a"].tolist() == [5]


def test_non_event_messages_are_counted_not_recorded(tmp_path: Path) -> None:
    with Recorder(tmp_path / "c.parquet") as recorder:
        recorder.write({"type": "subscribed", "channels": ["x"]})
        recorder.write(message(0, a=1))
    assert recorder.rejected == {"data_not_object": 1}
    assert recorder.rows_written == 1


def test_writing_after_close_raises_capture_error(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "c.csv")
    recorder.close()
    recorder.close()
    with pytest.raises(CaptureError, match="closed"):
        recorder.write(message(0, a=1))


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(CaptureError):
        Recorder(tmp_path / "c.txt")
    with pytest.raises(ValueError, match="row_group_size"):
        Recorder(tmp_path / "c.csv", row_group_size=0)
    recorder = Recorder(tmp_path / "c.data", fmt="jsonl")
    recorder.close()
    assert recorder.path == tmp_path / "c.data"


field_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False),
    st.sampled_from(["x", "y"]),
)
event_lists = st.lists(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), field_values, max_size=3),
    min_size=1,
    max_size=15,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    datas=event_lists,
    row_group_size=st.integers(1, 6),
    suffix=st.sampled_from([".parquet", ".jsonl"]),
)
def test_any_recorded_capture_reads_back_as_one_buffer_frame(
    tmp_path: Path, datas: list[dict[str, Any]], row_group_size: int, suffix: str
) -> None:
    messages = [message(i, **data) for i, data in enumerate(datas)]
    path = tmp_path / f"capture{suffix}"
    with Recorder(path, row_group_size=row_group_size) as recorder:
        recorder.write_many(messages)
    pd.testing.assert_frame_equal(read_capture(path), expected(messages))


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_a_recorder_closed_without_events_leaves_an_empty_readable_capture(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"empty{suffix}"
    Recorder(path).close()
    frame = read_capture(path)
    assert frame.empty
    assert list(frame.columns) == ["timestamp", "channel"]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"


def on(channel: str, i: int, **data: Any) -> dict[str, Any]:
    return {**message(i, **data), "channel": channel}


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_a_capture_of_several_channels_keeps_each_channels_own_column_order(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"c{suffix}"
    with Recorder(path, row_group_size=3) as recorder:
        recorder.write(on("a", 0, z=1, y=2))
        recorder.write(on("b", 1, y=1.5, x="u", m={"k": 1}))
        recorder.write(on("a", 2, z=3, y=4, w=True))
        recorder.write(on("b", 3, x="v", n=1, m={"j": 2}))  # a new column: a new part
    frame = read_capture(path)
    assert list(frame.columns) == ["timestamp", "channel", "z", "y", "x", "m.k", "m.j", "w", "n"]
    assert frame.attrs["nexus_nb.columns"] == {
        "a": ["z", "y", "w"],
        "b": ["y", "x", "m.k", "m.j", "n"],
    }
    events = list(iter_events(frame))
    assert [list(e.data) for e in events] == [
        ["z", "y", "timestamp"],
        ["y", "x", "m", "timestamp"],
        ["z", "y", "w", "timestamp"],
        ["x", "m", "n", "timestamp"],
    ]


def test_column_orders_read_garbage_as_none_and_keep_known_columns_put() -> None:
    assert not ColumnOrders.decode(b"not json")
    assert not ColumnOrders.decode(b"[1, 2]")
    assert ColumnOrders.decode(b'{"a": ["x", 3], "b": "y"}').as_dict() == {"a": ["x"]}
    orders = ColumnOrders({"a": ["x", "y"]})
    orders.add("a", ["y", "x", "p.q", "timestamp", "channel"])
    orders.merge(ColumnOrders({"a": ["p.r"], "b": ["z"]}))
    assert orders.as_dict() == {"a": ["x", "y", "p.q", "p.r"], "b": ["z"]}
    assert ColumnOrders.decode(orders.encode()).as_dict() == orders.as_dict()


def as_columns(messages: list[dict[str, Any]]) -> EventColumns:
    frame = event_columns(
        messages[0]["channel"],
        [],
        [m["timestamp"] for m in messages],
        [m["data"] for m in messages],
    )
    return EventColumns.from_message(orjson.loads(frame))


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_columnar_batches_record_what_their_messages_record(tmp_path: Path, suffix: str) -> None:
    # Runs of five events per channel; every other run arrives as one columnar batch.
    messages = [
        on("ab"[(i // 5) % 2], i, v=i * 0.5, s=f"s{i % 2}", **({"m": {"k": i}} if i > 7 else {}))
        for i in range(30)
    ]
    chunks = [messages[start : start + 5] for start in range(0, 30, 5)]
    with Recorder(tmp_path / f"rows{suffix}", row_group_size=7) as rows:
        rows.write_many(messages)
    with Recorder(tmp_path / f"mixed{suffix}", row_group_size=7) as mixed:
        for n, chunk in enumerate(chunks):
            mixed.write_many(as_columns(chunk) if n % 2 == 0 else chunk)
    expected_frame = read_capture(rows.path)
    frame = read_capture(mixed.path)
    pd.testing.assert_frame_equal(frame, expected_frame)
    assert frame.attrs == expected_frame.attrs
    assert mixed.rows_written == rows.rows_written == 30
