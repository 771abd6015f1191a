"""The server end to end: real server and websockets clients on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import signal
import ssl
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from nexus_nb import protocol
from nexus_nb.exceptions import ProtocolError
from nexus_nb.server import Server, ServerState, aserve
from nexus_nb.server.auth import ApiKeyAuth, Scopes
from tests.helpers.keys import HEADERS, KEY
from tests.helpers.net import recv
from tests.helpers.waiting import until


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None)
    yield srv
    await srv.aclose()


async def client(srv: Server, **kwargs: Any) -> ClientConnection:
    ws = await connect(srv.url, additional_headers=HEADERS, **kwargs)
    hello = await recv(ws)
    assert hello["type"] == "connection_established"
    return ws


async def subscribe(
    ws: ClientConnection, channels: list[str], filters: Any = None, **kw: Any
) -> dict[str, Any]:
    await ws.send(protocol.subscribe(channels, filters, **kw).decode())
    return await recv(ws)


def http_get(srv: Server, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        conn.close()


async def test_connection_established_announces_epoch_and_extensions(server: Server) -> None:
    async with connect(server.url, additional_headers=HEADERS) as ws:
        hello = await recv(ws)
    assert list(hello)[:3] == ["type", "client_id", "timestamp"]
    assert hello["client_id"].startswith("client_")
    assert hello["epoch"] == server.epoch
    assert "resume" in hello["extensions"]
    assert "batch" in hello["extensions"]
    assert "recover" in hello["extensions"]


async def test_query_token_authenticates_like_the_browser_client(server: Server) -> None:
    async with connect(f"{server.url}/?token={KEY}") as ws:
        assert (await recv(ws))["type"] == "connection_established"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key"}])
async def test_missing_or_wrong_key_closes_1008_without_echoing_the_token(
    server: Server, headers: dict[str, str]
) -> None:
    async with connect(server.url, additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1008
    assert "wrong-key" not in info.value.rcvd.reason
    assert server.metrics()["authFailures"] == 1


async def test_wrong_query_token_closes_1008(server: Server) -> None:
    async with connect(f"{server.url}/?token=nope-nope") as ws:
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1008
    assert "nope-nope" not in info.value.rcvd.reason


async def test_subscribe_confirms_with_filters_echoed_and_id(server: Server) -> None:
    async with await client(server) as ws:
        reply = await subscribe(ws, ["tasks.updates"], {"priority": ["high"]}, request_id=7)
    assert reply["type"] == "subscription_confirmed"
    assert reply["channels"] == ["tasks.updates"]
    assert reply["filters"] == {"priority": ["high"]}
    assert reply["subscription_id"].startswith("sub_")
    assert reply["id"] == 7


async def test_subscribe_with_unknown_channel_returns_subscription_error(server: Server) -> None:
    async with await client(server) as ws:
        reply = await subscribe(ws, ["nope", "bad.one"], request_id="a")
    assert reply == {
        "type": "subscription_error",
        "message": "Invalid channels: nope, bad.one",
        "code": "INVALID_CHANNEL",
        "id": "a",
    }


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "INVALID_MESSAGE"),
        ("[1]", "INVALID_MESSAGE"),
        ('{"channels": []}', "MISSING_ACTION"),
        ('{"action": "dance"}', "UNKNOWN_ACTION"),
        ('{"action": "unsubscribe", "channels": 3}', "INVALID_FIELD"),
        ('{"action": "publish", "channel": "nope", "data": {}}', "INVALID_CHANNEL"),
        (
            '{"action": "publish", "channel": "system.alerts", "events": [{}, {}, {}]}',
            "PAYLOAD_TOO_LARGE",
        ),
    ],
)
async def test_bad_frames_get_an_error_with_its_code_and_the_connection_survives(
    frame: str, code: str
) -> None:
    limits = protocol.Limits(max_publish_events=2)
    async with (
        await aserve(api_key=KEY, demo=False, ping_interval=None, limits=limits) as srv,
        await client(srv) as ws,
    ):
        await ws.send(frame)
        reply = await recv(ws)
        await ws.send(protocol.ping(request_id=1).decode())
        pong = await recv(ws)
    assert reply["type"] == "error"
    assert reply["code"] == code
    assert pong["type"] == "pong"


@pytest.mark.parametrize(
    ("filters", "resume", "code"),
    [
        ({"x": [[1]]}, None, "INVALID_FILTER"),
        (None, {"epoch": 3}, "INVALID_RESUME"),
    ],
)
async def test_bad_subscribe_fields_get_subscription_error(
    server: Server, filters: Any, resume: Any, code: str
) -> None:
    message: dict[str, Any] = {"action": "subscribe", "channels": ["tasks.updates"]}
    if filters is not None:
        message["filters"] = filters
    if resume is not None:
        message["resume"] = resume
    async with await client(server) as ws:
        await ws.send(orjson.dumps(message).decode())
        reply = await recv(ws)
    assert reply["type"] == "subscription_error"
    assert reply["code"] == code


async def test_binary_frame_gets_invalid_message(server: Server) -> None:
    async with await client(server) as ws:
        await ws.send(b"\x00\x01")
        reply = await recv(ws)
    assert reply["code"] == "INVALID_MESSAGE"


async def test_ping_gets_pong_with_id(server: Server) -> None:
    async with await client(server) as ws:
        await ws.send(protocol.ping(request_id="p").decode())
        reply = await recv(ws)
    assert reply["type"] == "pong"
    assert reply["id"] == "p"


async def test_published_event_reaches_subscriber_with_seq_in_reference_key_order(
    server: Server,
) -> None:
    async with await client(server) as ws:
        await subscribe(ws, ["telemetry.metrics"])
        seq = server.publish(
            "telemetry.metrics", {"value": 1.5}, timestamp="2025-01-01T00:00:00.000Z"
        )
        event = await recv(ws)
    assert list(event) == ["type", "channel", "timestamp", "data", "seq"]
    assert event == {
        "type": "event",
        "channel": "telemetry.metrics",
        "timestamp": "2025-01-01T00:00:00.000Z",
        "data": {"value": 1.5},
        "seq": seq,
    }
    assert seq == 1


async def test_publish_to_unknown_channel_raises_protocol_error(server: Server) -> None:
    with pytest.raises(ProtocolError) as info:
        server.publish("nope", {})
    assert info.value.code == "INVALID_CHANNEL"


async def test_filters_select_by_equality_lists_and_several_keys(server: Server) -> None:
    async with await client(server) as ws:
        await subscribe(ws, ["tasks.updates"], {"priority": ["high", "critical"], "source": "a"})
        server.publish("tasks.updates", {"priority": "high", "source": "b", "n": 1})
        server.publish("tasks.updates", {"priority": "low", "source": "a", "n": 2})
        server.publish("tasks.updates", {"priority": "critical", "source": "a", "n": 3})
        server.publish("tasks.updates", {"source": "a", "n": 4})
        server.publish("tasks.updates", {"priority": "high", "source": "a", "n": 5})
        got = [(await recv(ws))["data"]["n"] for _ in range(2)]
        await ws.send(protocol.ping().decode())
        assert (await recv(ws))["type"] == "pong"
    assert got == [3, 5]


async def test_two_overlapping_subscriptions_deliver_each_event_once(server: Server) -> None:
    async with await client(server) as ws:
        await subscribe(ws, ["tasks.updates"])
        await subscribe(ws, ["tasks.updates"], {"priority": "high"})
        server.publish("tasks.updates", {"priority": "high", "n": 1})
        server.publish("tasks.updates", {"priority": "low", "n": 2})
        got = [(await recv(ws))["data"]["n"] for _ in range(2)]
        await ws.send(protocol.ping().decode())
        assert (await recv(ws))["type"] == "pong"
    assert got == [1, 2]


async def test_unsubscribe_removes_every_subscription_on_the_channel(server: Server) -> None:
    async with await client(server) as ws:
        await subscribe(ws, ["tasks.updates", "system.alerts"])
        await subscribe(ws, ["tasks.updates"], {"priority": "high"})
        await ws.send(protocol.unsubscribe(["tasks.updates"], request_id=3).decode())
        reply = await recv(ws)
        server.publish("tasks.updates", {"priority": "high"})
        server.publish("system.alerts", {"n": 1})
        event = await recv(ws)
    assert reply == {"type": "unsubscription_confirmed", "channels": ["tasks.updates"], "id": 3}
    assert event["channel"] == "system.alerts"


async def test_publish_action_stores_fans_out_and_acks(server: Server) -> None:
    async with await client(server) as reader, await client(server) as writer:
        await subscribe(reader, ["system.alerts"])
        await writer.send(
            protocol.publish("system.alerts", [{"n": 1}, {"n": 2}], request_id=9).decode()
        )
        ack = await recv(writer)
        got = [(await recv(reader))["data"]["n"] for _ in range(2)]
    assert ack == {"type": "publish_ack", "channel": "system.alerts", "count": 2, "seq": 2, "id": 9}
    assert got == [1, 2]


async def test_publish_without_publish_scope_is_forbidden() -> None:
    auth = ApiKeyAuth({KEY: Scopes(subscribe=frozenset({"tasks.*"}))})
    async with (
        await aserve(api_key=KEY, auth=auth, demo=False, ping_interval=None) as srv,
        await client(srv) as ws,
    ):
        await ws.send(protocol.publish("tasks.updates", [{"n": 1}]).decode())
        reply = await recv(ws)
        refused = await subscribe(ws, ["system.alerts"])
    assert reply["type"] == "error"
    assert reply["code"] == "FORBIDDEN"
    assert refused["type"] == "subscription_error"
    assert refused["code"] == "FORBIDDEN"
    assert srv.metrics()["channels"]["tasks.updates"]["published"] == 0


async def test_metrics_count_connections_messages_and_channels(server: Server) -> None:
    async with await client(server) as ws:
        await subscribe(ws, ["system.alerts"])
        server.publish("system.alerts", {"n": 1})
        await recv(ws)
        status, body = await asyncio.to_thread(http_get, server, "/metrics", HEADERS)
    assert status == 200
    assert body["totalConnections"] == 1
    assert body["activeConnections"] == 1
    assert body["messagesReceived"] == 1
    assert body["messagesSent"] == 3
    assert body["channels"]["system.alerts"] == {"published": 1, "delivered": 1}
    assert body["uptime"] >= 0


async def test_metrics_without_credentials_is_401_and_healthz_is_open(server: Server) -> None:
    status, body = await asyncio.to_thread(http_get, server, "/metrics")
    health = await asyncio.to_thread(http_get, server, "/healthz")
    assert status == 401
    assert "totalConnections" not in body
    assert health == (200, {"status": "ok"})


async def test_graceful_shutdown_closes_every_client_with_1001() -> None:
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None)
    a, b = await client(srv), await client(srv)
    await srv.aclose()
    for ws in (a, b):
        with pytest.raises(ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 1001
    assert srv.metrics()["activeConnections"] == 0


async def test_oversized_frame_closes_1009() -> None:
    async with (
        await aserve(api_key=KEY, demo=False, ping_interval=None, max_size=1024) as srv,
        await client(srv) as ws,
    ):
        await ws.send("x" * 2048)
        with pytest.raises(ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 1009


async def test_message_flood_is_rate_limited_then_closed_1008() -> None:
    async with (
        await aserve(
            api_key=KEY, demo=False, ping_interval=None, rate_limit=1.0, rate_burst=3
        ) as srv,
        await client(srv) as ws,
    ):
        for _ in range(5):
            await ws.send(protocol.ping().decode())
        replies = [await recv(ws) for _ in range(4)]
        with pytest.raises(ConnectionClosed):
            await recv(ws)
        assert ws.close_code == 1008
    assert [r["type"] for r in replies] == ["pong", "pong", "pong", "error"]
    assert replies[-1]["code"] == "RATE_LIMITED"
    assert srv.metrics()["rateLimited"] == 1
    assert srv.metrics()["rateLimitDisconnects"] == 1


async def test_subscriptions_past_the_limit_get_too_many_subscriptions() -> None:
    async with (
        await aserve(api_key=KEY, demo=False, ping_interval=None, max_subscriptions=2) as srv,
        await client(srv) as ws,
    ):
        first = await subscribe(ws, ["tasks.updates", "system.alerts"])
        again = await subscribe(ws, ["tasks.updates"])
        over = await subscribe(ws, ["tasks.created"])
    assert first["type"] == again["type"] == "subscription_confirmed"
    assert over["code"] == "TOO_MANY_SUBSCRIPTIONS"


async def test_connections_past_the_limit_are_refused_with_503() -> None:
    async with aserve(api_key=KEY, demo=False, ping_interval=None, max_connections=1) as srv:
        async with await client(srv):
            with pytest.raises(InvalidStatus) as info:
                await connect(srv.url, additional_headers=HEADERS)
        assert info.value.response.status_code == 503
        assert srv.metrics()["rejectedConnections"] == 1


async def test_origin_outside_the_allow_list_is_refused_with_403() -> None:
    async with aserve(
        api_key=KEY, demo=False, ping_interval=None, origins=["https://ok.example"]
    ) as srv:
        with pytest.raises(InvalidStatus) as info:
            await connect(srv.url, additional_headers=HEADERS, origin="https://evil.example")  # type: ignore[arg-type]
        async with connect(srv.url, additional_headers=HEADERS, origin="https://ok.example") as ws:  # type: ignore[arg-type]
            assert (await recv(ws))["type"] == "connection_established"
    assert info.value.response.status_code == 403


async def test_tokens_never_appear_in_server_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="nexus_nb.server")
    async with aserve(api_key=KEY, demo=False, ping_interval=None) as srv:
        async with connect(f"{srv.url}/?token={KEY}") as ws:
            await recv(ws)
        async with connect(f"{srv.url}/?token=guess-secret") as ws:
            with pytest.raises(ConnectionClosed):
                await recv(ws)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "GET /?token=" in text  # websockets did log the request line, redacted
    assert KEY not in text
    assert "guess-secret" not in text


async def test_dead_peer_is_dropped_by_server_pings() -> None:
    async with aserve(
        api_key=KEY, demo=False, ping_interval=0.1, ping_timeout=0.1, close_timeout=0.2
    ) as srv:
        ws = await client(srv)
        # A peer that stops reading never answers pings.
        ws.transport.pause_reading()
        await until(lambda: srv.metrics()["activeConnections"] == 0, limit=5)
        assert srv.metrics()["keepaliveTimeouts"] == 1
        ws.transport.abort()


async def test_demo_mode_publishes_until_closed() -> None:
    async with (
        await aserve(api_key=KEY, demo=True, rate=200.0, seed=1, ping_interval=None) as srv,
        await client(srv) as ws,
    ):
        await subscribe(ws, list(protocol.CHANNELS))
        event = await recv(ws)
        assert srv.metrics()["demo"] == "running"
    assert event["type"] == "event"
    assert srv.metrics()["demo"] == "done"


def test_non_loopback_host_without_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEXUS_API_KEY", raising=False)

    async def start() -> None:
        await aserve(host="0.0.0.0", demo=False)

    with pytest.raises(ValueError, match="explicit"):
        asyncio.run(start())


async def test_tls_context_serves_wss() -> None:
    trustme = pytest.importorskip("trustme")
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    async with (
        await aserve(api_key=KEY, demo=False, ping_interval=None, ssl=context) as srv,
        connect(srv.url, additional_headers=HEADERS, ssl=client_context) as ws,
    ):
        hello = await recv(ws)
    assert srv.url.startswith("wss://127.0.0.1:")
    assert hello["type"] == "connection_established"


async def test_serve_forever_shuts_down_gracefully_on_sigterm() -> None:
    srv = await aserve(api_key=KEY, demo=False, ping_interval=None)
    ws = await client(srv)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(srv.serve_forever())
    await asyncio.sleep(0)  # let serve_forever install its handlers before the signal
    loop.call_soon(os.kill, os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(5):
        await task
    with pytest.raises(ConnectionClosed):
        await recv(ws)
    assert ws.close_code == 1001
    assert srv.state is ServerState.CLOSED


GARBAGE = [
    "[" * 5000,
    '"just a string"',
    "null",
    '{"action": null}',
    '{"action": "subscribe", "channels": ["tasks.updates"], "filters": {"a": {"b": 1}}}',
    '{"action": "subscribe", "channels": ["tasks.updates"], "batch": {"maxlen": 0}}',
    '{"action": "subscribe", "channels": ["tasks.updates"], '
    '"resume": {"epoch": "x", "seq": {"tasks.updates": -1}}}',
    '{"action": "publish", "channel": "system.alerts", "data": [1, 2]}',
    '{"action": "publish", "channel": "system.alerts", "data": {}, "timestamp": 5}',
    '{"action": "unsubscribe", "channels": ["' + "x" * 5000 + '"]}',
]


async def test_garbage_from_one_client_leaves_it_and_the_others_working(server: Server) -> None:
    async with await client(server) as bad, await client(server) as good:
        await subscribe(good, ["system.alerts"])
        for frame in GARBAGE:
            await bad.send(frame)
        replies = [await recv(bad) for _ in GARBAGE]
        await bad.send(protocol.ping(request_id={"deep": [1, 2]}).decode())
        pong = await recv(bad)
        server.publish("system.alerts", {"n": 1})
        event = await recv(good)
    assert all(r["type"] in ("error", "subscription_error") for r in replies)
    assert pong["id"] == {"deep": [1, 2]}
    assert event["data"] == {"n": 1}


# -- recover (our extension) -------------------------------------------------------------


async def subscribed(srv: Server, filters: dict[str, Any] | None = None) -> ClientConnection:
    ws = await client(srv)
    await ws.send(protocol.subscribe(["tasks.updates"], filters, request_id=1).decode())
    assert (await recv(ws))["type"] == "subscription_confirmed"
    return ws


async def recovery(ws: ClientConnection, first: int, last: int) -> list[dict[str, Any]]:
    """Send ``recover`` for first..last; every message up to and including its answer."""
    await ws.send(protocol.recover("tasks.updates", first, last, request_id=9).decode())
    messages = []
    while not messages or messages[-1]["type"] not in ("recovered", "error"):
        messages.append(await recv(ws))
    return messages


async def test_recover_sends_the_matching_retained_events_of_the_range_then_recovered(
    server: Server,
) -> None:
    ws = await subscribed(server, {"k": "x"})
    for n in range(1, 11):
        server.publish("tasks.updates", {"n": n, "k": "x" if n % 2 else "y"})
    live = [await recv(ws) for _ in range(5)]
    assert [m["seq"] for m in live] == [1, 3, 5, 7, 9]

    messages = await recovery(ws, 3, 8)

    assert [(m["type"], m.get("seq")) for m in messages[:-1]] == [
        ("event", 3),
        ("event", 5),
        ("event", 7),
    ]
    assert messages[-1] == {
        "type": "recovered",
        "channel": "tasks.updates",
        "from_seq": 3,
        "to_seq": 8,
        "count": 3,
        "id": 9,
    }
    assert server.metrics()["recovered"] == 3
    await ws.close()


async def test_a_recover_stops_at_max_recover_and_says_where_and_evicted_events_are_absent() -> (
    None
):
    srv = await aserve(
        api_key=KEY,
        demo=False,
        ping_interval=None,
        retention=6,
        limits=protocol.Limits(max_recover=3),
    )
    try:
        ws = await subscribed(srv)
        for n in range(1, 11):
            srv.publish("tasks.updates", {"n": n})
        for _ in range(10):
            await recv(ws)
        # 1..4 were evicted (retention 6): 5, 6, 7 come back, and the answer stops at 7.
        first = await recovery(ws, 1, 10)
        assert [m.get("seq") for m in first[:-1]] == [5, 6, 7]
        assert (first[-1]["to_seq"], first[-1]["count"]) == (7, 3)
        rest = await recovery(ws, 8, 10)
        assert [m.get("seq") for m in rest[:-1]] == [8, 9, 10]
        assert (rest[-1]["to_seq"], rest[-1]["count"]) == (10, 3)
        await ws.close()
    finally:
        await srv.aclose()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"channel": "system.alerts", "from_seq": 1, "to_seq": 2}, "INVALID_CHANNEL"),
        ({"channel": "nope", "from_seq": 1, "to_seq": 2}, "INVALID_CHANNEL"),
        ({"channel": "tasks.updates", "from_seq": 0, "to_seq": 2}, "INVALID_FIELD"),
        ({"channel": "tasks.updates", "from_seq": 3, "to_seq": 2}, "INVALID_FIELD"),
        ({"channel": "tasks.updates", "from_seq": 1, "to_seq": True}, "INVALID_FIELD"),
    ],
)
async def test_a_bad_or_unsubscribed_recover_gets_an_error_with_its_code_and_id(
    server: Server, fields: dict[str, Any], code: str
) -> None:
    ws = await subscribed(server)
    await ws.send(orjson.dumps({"action": "recover", **fields, "id": 4}).decode())
    reply = await recv(ws)
    assert (reply["type"], reply["code"], reply["id"]) == ("error", code, 4)
    await ws.close()
