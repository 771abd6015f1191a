"""JWT bearer tokens (PyJWT): signature, ``exp``, ``sub`` and ``scopes``, as in the reference."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

import jwt

from nexus_nb.exceptions import AuthError
from nexus_nb.server.auth import INVALID_TOKEN, MISSING_TOKEN, Principal, Scopes, bearer_token

__all__ = ["JWTAuth"]


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
