"""Parse and format event times: ISO-8601 text <-> int nanoseconds since the epoch, UTC.

The parsers have a fast path for JavaScript's ``toISOString()`` shape
(``YYYY-MM-DDTHH:MM:SS.sssZ``, what the Nexus server sends) and fall back to
:meth:`datetime.fromisoformat` for any other ISO-8601 text (offsets honoured,
naive times taken as UTC, precision microseconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

__all__ = ["format_timestamp", "parse_timestamp", "parse_timestamps"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
# Memo of "YYYY-MM-DDTHH:MM:SS" -> ns. Live events share their second, so a hit
# costs one slice and one dict lookup; the bound keeps replays of long spans flat.
_SECOND_CACHE: dict[str, int] = {}
_SECOND_CACHE_MAX = 4096
_SEPARATOR_AT = [4, 7, 10, 13, 16, 19, 23]
_SEPARATORS = np.array([ord(c) for c in "--T::.Z"], dtype=np.int64)
_DIGIT_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22]

_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def parse_timestamp(text: str) -> int | None:
    """Parse an ISO-8601 timestamp into int nanoseconds since the epoch, UTC.

    Args:
        text: ``YYYY-MM-DDTHH:MM:SS.sssZ`` (fast path, ~0.3 µs) or any text
            :meth:`datetime.fromisoformat` accepts (slower, ~1 µs); a naive time
            is taken as UTC.

    Returns:
        The nanoseconds, or ``None`` when the text is not a timestamp. Never raises.
    """
    if len(text) == 24 and text[23] == "Z" and text[19] == ".":
        millis = text[20:23]
        if millis.isdigit() and millis.isascii():
            prefix = text[:19]
            base = _SECOND_CACHE.get(prefix)
            if base is None:
                base = _parse_slow(prefix)
                if base is None:
                    return None
                if len(_SECOND_CACHE) >= _SECOND_CACHE_MAX:
                    _SECOND_CACHE.clear()
                _SECOND_CACHE[prefix] = base
            return base + int(millis) * 1_000_000
    return _parse_slow(text)


def _parse_slow(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except (ValueError, TypeError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    nanos = (moment - _EPOCH) // timedelta(microseconds=1) * 1000
    return nanos if _INT64_MIN <= nanos <= _INT64_MAX else None


def parse_timestamps(texts: Sequence[str]) -> npt.NDArray[np.int64] | None:
    """Parse many ``YYYY-MM-DDTHH:MM:SS.sssZ`` timestamps at once into int ns, UTC.

    Vectorized over the characters: ~0.1 µs per event in batches of 1024, a
    quarter of :func:`parse_timestamp` called per event.

    Returns:
        The nanoseconds, or ``None`` when any text is not exactly that shape and a
        valid time (the caller then parses one by one). Never raises.
    """
    if not texts or set(map(len, texts)) != {24}:
        return None
    try:
        raw = "".join(texts).encode("ascii")
    except UnicodeEncodeError:
        return None
    codes = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 24).astype(np.int64)
    if not (codes[:, _SEPARATOR_AT] == _SEPARATORS).all():
        return None
    digits = codes[:, _DIGIT_AT] - 48
    if ((digits < 0) | (digits > 9)).any():
        return None
    # Digits as rows: each field is a few whole-row operations (no BLAS, no threads).
    d = np.ascontiguousarray(digits.T)
    year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3]
    month, day, hour, minute, second = (d[i] * 10 + d[i + 1] for i in range(4, 14, 2))
    millis = d[14] * 100 + d[15] * 10 + d[16]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    month_days = _MONTH_DAYS[np.where(month_ok, month, 1)] + (leap & (month == 2))
    if not (
        month_ok.all()
        and ((day >= 1) & (day <= month_days)).all()
        and (hour < 24).all()
        and (minute < 60).all()
        and (second < 60).all()
    ):
        return None
    # Days from the civil date (H. Hinnant's algorithm, proleptic Gregorian).
    shifted = year - (month <= 2)
    era = shifted // 400
    year_of_era = shifted - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146_097 + day_of_era - 719_468
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second
    nanos: npt.NDArray[np.int64] = (seconds * 1000 + millis) * 1_000_000
    return nanos


def format_timestamp(nanos: int) -> str:
    """Format int nanoseconds since the epoch as JavaScript's ``toISOString()`` does.

    Sub-millisecond digits are floored away, as a JavaScript ``Date`` would.

    Raises:
        OverflowError: The time is outside years 1-9999.
    """
    moment = _EPOCH_NAIVE + timedelta(milliseconds=nanos // 1_000_000)
    return moment.isoformat(timespec="milliseconds") + "Z"
