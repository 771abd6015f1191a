"""Authentication and authorization wired into a live server, over real sockets.

``tests/server/test_auth.py`` unit-tests the authenticators; here the same
objects sit behind ``serve(auth=...)`` and clients meet them through handshakes,
close frames and protocol replies.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import trustme
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from nexus_nb import protocol
from nexus_nb.client import Client
from nexus_nb.exceptions import AuthError, TransportError
from nexus_nb.server import Server, aserve
from nexus_nb.server.auth import ApiKeyAuth, ChainAuth, Scopes
from nexus_nb.server.jwtauth import JWTAuth
from nexus_nb.server.tls import tls_context
from tests.helpers.net import recv

OWNER_KEY = "owner-key-0123456789abcdef"
READER_KEY = "telemetry-reader-key-0123456789"
SECRET = "jwt-secret-for-tests-0123456789-abcdef"  # HS256 needs at least 32 bytes
OTHER_SECRET = "another-secret-nobody-trusts-0123456789"
ALLOWED_ORIGIN = "https://notebook.example"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mint(secret: str = SECRET, *, lifetime: float = 60.0, scopes: list[str] | None = None) -> str:
    claims: dict[str, Any] = {"sub": "alice", "exp": int(time.time() + lifetime)}
    if scopes is not None:
        claims["scopes"] = scopes
    return jwt.encode(claims, secret, algorithm="HS256")


def chain() -> ChainAuth:
    keys = {
        OWNER_KEY: Scopes(subscribe=None, publish=frozenset({"*"})),
        READER_KEY: Scopes(subscribe=frozenset({"telemetry.*"})),
    }
    return ChainAuth(ApiKeyAuth(keys), JWTAuth(SECRET))


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = await aserve(
        api_key=OWNER_KEY, auth=chain(), origins=[ALLOWED_ORIGIN], demo=False, ping_interval=None
    )
    try:
        yield srv
    finally:
        await srv.aclose()


async def open_as(srv: Server, token: str) -> ClientConnection:
    ws = await connect(srv.url, additional_headers=bearer(token), ping_interval=None)
    assert (await recv(ws))["type"] == "connection_established"
    return ws


async def refusal(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """The close code and reason a server answers a handshake with, before any message."""
    async with connect(url, additional_headers=headers or {}, ping_interval=None) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
    assert info.value.rcvd is not None
    return info.value.rcvd.code, info.value.rcvd.reason


async def send(ws: ClientConnection, frame: bytes) -> dict[str, Any]:
    await ws.send(frame.decode())
    return await recv(ws)


@pytest.mark.parametrize("where", ["header", "query"])
async def test_a_wrong_key_is_closed_1008_without_the_key_in_the_reason(
    server: Server, where: str
) -> None:
    wrong = "wrong-key-d3adb33f-guess"
    if where == "header":
        code, reason = await refusal(server.url, bearer(wrong))
    else:
        code, reason = await refusal(f"{server.url}/?token={wrong}")
    assert code == 1008
    assert reason == "invalid token"
    assert wrong not in reason
    assert server.metrics()["authFailures"] == 1


async def test_an_expired_jwt_is_closed_1008_with_token_expired(server: Server) -> None:
    token = mint(lifetime=-30)
    code, reason = await refusal(server.url, bearer(token))
    assert (code, reason) == (1008, "token expired")
    assert token not in reason


async def test_a_jwt_signed_with_another_secret_is_closed_1008_for_its_signature(
    server: Server,
) -> None:
    code, reason = await refusal(server.url, bearer(mint(OTHER_SECRET)))
    assert (code, reason) == (1008, "token signature invalid")


async def test_the_client_reports_a_refused_jwt_as_an_auth_error_and_does_not_retry(
    server: Server,
) -> None:
    with pytest.raises(AuthError, match="token expired"):
        await Client.connect(server.url, api_key=mint(lifetime=-30), backoff=(0.01, 0.02))
    assert server.metrics()["authFailures"] == 1


async def test_a_key_scoped_to_telemetry_is_refused_other_channels_but_gets_its_own_events(
    server: Server,
) -> None:
    async with await open_as(server, READER_KEY) as ws:
        refused = await send(ws, protocol.subscribe(["system.alerts"], request_id=1))
        mixed = await send(ws, protocol.subscribe(["telemetry.metrics", "tasks.updates"]))
        allowed = await send(ws, protocol.subscribe(["telemetry.metrics"], request_id=2))
        server.publish("system.alerts", {"n": 0})
        server.publish("telemetry.metrics", {"n": 1})
        event = await recv(ws)
    assert refused["type"] == "subscription_error"
    assert refused["code"] == protocol.ErrorCode.FORBIDDEN
    assert refused["id"] == 1
    assert mixed["code"] == protocol.ErrorCode.FORBIDDEN  # all or nothing
    assert "tasks.updates" in mixed["message"]
    assert allowed["type"] == "subscription_confirmed"
    assert event["channel"] == "telemetry.metrics"
    assert event["data"] == {"n": 1}


async def test_a_key_without_publish_scope_gets_forbidden_and_stores_nothing(
    server: Server,
) -> None:
    async with await open_as(server, READER_KEY) as ws:
        reply = await send(ws, protocol.publish("telemetry.metrics", [{"n": 1}], request_id=9))
    assert reply["type"] == "error"
    assert reply["code"] == protocol.ErrorCode.FORBIDDEN
    assert reply["id"] == 9
    assert server.metrics()["channels"]["telemetry.metrics"]["published"] == 0


async def test_the_owner_key_may_publish_to_subscribers_of_other_principals(
    server: Server,
) -> None:
    async with await open_as(server, OWNER_KEY) as owner, await open_as(server, mint()) as reader:
        await send(reader, protocol.subscribe(["system.alerts"]))
        ack = await send(owner, protocol.publish("system.alerts", [{"n": 1}]))
        event = await recv(reader)
    assert ack["type"] == "publish_ack"
    assert event["data"] == {"n": 1}


async def test_a_jwt_scoped_to_telemetry_subscribes_there_only_and_cannot_publish(
    server: Server,
) -> None:
    token = mint(scopes=["subscribe:telemetry.*"])
    async with await open_as(server, token) as ws:
        allowed = await send(ws, protocol.subscribe(["telemetry.metrics"]))
        refused = await send(ws, protocol.subscribe(["tasks.updates"]))
        publish = await send(ws, protocol.publish("telemetry.metrics", [{"n": 1}]))
        server.publish("tasks.updates", {"n": 0})
        server.publish("telemetry.metrics", {"n": 2})
        event = await recv(ws)
    assert allowed["type"] == "subscription_confirmed"
    assert refused["type"] == "subscription_error"
    assert refused["code"] == protocol.ErrorCode.FORBIDDEN
    assert publish["code"] == protocol.ErrorCode.FORBIDDEN
    assert event["data"] == {"n": 2}


async def test_a_jwt_in_the_query_string_authenticates_like_the_browser_client(
    server: Server,
) -> None:
    async with connect(f"{server.url}/?token={mint()}", ping_interval=None) as ws:
        hello = await recv(ws)
    assert hello["type"] == "connection_established"
    assert server.metrics()["authFailures"] == 0


async def test_a_disallowed_origin_is_refused_with_403_even_with_valid_credentials(
    server: Server,
) -> None:
    with pytest.raises(InvalidStatus) as info:
        await connect(
            server.url,
            additional_headers=bearer(OWNER_KEY),
            origin="https://evil.example",  # type: ignore[arg-type]
        )
    async with connect(
        server.url,
        additional_headers=bearer(OWNER_KEY),
        origin=ALLOWED_ORIGIN,  # type: ignore[arg-type]
    ) as ws:
        hello = await recv(ws)
    assert info.value.response.status_code == 403
    assert hello["type"] == "connection_established"
    assert server.metrics()["rejectedConnections"] == 1
    assert server.metrics()["totalConnections"] == 1


@pytest.fixture
def authority(tmp_path: Path) -> tuple[trustme.CA, ssl.SSLContext]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(keyfile))
    return ca, tls_context(certfile, keyfile)


async def test_a_wss_server_accepts_a_client_trusting_its_ca_and_refuses_one_that_does_not(
    authority: tuple[trustme.CA, ssl.SSLContext],
) -> None:
    ca, server_context = authority
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with aserve(
        api_key=OWNER_KEY, auth=chain(), ssl=server_context, demo=False, ping_interval=None
    ) as srv:
        client = await Client.connect(srv.url, api_key=READER_KEY, ssl=trusting, heartbeat=None)
        try:
            confirmed = await client.subscribe("telemetry.metrics")
        finally:
            await client.aclose()
        with pytest.raises(TransportError) as info:
            await Client.connect(
                srv.url, api_key=READER_KEY, ssl=ssl.create_default_context(), heartbeat=None
            )
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(srv.url, additional_headers=bearer(READER_KEY))
    assert srv.url.startswith("wss://127.0.0.1:")
    assert confirmed["type"] == "subscription_confirmed"
    assert isinstance(info.value.__cause__, ssl.SSLError)
    assert "certificate verify failed" in str(info.value)
