"""Keep tokens out of logs: ``?token=`` values, ``Authorization`` headers, Bearer credentials."""

from __future__ import annotations

import logging
import re
from typing import Final

__all__ = ["RedactTokens", "redact"]


_TOKEN_PARAM: Final = re.compile(
    r"(?i)(\b(?:access_|api_|id_)?(?:token|key)=)[^&#\s\"',;]+",
)
_AUTHORIZATION: Final = re.compile(
    r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)[^\s\"',;]+",
)
_BEARER: Final = re.compile(r"(?i)(\bbearer\s+)[^\s\"',;]+")


def redact(text: str) -> str:
    """Replace tokens in ``text`` with ``***``.

    Covers ``token=``/``access_token=``/``api_key=`` parameters in URLs, paths
    and query strings, ``Authorization:`` header values (with or without a
    scheme) and ``Bearer`` credentials anywhere. Idempotent.
    """
    text = _TOKEN_PARAM.sub(r"\1***", text)
    text = _AUTHORIZATION.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """A logging filter that applies :func:`redact` to each record's message.

    The message is formatted once with its arguments and replaced by the
    redacted text when that differs, which catches the request line and header
    fields websockets logs as separate ``%s`` arguments. Formatted tracebacks
    and stack info are redacted too. Attach it to the handlers (a filter on a
    logger does not see records propagated from its children).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; never drops it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
