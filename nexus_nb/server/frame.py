"""Server-to-client WebSocket text frames, built once and written to many transports."""

from __future__ import annotations

__all__ = ["text_frame"]


def text_frame(payload: bytes) -> bytes:
    """Wrap a UTF-8 ``payload`` in one final, unmasked text frame (RFC 6455 section 5.2).

    Servers never mask (section 5.1) and the server negotiates no extensions
    (``compression=None``), so the frame bytes are identical for every client:
    fan-out builds each event's frame once and writes the same bytes everywhere.
    Several frames queued for one client may leave in one ``write``; they remain
    separate WebSocket messages on the wire.

    Args:
        payload: The encoded message; must be valid UTF-8 (orjson output is).

    Returns:
        The frame header followed by ``payload``.
    """
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload
