"""Parsing ISO-8601 event times into int nanoseconds (UTC) and formatting them back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_nb.columnar import timestamp
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


def _one_by_one(texts: list[str]) -> list[int | None]:
    return [parse_timestamp(text) for text in texts]


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-29T23:59:59.999Z",  # leap year
        "2000-02-29T00:00:00.000Z",  # divisible by 400: leap
        "1900-02-28T12:00:00.000Z",
        "1970-01-01T00:00:00.000Z",
        "1969-12-31T23:59:59.999Z",
        "2262-04-11T23:47:16.854Z",  # the last millisecond within int64 ns
        "1677-09-21T00:12:44.000Z",  # the first whole second within int64 ns
    ],
)
def test_parse_timestamps_of_edge_times_agrees_with_parse_timestamp(text: str) -> None:
    expected = _one_by_one([text])
    for texts in ([text], [text] * 3, [TS, text], [text, TS, text]):
        parsed = parse_timestamps(texts)
        assert parsed is not None
        assert parsed.tolist() == _one_by_one(texts)
    assert expected[0] is not None


@pytest.mark.parametrize(
    "text",
    [
        "2025-02-29T00:00:00.000Z",  # not a leap year
        "2100-02-29T00:00:00.000Z",  # divisible by 100, not by 400
        "2025-04-31T00:00:00.000Z",
        "2025-00-10T00:00:00.000Z",
        "2025-11-00T00:00:00.000Z",
        "2025-11-03T23:59:60.000Z",  # no leap second, as in datetime
        "2025-11-03T01:60:00.000Z",
        "0000-01-01T00:00:00.000Z",  # numpy reads year 0; datetime has none
        " 025-11-03T01:54:00.000Z",  # numpy reads a sign or a blank in the year
        "-025-11-03T01:54:00.000Z",
        "2025-11-03T01:54:0a.000Z",
        "2025-11-03T01:54:00.0 0Z",
        "2025-11-03T01:54:00|000Z",
        "2025-11-03 01:54:00.000Z",  # parse_timestamp reads it, not this shape
        "0001-01-01T00:00:00.000Z",  # outside int64 ns
        "9999-12-31T23:59:59.999Z",
        "2262-04-11T23:47:16.855Z",
        "1677-09-21T00:12:43.999Z",
    ],
)
def test_parse_timestamps_of_an_invalid_time_returns_none(text: str) -> None:
    assert parse_timestamps([text]) is None
    assert parse_timestamps([TS, text]) is None
    assert parse_timestamps([TS] * 5 + [text]) is None


@pytest.mark.parametrize(
    "texts",
    [
        [],
        [TS[:-1], "Z" + TS],  # the lengths add up, the items are not 24 long
        [TS + "|" + TS],
        [TS, TS + "|"],
        [TS, "é" * 24],
    ],
)
def test_parse_timestamps_of_misshapen_batches_returns_none(texts: list[str]) -> None:
    assert parse_timestamps(texts) is None


def test_parse_timestamp_beyond_int64_nanoseconds_returns_none() -> None:
    assert parse_timestamp("2262-04-11T23:47:16.854Z") == 2**63 - 1 - 775_807
    assert parse_timestamp("2262-04-11T23:47:16.855Z") is None


@given(
    st.lists(
        st.datetimes(min_value=datetime(1678, 1, 1), max_value=datetime(2261, 12, 31)),
        min_size=1,
        max_size=30,
    ),
    st.booleans(),
)
def test_parse_timestamps_of_any_batch_agrees_with_parse_timestamp(
    moments: list[datetime], one_second: bool
) -> None:
    if one_second:  # the shared-second path
        moments = [moments[0].replace(microsecond=m.microsecond) for m in moments]
    texts = [m.isoformat(timespec="milliseconds") + "Z" for m in moments]
    parsed = parse_timestamps(texts)
    assert parsed is not None
    assert parsed.tolist() == _one_by_one(texts)


@given(st.lists(st.text(alphabet="0123456789-:T.Z |", min_size=23, max_size=25), min_size=1))
def test_parse_timestamps_of_random_text_is_none_or_agrees(texts: list[str]) -> None:
    parsed = parse_timestamps(texts)
    if parsed is not None:
        assert parsed.tolist() == _one_by_one(texts)


def test_threads_parsing_different_seconds_at_once_each_get_their_own_times() -> None:
    # A stream's reader thread and the kernel's parse at the same time, through one memo.
    texts = {
        n: [format_timestamp(TS_NS + (n * 10_000 + s) * 1_000_000_000) for s in range(5_000)]
        for n in range(4)
    }
    start = threading.Barrier(4, timeout=10)
    got: dict[int, list[int | None]] = {}

    def parse(n: int) -> None:
        start.wait()
        got[n] = [parse_timestamp(text) for text in texts[n]]

    threads = [threading.Thread(target=parse, args=(n,)) for n in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n in texts:
        assert got[n] == [TS_NS + (n * 10_000 + s) * 1_000_000_000 for s in range(5_000)]


def test_two_threads_missing_the_memo_at_once_each_get_their_own_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both threads stop inside their parse of a new second until the other is
    # there too, so their memo updates race; each still gets its own time.
    both_inside = threading.Barrier(2, timeout=10)
    timestamp._second.cache_clear()  # both must miss
    parse_slow = timestamp._parse_slow

    def meeting(text: str) -> int | None:
        if threading.current_thread().name.startswith("parser"):
            both_inside.wait()
        return parse_slow(text)

    monkeypatch.setattr(timestamp, "_parse_slow", meeting)
    texts = {
        name: format_timestamp(TS_NS + offset * 1_000_000_000 + 7_000_000)
        for name, offset in (("parser-a", 1001), ("parser-b", 2002))
    }
    got: dict[str, int | None] = {}
    threads = [
        threading.Thread(
            target=lambda n=name: got.update({n: parse_timestamp(texts[n])}), name=name
        )
        for name in texts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert got == {
        "parser-a": TS_NS + 1001 * 1_000_000_000 + 7_000_000,
        "parser-b": TS_NS + 2002 * 1_000_000_000 + 7_000_000,
    }
    assert {name: parse_timestamp(text) for name, text in texts.items()} == got
