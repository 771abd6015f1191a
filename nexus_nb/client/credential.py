"""How a client presents its key: the ``NEXUS_API_KEY`` default, a header or ``?token=``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlencode, urlsplit, urlunsplit

__all__ = ["ENV_API_KEY", "api_key_from_env", "auth_url", "handshake_target"]

#: The environment variable a key defaults to, for the client, the session and the CLI.
ENV_API_KEY: Final = "NEXUS_API_KEY"


def api_key_from_env(api_key: str | None = None) -> str | None:
    """``api_key`` when given, else ``$NEXUS_API_KEY``, else ``None`` (send no key).

    The one place the client side reads the key from the environment:
    ``nnb.connect`` and the command line call it. :class:`~nexus_nb.client.Client`
    does not, so that ``api_key=None`` there always means "send no key".
    """
    return api_key if api_key is not None else os.environ.get(ENV_API_KEY)


def auth_url(url: str, api_key: str) -> str:
    """``url`` with ``?token=<api_key>`` added, as the reference browser client sends it."""
    parts = urlsplit(url)
    token = urlencode({"token": api_key})
    query = f"{parts.query}&{token}" if parts.query else token
    return urlunsplit(parts._replace(query=query))


def handshake_target(
    url: str,
    api_key: str | None,
    *,
    token_in_query: bool,
    headers: Mapping[str, str] | None,
) -> tuple[str, dict[str, str]]:
    """The URL to open and the handshake headers that carry ``api_key``.

    ``Authorization: Bearer <key>`` as the reference Node client sends it, or
    ``?token=<key>`` (``token_in_query``) as the reference browser client does.
    """
    all_headers = dict(headers or {})
    if api_key is None:
        return url, all_headers
    if token_in_query:
        return auth_url(url, api_key), all_headers
    all_headers["Authorization"] = f"Bearer {api_key}"
    return url, all_headers
