"""Who may connect, and to which channels: API keys, JWTs, origins, TLS and log redaction.

The reference server reads ``Authorization: Bearer <token>`` and compares the
token with ``NEXUS_API_KEY``; browsers, which cannot set headers on a
WebSocket, send ``?token=`` instead. :class:`ApiKeyAuth` does the former in
constant time, :class:`JWTAuth` verifies the reference's JWT variant (``sub``
plus ``scopes``), and :class:`ChainAuth` tries both. Every refusal is an
:class:`~nexus_nb.exceptions.AuthError` whose reason never contains the token;
:func:`redact` and :class:`RedactTokens` keep tokens out of logs as well.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import ssl
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import jwt

from nexus_nb.exceptions import AuthError

__all__ = [
    "ApiKeyAuth",
    "Authenticator",
    "ChainAuth",
    "JWTAuth",
    "Principal",
    "RedactTokens",
    "Scopes",
    "bearer_token",
    "check_origin",
    "redact",
    "tls_context",
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


_JWT_REASONS: Final[tuple[tuple[type[jwt.PyJWTError], str], ...]] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidSignatureError, "token signature invalid"),
    (jwt.InvalidAlgorithmError, "token algorithm not allowed"),
    (jwt.InvalidAudienceError, "token audience invalid"),
    (jwt.InvalidIssuerError, "token issuer invalid"),
    (jwt.exceptions.InvalidSubjectError, "token claim invalid: sub"),
    (jwt.InvalidIssuedAtError, "token claim invalid: iat"),
)


def _scope_entries(claims: Mapping[str, Any]) -> list[str] | None:
    raw = claims.get("scopes", claims.get("scope"))
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list) and all(isinstance(entry, str) for entry in raw):
        return raw
    raise AuthError("token claim invalid: scopes")


def _scopes_from_claims(claims: Mapping[str, Any]) -> Scopes:
    entries = _scope_entries(claims)
    if entries is None:
        # No scopes claim: the reference's read-only client.
        return Scopes()
    subscribe, publish = set(), set()
    for entry in entries:
        kind, _, channel = entry.partition(":")
        if kind == "subscribe" and channel:
            subscribe.add(channel)
        elif kind == "publish" and channel:
            publish.add(channel)
    return Scopes(subscribe=frozenset(subscribe), publish=frozenset(publish))


class JWTAuth:
    """Accept clients bearing a JWT that PyJWT verifies, with ``exp`` and ``sub``.

    The ``scopes`` claim (or OAuth's ``scope``), a list or a space-separated
    string of ``subscribe:<pattern>`` and ``publish:<pattern>`` entries, becomes
    the principal's :class:`Scopes`; other entries are ignored. Without the
    claim the client may subscribe to everything and publish nothing; with it,
    only what it lists.
    """

    def __init__(
        self,
        secret_or_key: str | bytes,
        *,
        algorithms: Collection[str] = ("HS256",),
        audience: str | Collection[str] | None = None,
        issuer: str | None = None,
        leeway: float = 0.0,
    ) -> None:
        """Configure verification.

        Args:
            secret_or_key: The HMAC secret, or the PEM public key for RS/ES/EdDSA.
            algorithms: Accepted ``alg`` values; ``none`` is never accepted.
            audience: Required ``aud``; when ``None`` a token carrying ``aud`` is refused.
            issuer: Required ``iss``, or ``None`` not to check it.
            leeway: Clock skew tolerated on ``exp``, ``nbf`` and ``iat``, in seconds.

        Raises:
            ValueError: No algorithm, ``none`` among them, an HMAC secret shorter
                than its hash (32 bytes for HS256), or a negative leeway.
        """
        algs = list(algorithms)
        if not algs or any(alg.lower() == "none" for alg in algs):
            raise ValueError("algorithms must be non-empty and must not include 'none'")
        if leeway < 0:
            raise ValueError("leeway must be >= 0")
        for alg in algs:
            # RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
            bits = int(alg[2:]) if alg.upper() in ("HS256", "HS384", "HS512") else 0
            size = len(secret_or_key.encode() if isinstance(secret_or_key, str) else secret_or_key)
            if size * 8 < bits:
                raise ValueError(f"an {alg} secret needs at least {bits // 8} bytes")
        self._key = secret_or_key
        self._algorithms = algs
        self._audience = audience if audience is None or isinstance(audience, str) else [*audience]
        self._issuer = issuer
        self._leeway = leeway

    def __repr__(self) -> str:
        return f"JWTAuth(algorithms={self._algorithms!r})"

    def authenticate(self, headers: Mapping[str, str], token: str | None) -> Principal:
        """Authenticate by JWT; see :meth:`Authenticator.authenticate`.

        Raises:
            AuthError: ``missing authentication token``, ``invalid token`` (not a
                JWT), ``token unsigned (alg none)``, ``token algorithm not allowed``,
                ``token expired``, ``token not yet valid``, ``token signature
                invalid``, ``token missing claim: <name>``, ``token audience
                invalid``, ``token issuer invalid`` or ``token claim invalid: <name>``.
        """
        candidate = bearer_token(headers, token)
        if candidate is None:
            raise AuthError(MISSING_TOKEN)
        claims = self._decode(candidate)
        return Principal(str(claims["sub"]), _scopes_from_claims(claims))

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise AuthError(INVALID_TOKEN) from None
        if not isinstance(alg, str):
            raise AuthError(INVALID_TOKEN)
        if alg.lower() == "none":
            raise AuthError("token unsigned (alg none)")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token missing claim: {exc.claim}") from None
        except jwt.PyJWTError as exc:
            # `from None`: PyJWT's messages are safe, but the chain is not ours to expose.
            reason = next((r for kind, r in _JWT_REASONS if isinstance(exc, kind)), None)
            raise AuthError(reason or INVALID_TOKEN) from None
        return claims


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
