"""Parsing ISO-8601 event times into int nanoseconds (UTC) and formatting them back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_nb.columnar.timestamp import format_timestamp, parse_timestamp, parse_timestamps

TS = "2025-11-03T01:54:00.000Z"
TS_NS = 1_762_134_840_000_000_000


def test_parse_timestamp_reads_the_to_iso_string_shape() -> None:
    assert parse_timestamp(TS) == TS_NS
    assert parse_timestamp("2025-11-03T01:54:00.123Z") == TS_NS + 123_000_000


def test_parse_timestamp_honours_offsets_and_microseconds_on_the_slow_path() -> None:
    assert parse_timestamp("2025-11-03T03:54:00.000001+02:00") == TS_NS + 1000
    assert parse_timestamp("2025-11-03T01:54:00") == TS_NS


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2025-13-03T01:54:00.000Z",
        "2025-11-03T01:54:00.0a0Z",
        "2025-11-03T01:54:61.000Z",
    ],
)
def test_parse_timestamp_of_garbage_returns_none(text: str) -> None:
    assert parse_timestamp(text) is None


@given(st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2200, 1, 1)))
def test_format_then_parse_gives_the_time_floored_to_milliseconds(moment: datetime) -> None:
    nanos = (moment.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
    exact = round(nanos * 1e6) * 1000
    text = format_timestamp(exact)
    assert len(text) == 24
    assert text.endswith("Z")
    assert parse_timestamp(text) == exact - exact % 1_000_000


def test_format_timestamp_matches_javascript_to_iso_string() -> None:
    assert format_timestamp(TS_NS + 45_999_999) == "2025-11-03T01:54:00.045Z"
    assert format_timestamp(-1) == "1969-12-31T23:59:59.999Z"


@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=20))
def test_parse_timestamps_agrees_with_parse_timestamp(nanos: list[int]) -> None:
    texts = [format_timestamp(n) for n in nanos if -(10**18) * 5 < n < 10**18 * 7]
    if texts:
        parsed = parse_timestamps(texts)
        assert parsed is not None
        assert parsed.tolist() == [parse_timestamp(t) for t in texts]


@pytest.mark.parametrize("item", [None, 5, TS.encode(), list(TS), ["x"] * 24])
def test_parse_timestamps_of_anything_but_text_returns_none(item: object) -> None:
    assert parse_timestamps([TS, item]) is None  # type: ignore[list-item]


@pytest.mark.parametrize(
    "text",
    ["2025-02-29T00:00:00.000Z", "2025-11-03T24:00:00.000Z", "2025-11-03T01:54:00.000+", "short"],
)
def test_parse_timestamps_of_any_odd_text_returns_none(text: str) -> None:
    assert parse_timestamps([TS, text]) is None
    assert parse_timestamps(["2024-02-29T00:00:00.000Z"]) is not None
