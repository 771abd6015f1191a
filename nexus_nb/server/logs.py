"""Structured server logs: one JSON object per record, with the record's ``extra`` fields.

``nexus-nb serve --log-format json`` installs :class:`JsonFormatter` on stderr.
Every record passes :class:`~nexus_nb.server.redact.RedactTokens` first, so no
token reaches the output in either format.
"""

from __future__ import annotations

import logging
import sys
import time
from enum import StrEnum
from typing import Any, Final

import orjson

from nexus_nb.server.redact import RedactTokens

__all__ = ["JsonFormatter", "LogFormat", "configure"]

# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class LogFormat(StrEnum):
    """How the CLI writes server logs."""

    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """Format a record as one compact JSON line: time, level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as JSON; values orjson cannot encode become their ``str``."""
        entry: dict[str, Any] = {
            # UTC with a Z, like the protocol's timestamps.
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure(fmt: LogFormat = LogFormat.TEXT, level: int | str = logging.INFO) -> None:
    """Send ``nexus_nb`` and ``websockets`` logs to stderr in ``fmt`` (for the CLI).

    Library use (``await nnb.serve()`` in a notebook) never calls this: logging
    configuration belongs to the application.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactTokens())
    if fmt is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("nexus_nb", "websockets"):
        target = logging.getLogger(name)
        target.addHandler(handler)
        target.setLevel(level)
    # websockets logs every handshake failure at INFO with a traceback; keep it at warning.
    numeric = level if isinstance(level, int) else logging.getLevelNamesMapping()[level.upper()]
    logging.getLogger("websockets").setLevel(max(logging.WARNING, numeric))
