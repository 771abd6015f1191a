"""Who may connect, and to which channels: API keys, scopes and the authenticator seam.

The reference server reads ``Authorization: Bearer <token>`` and compares the
token with ``NEXUS_API_KEY``; browsers, which cannot set headers on a
WebSocket, send ``?token=`` instead. :class:`ApiKeyAuth` does the former in
constant time, :class:`~nexus_nb.server.jwtauth.JWTAuth` verifies the
reference's JWT variant (``sub`` plus ``scopes``), and :class:`ChainAuth` tries
several. Every refusal is an :class:`~nexus_nb.exceptions.AuthError` whose reason
never contains the token; :mod:`nexus_nb.server.redact` keeps tokens out of logs.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from nexus_nb.exceptions import AuthError

__all__ = [
    "ApiKeyAuth",
    "Authenticator",
    "ChainAuth",
    "Principal",
    "Scopes",
    "bearer_token",
]

MISSING_TOKEN: Final = "missing authentication token"
INVALID_TOKEN: Final = "invalid token"
# Refusals that say only "this credential is not ours"; ChainAuth prefers any other.
_GENERIC_REASONS: Final = (MISSING_TOKEN, INVALID_TOKEN)


def _matches(patterns: Iterable[str], channel: str) -> bool:
    for pattern in patterns:
        if pattern in ("*", channel):
            return True
        if pattern.endswith(".*") and channel.startswith(pattern[:-1]):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Scopes:
    """The channels a credential may subscribe to and publish on.

    Entries are channel names, ``"*"`` (every channel) or ``"prefix.*"`` (every
    channel under ``prefix.``, at any depth).

    Attributes:
        subscribe: Channels that may be subscribed to; ``None`` means all.
        publish: Channels that may be published on; empty means none.
    """

    subscribe: frozenset[str] | None = None
    publish: frozenset[str] = frozenset()


#: What the server's own API key may do: subscribe to and publish on everything.
FULL_ACCESS: Final = Scopes(subscribe=None, publish=frozenset({"*"}))


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated client: who it is and what it may do.

    Attributes:
        subject: A stable name for logs and metrics (the JWT ``sub``, or
            ``api-key:<n>`` for the n-th configured key); never the token.
        scopes: What the client may subscribe to and publish on.
    """

    subject: str
    scopes: Scopes

    def can_subscribe(self, channel: str) -> bool:
        """Whether this principal may subscribe to ``channel``."""
        allowed = self.scopes.subscribe
        return allowed is None or _matches(allowed, channel)

    def can_publish(self, channel: str) -> bool:
        """Whether this principal may publish events on ``channel``."""
        return _matches(self.scopes.publish, channel)


class Authenticator(Protocol):
    """Anything that turns a handshake's credentials into a :class:`Principal`."""

    def authenticate(self, headers: Mapping[str, str], token: str | None) -> Principal:
        """Authenticate one opening handshake.

        Args:
            headers: The request headers (any case).
            token: The ``?token=`` query parameter, or ``None``; an
                ``Authorization: Bearer`` header takes precedence over it.

        Raises:
            AuthError: The credentials are missing or refused; the reason is
                safe to send to the client and to log.
        """
        ...


def _header(headers: Mapping[str, str], name: str) -> str | None:
    found: list[str] = []
    for key in headers:
        if key.lower() == name:
            try:
                found.append(headers[key])
            except LookupError:
                # websockets' Headers raises MultipleValuesError for repeated fields.
                raise AuthError(f"multiple {name} headers") from None
    if len(found) > 1:
        raise AuthError(f"multiple {name} headers")
    return found[0] if found else None


def bearer_token(headers: Mapping[str, str], query_token: str | None) -> str | None:
    """Extract the client's token from ``Authorization`` or, failing that, ``?token=``.

    ``Authorization: Bearer <t>`` (scheme in any case) yields ``t``. A header
    without a scheme is taken whole, as the reference's ``replace('Bearer ', '')``
    does; an empty one, or one with another scheme (``Basic``), is ignored.

    Args:
        headers: The request headers; ``Authorization`` is looked up case-insensitively.
        query_token: The ``token`` query parameter, or ``None``.

    Returns:
        The token, or ``None`` when the request carries none (empty counts as none).

    Raises:
        AuthError: The request repeats the ``Authorization`` header.
    """
    value = _header(headers, "authorization")
    if value is not None:
        scheme, space, credentials = value.strip().partition(" ")
        if scheme.lower() == "bearer":
            if credentials.strip():
                return credentials.strip()
        elif scheme and not space:
            return scheme
    return query_token or None


class ApiKeyAuth:
    """Accept clients whose token equals one of the configured API keys.

    Every key is compared with :func:`hmac.compare_digest`, all of them on every
    attempt, so timing reveals neither which key matched nor how much of one.
    """

    def __init__(self, keys: Mapping[str, Scopes] | str) -> None:
        """Configure the accepted keys.

        Args:
            keys: Key -> scopes, or a single key (the server's own) that may
                subscribe to and publish on every channel.

        Raises:
            ValueError: No key, or an empty key.
        """
        table = {keys: FULL_ACCESS} if isinstance(keys, str) else dict(keys)
        if not table or not all(table):
            raise ValueError("ApiKeyAuth needs at least one non-empty key")
        self._keys = [(key.encode(), scopes) for key, scopes in table.items()]

    def __repr__(self) -> str:
        return f"ApiKeyAuth(<{len(self._keys)} keys>)"

    def authenticate(self, headers: Mapping[str, str], token: str | None) -> Principal:
        """Authenticate by API key; see :meth:`Authenticator.authenticate`.

        Raises:
            AuthError: ``missing authentication token`` or ``invalid token``.
        """
        candidate = bearer_token(headers, token)
        if candidate is None:
            raise AuthError(MISSING_TOKEN)
        given = candidate.encode()
        matched: Principal | None = None
        for index, (key, scopes) in enumerate(self._keys, start=1):
            if hmac.compare_digest(given, key) and matched is None:
                matched = Principal(f"api-key:{index}", scopes)
        if matched is None:
            raise AuthError(INVALID_TOKEN)
        return matched


class ChainAuth:
    """Try several authenticators in order; the first that accepts wins.

    When all refuse, the most specific reason is raised: a verdict on the
    token (``token expired``) over ``invalid token`` over ``missing
    authentication token``, the earliest authenticator breaking ties.
    """

    def __init__(self, *authenticators: Authenticator) -> None:
        """Chain ``authenticators``, typically ``ApiKeyAuth`` then ``JWTAuth``.

        Raises:
            ValueError: No authenticator given.
        """
        if not authenticators:
            raise ValueError("ChainAuth needs at least one authenticator")
        self._chain = authenticators

    def __repr__(self) -> str:
        return f"ChainAuth({', '.join(map(repr, self._chain))})"

    def authenticate(self, headers: Mapping[str, str], token: str | None) -> Principal:
        """Authenticate with the first authenticator that accepts.

        Raises:
            AuthError: Every authenticator refused; the most specific reason.
        """
        refusals: list[AuthError] = []
        for authenticator in self._chain:
            try:
                return authenticator.authenticate(headers, token)
            except AuthError as exc:
                refusals.append(exc)
        rank = {reason: i for i, reason in enumerate(_GENERIC_REASONS)}
        raise max(refusals, key=lambda exc: rank.get(str(exc), len(rank)))
