"""The ``/metrics`` document in the Prometheus text exposition format (version 0.0.4).

``Server.metrics()`` returns nested JSON with camelCase keys; this renders the
same numbers for a Prometheus scraper: ``nexus_`` plus the key in snake case,
counters suffixed ``_total``, per-channel numbers as a ``channel`` label, the
shared log's numbers under ``nexus_log_``, and text values (``epoch``, ``demo``,
the log's ``state``) as labels of a constant ``1`` gauge, the usual ``info`` idiom.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = ["CONTENT_TYPE", "render", "wants_prometheus"]

#: The ``Content-Type`` of the text exposition format.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

#: Keys whose values go up and down; every other number is a counter.
GAUGES: Final = frozenset(
    {"activeConnections", "uptime", "maxQueuedBytes", "pending", "subscriptions"}
)

_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_INVALID: Final = re.compile(r"[^a-zA-Z0-9_]")


def _name(key: str) -> str:
    return _INVALID.sub("_", _CAMEL.sub("_", key).lower())


def _label(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return f'"{text}"'


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _family(
    prefix: str, key: str, samples: list[tuple[str, float]], help_text: str
) -> Iterator[str]:
    gauge = key in GAUGES
    name = f"{prefix}_{_name(key)}" + ("" if gauge else "_total")
    yield f"# HELP {name} {help_text}"
    yield f"# TYPE {name} {'gauge' if gauge else 'counter'}"
    for labels, value in samples:
        yield f"{name}{labels} {_number(value)}"


def _lines(metrics: Mapping[str, Any], prefix: str) -> Iterator[str]:
    info: dict[str, object] = {}
    per_channel: dict[str, list[tuple[str, float]]] = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int | float):
            yield from _family(prefix, key, [("", value)], f"{key} from /metrics")
        elif key == "channels" and isinstance(value, Mapping):
            for channel, counts in value.items():
                for count_key, count in counts.items():
                    sample = (f"{{channel={_label(channel)}}}", count)
                    per_channel.setdefault(count_key, []).append(sample)
        elif isinstance(value, Mapping):
            yield from _lines(value, f"{prefix}_{_name(key)}")
        elif value is not None:
            info[_name(key)] = value
    for count_key, samples in per_channel.items():
        yield from _family(prefix, count_key, samples, f"events {count_key} per channel")
    if info:
        labels = ",".join(f"{k}={_label(v)}" for k, v in info.items())
        yield f"# HELP {prefix}_info text values from /metrics"
        yield f"# TYPE {prefix}_info gauge"
        yield f"{prefix}_info{{{labels}}} 1"


def render(metrics: Mapping[str, Any], *, prefix: str = "nexus") -> bytes:
    """Render a ``/metrics`` document as Prometheus text.

    Args:
        metrics: ``Server.metrics()``: numbers, text, and nested objects of those
            (``channels`` maps channel -> counts; other objects become a prefix).
        prefix: The metric name prefix.

    Returns:
        UTF-8 text, one sample per line, ending with a newline.
    """
    return ("\n".join(_lines(metrics, prefix)) + "\n").encode()


def wants_prometheus(query: str, accept: str | None) -> bool:
    """Whether a ``/metrics`` request asks for Prometheus text, not JSON.

    True for ``?format=prometheus``, or an ``Accept`` header naming ``text/plain``
    or OpenMetrics (what Prometheus sends) without ``application/json`` first.
    """
    if "format=prometheus" in query:
        return True
    if "format=json" in query or not accept:
        return False
    accept = accept.lower()
    found = [accept.find(t) for t in ("text/plain", "application/openmetrics-text")]
    plain = min((at for at in found if at >= 0), default=-1)
    if plain < 0:
        return False
    json_at = accept.find("application/json")
    return json_at < 0 or plain < json_at
