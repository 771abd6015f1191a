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
_SEPARATORS = np.frombuffer(b"--T::.Z", dtype=np.uint8)


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

    One shape check over the bytes, then numpy's own ISO-8601 parser (in C, which
    also checks ranges): ~60 ns per event in batches of 1000, a sixth of
    :func:`parse_timestamp` called per event.

    Returns:
        The nanoseconds, or ``None`` when any item is not text of exactly that
        shape and a valid time (the caller then parses one by one). Never raises.
    """
    try:
        if not texts or set(map(len, texts)) != {24}:
            return None
        # One join and one encode: a sixth of what np.array(texts, "S24") costs.
        joined = "".join(texts).encode("ascii")
    except (TypeError, UnicodeEncodeError):  # not all text
        return None
    raw = np.frombuffer(joined, dtype="S24")
    chars = raw.view(np.uint8).reshape(-1, 24)
    if not (chars[:, _SEPARATOR_AT] == _SEPARATORS).all():
        return None
    try:
        # Without the "Z": numpy reads the rest as a naive time, which is UTC here.
        millis = raw.astype("S23").astype("datetime64[ms]")
    except ValueError:
        return None
    nanos: npt.NDArray[np.int64] = millis.astype(np.int64) * 1_000_000
    return nanos


def format_timestamp(nanos: int) -> str:
    """Format int nanoseconds since the epoch as JavaScript's ``toISOString()`` does.

    Sub-millisecond digits are floored away, as a JavaScript ``Date`` would.

    Raises:
        OverflowError: The time is outside years 1-9999.
    """
    moment = _EPOCH_NAIVE + timedelta(milliseconds=nanos // 1_000_000)
    return moment.isoformat(timespec="milliseconds") + "Z"
