"""Server-side TLS contexts for ``wss://``."""

from __future__ import annotations

import os
import ssl

__all__ = ["tls_context"]


def tls_context(
    certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str] | None = None
) -> ssl.SSLContext:
    """Build a server-side TLS context (TLS 1.2 or later) for ``wss://``.

    Args:
        certfile: PEM certificate chain, leaf first (may also hold the key).
        keyfile: PEM private key, or ``None`` when ``certfile`` holds it.

    Raises:
        OSError: A file cannot be read.
        ssl.SSLError: The certificate or key is invalid or they do not match.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context
