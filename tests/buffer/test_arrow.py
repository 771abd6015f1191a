"""Buffers, aggregates and captures export to Arrow and Polars; DuckDB queries them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from nexus_nb.buffer import RingBuffer
from nexus_nb.capture import read_capture
from nexus_nb.exceptions import CaptureError

T0 = pd.Timestamp("2025-11-03T01:54:00Z")


def message(ms: int, model: str, latency: float | None, ok: bool = True) -> dict[str, Any]:
    stamp = (T0 + pd.Timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")
    data: dict[str, Any] = {"model": model, "ok": ok, "tokens": ms}
    if latency is not None:
        data["latency_ms"] = latency
    return {"type": "event", "channel": "ai.requests", "timestamp": stamp, "data": data}


def filled(n: int = 3000) -> RingBuffer:
    buf = RingBuffer("ai.requests")
    buf.extend(
        message(i, ["gpt-4", "claude"][i % 2], None if i % 7 == 0 else float(i % 100))
        for i in range(n)
    )
    return buf


def test_to_arrow_has_the_frames_columns_order_and_values() -> None:
    buf = filled()
    frame = buf.to_dataframe()
    table = buf.to_arrow()
    assert table.column_names == list(frame.columns)
    assert table.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert pa.types.is_dictionary(table.schema.field("model").type)
    back = table.to_pandas()
    pd.testing.assert_frame_equal(back, frame, check_categorical=False)
    assert table.column("latency_ms").null_count == int(frame["latency_ms"].isna().sum())


def test_to_arrow_allocates_only_bitmaps_and_dictionaries() -> None:
    buf = filled(30_000)
    buf.to_arrow()  # the first call may size Arrow's pool
    before = pa.total_allocated_bytes()
    table = buf.to_arrow()
    grown = pa.total_allocated_bytes() - before
    # The numbers (8 B per value per column) stay in the one copy the rows are read
    # into; Arrow adds validity bitmaps and bool bits (1/8 B per row) and dictionaries.
    assert table.num_rows == 30_000
    assert 0 < grown < table.num_rows


def _as_lists(table: pa.Table) -> dict[str, list[Any]]:
    return {name: table.column(name).to_pylist() for name in table.column_names}


@pytest.mark.parametrize(
    "select",
    [{}, {"last": 700}, {"last": "2s"}, {"since": "2025-11-03T01:54:03Z"}, {"last": 0}],
    ids=["all", "last-rows", "last-duration", "since", "none"],
)
def test_to_arrow_equals_the_frame_through_pandas_after_wrap_and_type_changes(
    select: dict[str, Any],
) -> None:
    buf = RingBuffer("ai.requests", maxlen=2000)
    for i in range(5000):  # wraps the ring twice
        event = message(i, ["gpt-4", "claude", "llama"][i % 3], None if i % 5 else float(i))
        if i % 11 == 0:
            event["data"]["ok"] = None
        if i == 4000:
            event["data"]["tokens"] = "many"  # int column turns to text
        buf.append(event)
    table = buf.to_arrow(**select)
    want = pa.Table.from_pandas(buf.to_dataframe(**select), preserve_index=False)
    assert table.column_names == want.column_names
    assert _as_lists(table) == _as_lists(want)
    for name in table.column_names:
        got_type, want_type = table.schema.field(name).type, want.schema.field(name).type
        if pa.types.is_dictionary(want_type):
            assert pa.types.is_dictionary(got_type), name
        else:
            assert got_type == want_type, name


def test_duckdb_queries_the_arrow_table_of_a_buffer() -> None:
    buf = filled()
    tbl = buf.to_arrow()  # noqa: F841 (DuckDB's replacement scan finds it by name)
    got = duckdb.sql(
        "select model::varchar as model, count(*) as n, avg(latency_ms) as mean"
        " from tbl group by 1 order by 1"
    ).df()
    frame = buf.to_dataframe()
    want = (
        frame.assign(model=frame["model"].astype(str))
        .groupby("model")
        .agg(n=("latency_ms", "size"), mean=("latency_ms", "mean"))
        .reset_index()
    )
    assert got["model"].tolist() == want["model"].astype(str).tolist()
    assert got["n"].tolist() == want["n"].tolist()
    np.testing.assert_allclose(got["mean"], want["mean"])


def test_to_polars_matches_the_frame() -> None:
    buf = filled()
    frame = buf.to_dataframe()
    polars_frame = buf.to_polars()
    assert isinstance(polars_frame, pl.DataFrame)
    assert polars_frame.columns == list(frame.columns)
    assert polars_frame["tokens"].to_list() == frame["tokens"].tolist()
    assert polars_frame["model"].cast(pl.Utf8).to_list() == frame["model"].astype(str).tolist()


def test_aggregates_export_the_same_way() -> None:
    buf = filled()
    lat = buf.resample("1s", by="model", agg={"latency_ms": ["mean", "p95"]})
    latest = buf.latest(by="model")
    for view in (lat, latest):
        frame = view.to_dataframe()
        table = view.to_arrow()
        assert table.column_names == list(frame.columns)
        pd.testing.assert_frame_equal(table.to_pandas(), frame)
        assert view.to_polars().shape == frame.shape
    con = duckdb.connect()
    con.register("lat", lat.to_arrow())
    worst = con.sql("select model, max(latency_ms_p95) from lat group by model").fetchall()
    assert {model for model, _ in worst} == {"gpt-4", "claude"}


def test_read_capture_returns_arrow_or_polars_on_request(tmp_path: Path) -> None:
    buf = filled(500)
    path = tmp_path / "capture.parquet"
    buf.to_parquet(path)
    frame = read_capture(path)
    table = read_capture(path, as_="arrow")
    assert isinstance(table, pa.Table)
    assert table.column_names == list(frame.columns)
    assert read_capture(path, as_="polars").shape == frame.shape
    with pytest.raises(CaptureError, match="as_ must be"):
        read_capture(path, as_="excel")  # type: ignore[arg-type]
