"""The live newest-row-per-group view equals pandas on the same events."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_nb.buffer import RingBuffer

T0 = pd.Timestamp("2025-11-03T01:54:00Z")

updates = st.lists(
    st.tuples(
        st.integers(0, 5000),
        st.sampled_from(["t1", "t2", "t3", "t4", None]),
        st.sampled_from(["queued", "running", "done"]),
    ),
    min_size=1,
    max_size=50,
)


def message(ms: int, task: str | None, state: str) -> dict[str, Any]:
    stamp = (T0 + pd.Timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")
    data: dict[str, Any] = {"state": state, "ms": ms}
    if task is not None:
        data["task_id"] = task
    return {"type": "event", "channel": "tasks", "timestamp": stamp, "data": data}


@settings(max_examples=60, deadline=None)
@given(rows=updates, max_groups=st.integers(1, 5), created_after=st.integers(0, 50))
def test_latest_equals_pandas_last_row_per_group_with_eviction(
    rows: list[tuple[int, str | None, str]], max_groups: int, created_after: int
) -> None:
    buf = RingBuffer("tasks")
    for row in rows[:created_after]:
        buf.append(message(*row))
    view = buf.latest(by="task_id", max_groups=max_groups)
    for row in rows[created_after:]:
        buf.append(message(*row))
        len(buf)
    frame = buf.to_dataframe()
    if "task_id" not in frame:
        assert len(view) == 0
        return
    grouped = frame.dropna(subset=["task_id"])
    want = grouped.drop_duplicates("task_id", keep="last")
    # Groups ordered by their last update; the oldest-updated beyond the bound leave.
    want = want.iloc[len(want) - min(max_groups, len(want)) :]
    got = view.to_dataframe()
    assert got["task_id"].tolist() == want["task_id"].astype(str).tolist()
    assert got["state"].tolist() == want["state"].astype(str).tolist()
    assert got["timestamp"].tolist() == want["timestamp"].tolist()
    assert view.ungrouped == sum(1 for _, task, _ in rows if task is None)
    assert view.evicted >= grouped["task_id"].nunique() - max_groups


def test_latest_follows_the_stream_and_is_a_source_for_a_table() -> None:
    from nexus_nb.widgets.source import Source

    buf = RingBuffer("tasks")
    view = buf.latest(by="task_id")
    assert isinstance(view, Source)
    buf.append(message(0, "t1", "queued"))
    buf.append(message(5, "t2", "queued"))
    buf.append(message(9, "t1", "done"))
    first, data = view.read(["task_id", "state"], start=view.appended - 10)
    assert data["task_id"].tolist() == ["t2", "t1"]
    assert data["state"].tolist() == ["queued", "done"]
    assert first == view.appended - 2


def test_latest_without_a_group_column_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one group column"):
        RingBuffer("tasks").latest(by=[])
