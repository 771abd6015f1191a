"""Browser ``Origin`` allow-lists, against cross-site WebSocket hijacking."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final
from urllib.parse import urlsplit

__all__ = ["check_origin"]


_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin_key(origin: str) -> tuple[str, str, int | None] | str | None:
    text = origin.strip().rstrip("/")
    if text.lower() == "null":
        return "null"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or parts.path or parts.query or parts.username:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname.lower(), _DEFAULT_PORTS.get(scheme) if port is None else port


def check_origin(origin: str | None, allowed: Collection[str] | None) -> bool:
    """Whether a handshake's ``Origin`` header is acceptable.

    Args:
        origin: The ``Origin`` header, or ``None`` when absent (non-browser
            clients send none, and are allowed).
        allowed: Accepted origins as ``scheme://host[:port]``, or ``None`` for
            any. Matching is exact on scheme, host (case-insensitive) and port
            (a default port may be written or omitted); ``"null"`` must be
            listed to allow sandboxed pages.

    Returns:
        ``True`` when the origin is allowed; a malformed origin never is.
    """
    if allowed is None or origin is None:
        return True
    key = _origin_key(origin)
    return key is not None and any(_origin_key(entry) == key for entry in allowed)
