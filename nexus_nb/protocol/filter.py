"""Subscription filters with the reference's ``matchesFilters`` semantics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from nexus_nb.exceptions import ProtocolError
from nexus_nb.protocol.spec import ErrorCode, Limits

__all__ = ["Filter", "filter_text", "filter_value"]

_SCALARS = (str, int, float, bool, type(None))


def _key(value: object) -> object:
    # JSON strict equality: bools are not numbers, 1 == 1.0, strings by value.
    return ("b", value) if isinstance(value, bool) else value


@dataclass(frozen=True, slots=True)
class Filter:
    """A compiled subscription filter; :meth:`matches` is the reference's ``matchesFilters``.

    Build one with :meth:`compile`. An empty filter matches every event.
    """

    terms: tuple[tuple[str, frozenset[object]], ...]
    source: Mapping[str, Any] | None

    @classmethod
    def compile(cls, filters: object, limits: Limits | None = None) -> Filter:
        """Validate ``filters`` (a JSON object or ``None``) and compile it.

        Raises:
            ProtocolError: ``INVALID_FILTER`` when it is not an object of scalars or
                lists of scalars, or exceeds ``limits``.
        """
        limits = limits or Limits()
        if filters is None:
            return cls((), None)
        if not isinstance(filters, dict):
            raise ProtocolError(ErrorCode.INVALID_FILTER, "filters must be an object")
        if len(filters) > limits.max_filter_keys:
            raise ProtocolError(
                ErrorCode.INVALID_FILTER, f"at most {limits.max_filter_keys} filter keys"
            )
        terms = []
        for key, value in filters.items():
            values = value if isinstance(value, list) else [value]
            if len(values) > limits.max_filter_values:
                raise ProtocolError(
                    ErrorCode.INVALID_FILTER,
                    f"filter {key!r}: at most {limits.max_filter_values} values",
                )
            for item in values:
                if not isinstance(item, _SCALARS) or (
                    isinstance(item, float) and not math.isfinite(item)
                ):
                    raise ProtocolError(
                        ErrorCode.INVALID_FILTER,
                        f"filter {key!r}: values must be strings, numbers, booleans or null",
                    )
                if isinstance(item, str) and len(item) > limits.max_filter_value_length:
                    raise ProtocolError(
                        ErrorCode.INVALID_FILTER,
                        f"filter {key!r}: values longer than "
                        f"{limits.max_filter_value_length} characters",
                    )
            terms.append((key, frozenset(_key(v) for v in values)))
        return cls(tuple(sorted(terms, key=lambda t: t[0])), filters)

    def matches(self, data: Mapping[str, Any]) -> bool:
        """Whether the event payload ``data`` passes every term."""
        for key, allowed in self.terms:
            value = data.get(key, _MISSING)
            if isinstance(value, list | dict):
                return False
            if _key(value) not in allowed:
                return False
        return True

    @property
    def identity(self) -> tuple[tuple[str, frozenset[object]], ...]:
        """A hashable key equal for filters that select the same events."""
        return self.terms


_MISSING = object()


def filter_value(text: str) -> Any:
    """Read one filter value as a person types it (CLI ``--filter``, the channel controls).

    JSON scalars are typed (``3``, ``2.5``, ``true``, ``null``, ``"3"`` for the
    text 3), because filters compare with JSON strict equality and ``"3"`` does
    not match the number 3; anything else is the text itself.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, _SCALARS) else text


def filter_text(value: Any) -> str:
    """Write a filter value so that :func:`filter_value` reads it back."""
    if isinstance(value, str) and filter_value(value) == value:
        return value
    return orjson.dumps(value).decode()
