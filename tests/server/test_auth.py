"""Tests for nexus_nb.server.auth: API keys, JWTs, scopes, origins, redaction and TLS."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import ssl
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st
from websockets.datastructures import Headers

from nexus_nb.exceptions import AuthError
from nexus_nb.server.auth import ApiKeyAuth, ChainAuth, Principal, Scopes, bearer_token
from nexus_nb.server.jwtauth import JWTAuth
from nexus_nb.server.origin import check_origin
from nexus_nb.server.redact import RedactTokens, redact
from nexus_nb.server.tls import tls_context

SECRET_TOKEN = "sk-live-DO-NOT-LEAK-7f3a9c"
JWT_SECRET = "a-jwt-signing-secret-of-at-least-32-bytes!"


class CaseInsensitiveHeaders(dict[str, str]):
    """Headers the way websockets' ``Headers`` looks them up: any case."""

    def __getitem__(self, key: str) -> str:
        for name, value in self.items():
            if name.lower() == key.lower():
                return value
        raise KeyError(key)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_jwt(
    claims: Mapping[str, Any] | None = None,
    *,
    key: str = JWT_SECRET,
    algorithm: str = "HS256",
    drop: tuple[str, ...] = (),
) -> str:
    payload: dict[str, Any] = {"sub": "alice", "exp": int(time.time()) + 600}
    payload.update(claims or {})
    for name in drop:
        payload.pop(name)
    return jwt.encode(payload, key, algorithm=algorithm)


def refusal(authenticator: Any, headers: Mapping[str, str], token: str | None = None) -> str:
    with pytest.raises(AuthError) as info:
        authenticator.authenticate(headers, token)
    return str(info.value)


# -- scopes and principals ---------------------------------------------------


def test_default_scopes_allow_subscribing_everywhere_and_publishing_nowhere() -> None:
    principal = Principal("p", Scopes())
    assert principal.can_subscribe("telemetry.metrics")
    assert not principal.can_publish("telemetry.metrics")


def test_scope_patterns_match_exact_names_wildcards_and_dotted_prefixes() -> None:
    scopes = Scopes(
        subscribe=frozenset({"telemetry.*", "ai.requests"}), publish=frozenset({"tasks.updates"})
    )
    principal = Principal("p", scopes)
    assert principal.can_subscribe("telemetry.metrics")
    assert principal.can_subscribe("telemetry.events")
    assert principal.can_subscribe("ai.requests")
    assert not principal.can_subscribe("telemetryx.metrics")
    assert not principal.can_subscribe("tasks.updates")
    assert principal.can_publish("tasks.updates")
    assert not principal.can_publish("tasks.created")
    assert Principal("p", Scopes(publish=frozenset({"*"}))).can_publish("system.alerts")


def test_empty_subscribe_scope_allows_no_channel() -> None:
    assert not Principal("p", Scopes(subscribe=frozenset())).can_subscribe("ai.requests")


# -- bearer_token --------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"Authorization": "Bearer abc"}, None, "abc"),
        ({"authorization": "bearer abc"}, "q", "abc"),
        ({"AUTHORIZATION": "BEARER   abc  "}, None, "abc"),
        ({"Authorization": "abc"}, None, "abc"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, "q", "q"),
        ({"Authorization": "Bearer "}, "q", "q"),
        ({}, "q", "q"),
        ({}, "", None),
        ({}, None, None),
    ],
)
def test_bearer_token_prefers_the_authorization_header_over_the_query_token(
    headers: dict[str, str], query: str | None, expected: str | None
) -> None:
    assert bearer_token(headers, query) == expected


def test_bearer_token_reads_websockets_headers() -> None:
    assert bearer_token(Headers([("AUTHORIZATION", "Bearer abc")]), None) == "abc"


def test_bearer_token_refuses_a_repeated_authorization_header() -> None:
    with pytest.raises(AuthError, match="multiple authorization headers"):
        bearer_token({"Authorization": "Bearer a", "authorization": "Bearer b"}, None)
    repeated = Headers([("Authorization", "Bearer a"), ("Authorization", "Bearer b")])
    with pytest.raises(AuthError, match="multiple authorization headers"):
        bearer_token(repeated, None)


# -- ApiKeyAuth ------------------------------------------------------------------


def test_server_key_accepts_its_token_with_full_access() -> None:
    principal = ApiKeyAuth(SECRET_TOKEN).authenticate(bearer(SECRET_TOKEN), None)
    assert principal.subject == "api-key:1"
    assert principal.can_subscribe("system.alerts")
    assert principal.can_publish("tasks.updates")


def test_api_key_is_accepted_from_the_query_token_and_case_insensitive_headers() -> None:
    auth = ApiKeyAuth(SECRET_TOKEN)
    assert auth.authenticate({}, SECRET_TOKEN).subject == "api-key:1"
    headers = CaseInsensitiveHeaders({"aUtHoRiZaTiOn": f"bearer {SECRET_TOKEN}"})
    assert auth.authenticate(headers, None).subject == "api-key:1"


def test_api_keys_map_to_their_own_scopes() -> None:
    reader = Scopes(subscribe=frozenset({"telemetry.*"}))
    auth = ApiKeyAuth({"reader-key": reader, SECRET_TOKEN: Scopes(publish=frozenset({"*"}))})
    principal = auth.authenticate(bearer("reader-key"), None)
    assert principal == Principal("api-key:1", reader)
    assert not principal.can_subscribe("tasks.updates")
    assert auth.authenticate(bearer(SECRET_TOKEN), None).subject == "api-key:2"


def test_api_key_auth_refuses_missing_and_wrong_tokens() -> None:
    auth = ApiKeyAuth(SECRET_TOKEN)
    assert refusal(auth, {}) == "missing authentication token"
    assert refusal(auth, bearer(SECRET_TOKEN[:-1])) == "invalid token"
    assert refusal(auth, bearer(SECRET_TOKEN + "x")) == "invalid token"
    assert refusal(auth, bearer("ünïcode")) == "invalid token"


@pytest.mark.parametrize(
    ("token", "outcome"),
    [("key-one", "api-key:1"), ("key-three", "api-key:3"), ("wrong", "invalid token")],
)
def test_api_key_auth_compares_against_every_key_without_early_exit(
    monkeypatch: pytest.MonkeyPatch, token: str, outcome: str
) -> None:
    compared: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    auth = ApiKeyAuth({"key-one": Scopes(), "key-two": Scopes(), "key-three": Scopes()})
    try:
        result = auth.authenticate(bearer(token), None).subject
    except AuthError as exc:
        result = str(exc)
    assert result == outcome
    assert compared == [b"key-one", b"key-two", b"key-three"]


def test_api_key_auth_rejects_an_empty_configuration() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        ApiKeyAuth({})
    with pytest.raises(ValueError, match="non-empty"):
        ApiKeyAuth("")


def test_api_key_auth_repr_does_not_show_keys() -> None:
    assert SECRET_TOKEN not in repr(ApiKeyAuth(SECRET_TOKEN))


# -- JWTAuth ---------------------------------------------------------------------


def test_jwt_with_scopes_list_maps_to_scopes() -> None:
    token = make_jwt({"scopes": ["subscribe:telemetry.*", "publish:tasks.updates", "openid"]})
    principal = JWTAuth(JWT_SECRET).authenticate(bearer(token), None)
    assert principal.subject == "alice"
    assert principal.scopes == Scopes(
        subscribe=frozenset({"telemetry.*"}), publish=frozenset({"tasks.updates"})
    )
    assert principal.can_subscribe("telemetry.events")
    assert not principal.can_subscribe("ai.requests")


def test_jwt_with_space_separated_scope_string_maps_to_scopes() -> None:
    token = make_jwt({"scopes": "subscribe:* publish:tasks.*"})
    principal = JWTAuth(JWT_SECRET).authenticate({}, token)
    assert principal.can_subscribe("ai.requests")
    assert principal.can_publish("tasks.created")
    assert not principal.can_publish("system.alerts")


def test_jwt_without_scopes_may_subscribe_to_everything_and_publish_nothing() -> None:
    principal = JWTAuth(JWT_SECRET).authenticate(bearer(make_jwt()), None)
    assert principal.scopes == Scopes()


def test_jwt_with_malformed_scopes_claim_is_refused() -> None:
    token = make_jwt({"scopes": [1, 2]})
    assert refusal(JWTAuth(JWT_SECRET), bearer(token)) == "token claim invalid: scopes"


def test_jwt_audience_and_issuer_are_checked_when_configured() -> None:
    auth = JWTAuth(JWT_SECRET, audience="nexus", issuer="https://issuer.example")
    good = make_jwt({"aud": "nexus", "iss": "https://issuer.example"})
    assert auth.authenticate(bearer(good), None).subject == "alice"
    wrong_aud = make_jwt({"aud": "other", "iss": "https://issuer.example"})
    assert refusal(auth, bearer(wrong_aud)) == "token audience invalid"
    wrong_iss = make_jwt({"aud": "nexus", "iss": "https://evil.example"})
    assert refusal(auth, bearer(wrong_iss)) == "token issuer invalid"


def test_jwt_leeway_tolerates_small_clock_skew() -> None:
    token = make_jwt({"exp": int(time.time()) - 5})
    assert JWTAuth(JWT_SECRET, leeway=60).authenticate(bearer(token), None).subject == "alice"


def test_jwt_signed_with_rs256_is_verified_with_the_public_key() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = jwt.encode({"sub": "bob", "exp": int(time.time()) + 60}, private, algorithm="RS256")
    auth = JWTAuth(public_pem, algorithms=("RS256",))
    assert auth.authenticate(bearer(token), None).subject == "bob"


def _unsigned(claims: Mapping[str, Any]) -> str:
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{body}."


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: make_jwt({"exp": int(time.time()) - 60}), "token expired"),
        (lambda: make_jwt({"nbf": int(time.time()) + 600}), "token not yet valid"),
        (
            lambda: make_jwt(key="another-secret-that-is-also-32-bytes-long"),
            "token signature invalid",
        ),
        (lambda: make_jwt(key=JWT_SECRET * 2, algorithm="HS512"), "token algorithm not allowed"),
        (
            lambda: _unsigned({"sub": "eve", "exp": int(time.time()) + 60}),
            "token unsigned (alg none)",
        ),
        (lambda: make_jwt(drop=("sub",)), "token missing claim: sub"),
        (lambda: make_jwt(drop=("exp",)), "token missing claim: exp"),
        (lambda: make_jwt({"sub": 42}), "token claim invalid: sub"),
        (lambda: make_jwt({"aud": "someone"}), "token audience invalid"),
        (lambda: "not-a-jwt", "invalid token"),
        (lambda: "a.b.c", "invalid token"),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "bad-signature",
        "wrong-algorithm",
        "alg-none",
        "missing-sub",
        "missing-exp",
        "non-string-sub",
        "unexpected-audience",
        "garbage",
        "bad-segments",
    ],
)
def test_jwt_refusals_have_distinct_reasons(token: Any, reason: str) -> None:
    text = token()
    got = refusal(JWTAuth(JWT_SECRET), bearer(text))
    assert got == reason
    assert text not in got


def test_jwt_auth_refuses_a_missing_token() -> None:
    assert refusal(JWTAuth(JWT_SECRET), {}) == "missing authentication token"


@pytest.mark.parametrize(
    "kwargs",
    [{"algorithms": ()}, {"algorithms": ("HS256", "none")}, {"leeway": -1.0}],
)
def test_jwt_auth_rejects_unsafe_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"algorithms|leeway"):
        JWTAuth(JWT_SECRET, **kwargs)


def test_jwt_auth_rejects_an_hmac_secret_shorter_than_the_hash() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        JWTAuth("short")


# -- ChainAuth -------------------------------------------------------------------


def chain() -> ChainAuth:
    return ChainAuth(ApiKeyAuth(SECRET_TOKEN), JWTAuth(JWT_SECRET))


def test_chain_accepts_an_api_key_or_a_jwt() -> None:
    assert chain().authenticate(bearer(SECRET_TOKEN), None).subject == "api-key:1"
    assert chain().authenticate({}, make_jwt()).subject == "alice"


def test_chain_reports_the_most_specific_refusal() -> None:
    expired = make_jwt({"exp": int(time.time()) - 60})
    assert refusal(chain(), bearer(expired)) == "token expired"
    assert refusal(chain(), bearer("nonsense")) == "invalid token"
    assert refusal(chain(), {}) == "missing authentication token"


def test_chain_needs_an_authenticator() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ChainAuth()


def test_no_refusal_reason_or_log_record_contains_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    attempts = [
        f"{SECRET_TOKEN}x",
        make_jwt({"exp": int(time.time()) - 60, "jti": SECRET_TOKEN}),
        make_jwt(key=SECRET_TOKEN * 2),
        SECRET_TOKEN[:10],
    ]
    reasons = [refusal(chain(), bearer(text)) for text in attempts]
    reasons += [refusal(chain(), {}, text) for text in attempts]
    assert len(reasons) == 8
    for text, reason in zip(attempts * 2, reasons, strict=True):
        assert text not in reason
        assert SECRET_TOKEN not in reason
    assert all(SECRET_TOKEN not in record.getMessage() for record in caplog.records)


# -- check_origin ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed", "expected"),
    [
        ("https://evil.example", None, True),
        (None, ["https://app.example"], True),
        ("https://app.example", ["https://app.example"], True),
        ("https://APP.Example", ["https://app.example"], True),
        ("HTTPS://app.example", ["https://app.example/"], True),
        ("https://app.example:443", ["https://app.example"], True),
        ("http://localhost:8888", ["http://localhost:8888"], True),
        ("http://localhost:8889", ["http://localhost:8888"], False),
        ("http://app.example", ["https://app.example"], False),
        ("https://app.example.evil.example", ["https://app.example"], False),
        ("https://evil.example/https://app.example", ["https://app.example"], False),
        ("https://user@app.example", ["https://app.example"], False),
        ("https://app.example:notaport", ["https://app.example"], False),
        ("null", ["https://app.example"], False),
        ("null", ["null"], True),
        ("https://app.example", [], False),
    ],
)
def test_check_origin_matches_scheme_host_and_port_exactly(
    origin: str | None, allowed: list[str] | None, expected: bool
) -> None:
    assert check_origin(origin, allowed) is expected


# -- redaction -------------------------------------------------------------------


def test_redact_hides_query_tokens_in_an_access_log_line() -> None:
    line = f'127.0.0.1 - - "GET /ws?channel=a&token={SECRET_TOKEN}&x=1 HTTP/1.1" 101'
    cleaned = redact(line)
    assert SECRET_TOKEN not in cleaned
    assert cleaned == '127.0.0.1 - - "GET /ws?channel=a&token=***&x=1 HTTP/1.1" 101'


@pytest.mark.parametrize(
    "text",
    [
        f"ws://127.0.0.1:3000/?token={SECRET_TOKEN}",
        f"/stream?access_token={SECRET_TOKEN}#frag",
        f"Authorization: Bearer {SECRET_TOKEN}",
        f"authorization: bearer {SECRET_TOKEN}",
        f"Authorization: {SECRET_TOKEN}",
        f"{{'authorization': 'Bearer {SECRET_TOKEN}'}}",
        f"headers=[('Authorization', 'Bearer {SECRET_TOKEN}')]",
        f"api_key={SECRET_TOKEN}",
    ],
)
def test_redact_hides_tokens_in_urls_and_authorization_values(text: str) -> None:
    cleaned = redact(text)
    assert SECRET_TOKEN not in cleaned
    assert "***" in cleaned
    assert redact(cleaned) == cleaned


URL_SAFE = st.text(
    alphabet=st.characters(codec="ascii", categories=("L", "N"), include_characters="-_.~%+/="),
    min_size=12,
    max_size=64,
)


@given(token=URL_SAFE, prefix=st.sampled_from(["/?token=", "ws://h:1/x?a=1&token=", "Bearer "]))
def test_redact_never_lets_a_url_safe_token_through(token: str, prefix: str) -> None:
    cleaned = redact(f"GET {prefix}{token} HTTP/1.1")
    assert token not in cleaned
    assert redact(cleaned) == cleaned


@given(origin=st.text(max_size=80))
def test_check_origin_never_raises_and_refuses_what_it_cannot_parse(origin: str) -> None:
    assert check_origin(origin, ["https://app.example"]) is (
        origin.strip().rstrip("/").lower() in ("https://app.example", "https://app.example:443")
    )


def test_redact_leaves_text_without_tokens_alone() -> None:
    text = "GET /ws?channel=telemetry.metrics HTTP/1.1 max_tokens=5"
    assert redact(text) == text


class RecordList(logging.Handler):
    """A handler that keeps what it emits, formatted."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def redacted_logger() -> Iterator[tuple[logging.Logger, RecordList]]:
    logger = logging.getLogger("nexus_nb.tests.redact")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = RecordList()
    handler.addFilter(RedactTokens())
    logger.addHandler(handler)
    yield logger, handler
    logger.removeHandler(handler)


def test_redact_tokens_filter_cleans_messages_args_and_tracebacks(
    redacted_logger: tuple[logging.Logger, RecordList],
) -> None:
    logger, handler = redacted_logger
    # The shapes websockets' server logs the request line and headers in.
    logger.debug("< %s %s %s", "GET", f"/?token={SECRET_TOKEN}", "HTTP/1.1")
    logger.debug("< %s: %s", "Authorization", f"Bearer {SECRET_TOKEN}")
    logger.debug("< %s: %s", "Authorization", SECRET_TOKEN)
    logger.info(f"connection from ws://h/?token={SECRET_TOKEN}")
    logger.info("rejected %d %s", 401, "Unauthorized")
    try:
        raise RuntimeError(f"bad request /?token={SECRET_TOKEN}")
    except RuntimeError:
        logger.exception("handshake failed")
    assert len(handler.lines) == 6
    assert all(SECRET_TOKEN not in line for line in handler.lines)
    assert all(SECRET_TOKEN not in record.getMessage() for record in handler.records)
    assert handler.lines[0] == "< GET /?token=*** HTTP/1.1"
    assert handler.lines[4] == "rejected 401 Unauthorized"
    assert "RuntimeError: bad request /?token=***" in handler.lines[5]


# -- TLS -------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(keyfile))
    return ca, certfile, keyfile


def test_tls_context_requires_tls_1_2_or_later(tls_files: tuple[trustme.CA, Path, Path]) -> None:
    _, certfile, keyfile = tls_files
    context = tls_context(certfile, keyfile)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.protocol is ssl.PROTOCOL_TLS_SERVER


def test_tls_context_with_a_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):  # noqa: PT011 - FileNotFoundError is the documented OSError
        tls_context(tmp_path / "missing.pem", tmp_path / "missing.key")


async def test_tls_context_handshakes_with_a_client_trusting_the_test_ca(
    tls_files: tuple[trustme.CA, Path, Path],
) -> None:
    ca, certfile, keyfile = tls_files
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=tls_context(certfile, keyfile))
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context, server_hostname="127.0.0.1"
        )
        writer.write(b"hello\n")
        reply = await reader.readline()
        version = writer.get_extra_info("ssl_object").version()
        writer.close()
        await writer.wait_closed()
    assert reply == b"hello\n"
    assert version in ("TLSv1.2", "TLSv1.3")
