"""Replay: captures back into events, and the full round trip through Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_nb.buffer import RingBuffer
from nexus_nb.capture import ReplayEvent, iter_events, read_capture
from nexus_nb.columnar import format_timestamp, write_parquet
from nexus_nb.exceptions import CaptureError

BASE = 1_762_134_840_000_000_000
MS = 1_000_000


def message(ms: int, channel: str = "telemetry.metrics", **data: Any) -> dict[str, Any]:
    stamp = format_timestamp(BASE + ms * MS)
    return {
        "type": "event",
        "channel": channel,
        "timestamp": stamp,
        "data": {**data, "timestamp": stamp},
    }


def republish(event: ReplayEvent) -> dict[str, Any]:
    """What the server sends for a replayed event."""
    return {
        "type": "event",
        "channel": event.channel,
        "timestamp": event.timestamp,
        "data": event.data,
    }


def test_iter_events_rebuilds_nested_data_with_python_scalars_and_offsets() -> None:
    buffer = RingBuffer()
    buffer.append(message(0, m={"a": 1, "b": "x"}, ok=True, v=2.5))
    buffer.append(message(1500, m={"a": 2}, channel="other"))
    events = list(iter_events(buffer.to_dataframe()))
    assert events[0] == ReplayEvent(
        0.0,
        "telemetry.metrics",
        "2025-11-03T01:54:00.000Z",
        {"m": {"a": 1, "b": "x"}, "ok": True, "v": 2.5, "timestamp": "2025-11-03T01:54:00.000Z"},
    )
    assert type(events[0].data["m"]["a"]) is int
    assert events[1].offset == 1.5
    assert events[1].data == {"m": {"a": 2}, "timestamp": "2025-11-03T01:54:01.500Z"}


def test_iter_events_filters_by_channel_and_measures_offsets_from_the_first_yielded() -> None:
    buffer = RingBuffer()
    buffer.extend(
        [message(0, v=1), message(1000, channel="b", v=2), message(3000, channel="b", v=3)]
    )
    events = list(iter_events(buffer.to_dataframe(), channel="b"))
    assert [(e.offset, e.data["v"]) for e in events] == [(0.0, 2), (2.0, 3)]


def test_iter_events_reads_a_capture_path(tmp_path: Path) -> None:
    buffer = RingBuffer()
    buffer.extend([message(0, v=1.0), message(10, v=2.0)])
    buffer.to_parquet(tmp_path / "c.parquet")
    assert [e.data["v"] for e in iter_events(tmp_path / "c.parquet")] == [1.0, 2.0]


def test_iter_events_of_a_frame_without_timestamps_raises_capture_error() -> None:
    with pytest.raises(CaptureError):
        list(iter_events(pd.DataFrame({"v": [1]})))


scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
    st.none(),
    st.lists(st.integers(0, 3), max_size=2),
)
keys = st.sampled_from(["a", "b", "c", "channel", "value"])
datas = st.recursive(
    st.dictionaries(keys, scalars, max_size=3),
    lambda inner: st.dictionaries(keys, st.one_of(scalars, inner), max_size=3),
    max_leaves=6,
)
events = st.tuples(
    st.integers(-10_000, 10_000),
    st.sampled_from(["telemetry.metrics", "system.alerts"]),
    datas,
    st.sampled_from(["data", "envelope", "odd"]),
)


def build(ms: int, channel: str, data: dict[str, Any], where: str) -> dict[str, Any]:
    stamp = format_timestamp(BASE + ms * MS)
    data = dict(data)
    data.pop("timestamp", None)
    if where == "data":
        data["timestamp"] = stamp
    elif where == "odd":
        data["timestamp"] = ms  # not a time: kept as a data.timestamp column
    return {"type": "event", "channel": channel, "timestamp": stamp, "data": data}


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(events, min_size=1, max_size=12))
def test_events_survive_buffer_parquet_replay_and_buffer_again_unchanged(
    tmp_path: Path, specs: list[tuple[int, str, dict[str, Any], str]]
) -> None:
    first = RingBuffer(maxlen=100)
    first.extend(build(*spec) for spec in specs)
    frame = first.to_dataframe()
    path = tmp_path / "round.parquet"
    write_parquet(frame, path)
    second = RingBuffer(maxlen=100)
    for event in iter_events(read_capture(path)):
        second.append(republish(event))
    pd.testing.assert_frame_equal(second.to_dataframe(), frame)
