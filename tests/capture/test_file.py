"""Writing and reading capture files: Parquet, CSV and JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest

from nexus_nb.buffer import RingBuffer
from nexus_nb.capture import read_capture
from nexus_nb.columnar import format_timestamp, write_csv, write_parquet
from nexus_nb.exceptions import CaptureError

BASE = 1_762_134_840_000_000_000


def message(i: int, **data: Any) -> dict[str, Any]:
    stamp = format_timestamp(BASE + i * 1_000_000)
    return {
        "type": "event",
        "channel": "telemetry.metrics",
        "timestamp": stamp,
        "data": {**data, "timestamp": stamp},
    }


def mixed_messages() -> list[dict[str, Any]]:
    return [
        message(0, source="a", value=1.5, count=1, ok=True, meta={"zone": "eu"}, tags=[1, 2]),
        message(1, source="b", value=2.0, ok=False),
        message(2, source="a", count=3, meta={"zone": "us", "rack": 7}),
    ]


def buffer_frame(messages: list[dict[str, Any]]) -> pd.DataFrame:
    buffer = RingBuffer()
    buffer.extend(messages)
    return buffer.to_dataframe()


def test_parquet_round_trip_restores_every_dtype_exactly(tmp_path: Path) -> None:
    frame = buffer_frame(mixed_messages())
    assert {str(t) for t in frame.dtypes} >= {"category", "Int64", "boolean", "datetime64[ns, UTC]"}
    write_parquet(frame, tmp_path / "c.parquet")
    pd.testing.assert_frame_equal(read_capture(tmp_path / "c.parquet"), frame)


def test_csv_round_trip_keeps_values_and_parses_timestamps_as_utc(tmp_path: Path) -> None:
    frame = buffer_frame(mixed_messages())
    write_csv(frame, tmp_path / "c.csv")
    back = read_capture(tmp_path / "c.csv")
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_series_equal(back["timestamp"], frame["timestamp"])
    pd.testing.assert_series_equal(back["source"], frame["source"])
    assert back["value"].tolist()[:2] == [1.5, 2.0]
    # What CSV loses: an int column with a missing value reads back as float.
    assert back["count"].dtype == "float64"


def test_jsonl_is_flattened_exactly_like_the_buffer(tmp_path: Path) -> None:
    messages = mixed_messages()
    path = tmp_path / "c.jsonl"
    lines = [orjson.dumps(m) for m in messages]
    lines.insert(1, orjson.dumps({"type": "subscribed", "channels": ["x"]}))
    path.write_bytes(b"\n".join(lines) + b"\n\n")
    pd.testing.assert_frame_equal(read_capture(path), buffer_frame(messages))


def test_unknown_extension_raises_capture_error(tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    path.write_text("x")
    with pytest.raises(CaptureError, match="format"):
        read_capture(path)


def test_missing_file_raises_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="does not exist"):
        read_capture(tmp_path / "absent.parquet")


@pytest.mark.parametrize(
    ("name", "content"),
    [("bad.parquet", b"not parquet at all"), ("bad.jsonl", b'{"data": \n'), ("bad.csv", b"")],
)
def test_unreadable_file_raises_capture_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=name):
        read_capture(path)


def test_writing_to_a_missing_directory_raises_capture_error(tmp_path: Path) -> None:
    frame = buffer_frame(mixed_messages())
    with pytest.raises(CaptureError):
        write_parquet(frame, tmp_path / "no" / "such" / "c.parquet")
    with pytest.raises(CaptureError):
        write_csv(frame, tmp_path / "no" / "such" / "c.csv")
