"""The kernel-side client against the real nexus_nb server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from nexus_nb.client import Client, State
from nexus_nb.client.transport import MAX_SIZE
from nexus_nb.exceptions import AuthError, SubscriptionError, TransportError
from nexus_nb.protocol import EventColumns
from nexus_nb.server import Server, aserve
from tests.helpers.keys import KEY
from tests.helpers.net import free_port
from tests.helpers.waiting import until


@pytest.fixture
async def client(server: Server) -> AsyncIterator[Client]:
    c = await Client.connect(server.url, api_key=KEY, backoff=(0.01, 0.1))
    try:
        yield c
    finally:
        await c.aclose()


async def test_connect_returns_an_open_client_with_the_servers_id_and_epoch(
    server: Server, client: Client
) -> None:
    assert client.state is State.OPEN
    assert client.client_id is not None
    assert client.client_id.startswith("client_")
    assert client.epoch == server.epoch
    assert client.stats.connected_since is not None


async def test_async_with_client_connects_on_entry_subscribes_and_closes_on_exit(
    server: Server,
) -> None:
    seen: list[dict[str, Any]] = []
    async with Client(server.url, api_key=KEY) as client:
        assert client.state is State.OPEN
        assert client.epoch == server.epoch
        client.on("event", seen.append)
        reply = await client.subscribe("tasks.created")
        assert reply["type"] == "subscription_confirmed"
        server.publish("tasks.created", {"n": 1})
        await until(lambda: len(seen) == 1)
    assert client.state is State.CLOSED
    assert seen[0]["data"] == {"n": 1}


async def test_async_with_a_client_already_connected_keeps_its_connection(
    server: Server,
) -> None:
    client = await Client.connect(server.url, api_key=KEY)
    client_id = client.client_id
    async with client:
        assert client.client_id == client_id
        assert client.stats.reconnects == 0
    assert client.state is State.CLOSED
    with pytest.raises(RuntimeError, match="already started"):
        await client.start()


async def test_a_plain_close_of_a_client_on_the_callers_loop_refuses_and_leaves_it_open(
    client: Client,
) -> None:
    # Closing waits for the loop the caller holds: a plain close would hang, so it
    # says what to do instead, and aclose (a coroutine) does it.
    assert asyncio.iscoroutinefunction(Client.aclose)
    with pytest.raises(RuntimeError, match="await the call"):
        client.close()
    assert client.state is State.OPEN
    await client.aclose()
    client.close()  # closed: nothing left to wait for
    assert client.state is State.CLOSED


async def test_subscribe_with_filters_returns_the_confirmation_and_only_matching_events(
    server: Server, client: Client
) -> None:
    seen: list[dict[str, Any]] = []
    client.on("event", seen.append)
    reply = await client.subscribe(["tasks.updates"], {"priority": ["high", "critical"]})
    assert reply["type"] == "subscription_confirmed"
    assert reply["channels"] == ["tasks.updates"]
    assert reply["filters"] == {"priority": ["high", "critical"]}
    for priority in ("low", "high", "medium", "critical"):
        server.publish("tasks.updates", {"priority": priority})
    await until(lambda: len(seen) == 2)
    assert [e["data"]["priority"] for e in seen] == ["high", "critical"]
    assert client.subscriptions == {"tasks.updates": [{"priority": ["high", "critical"]}]}


async def test_subscribe_to_an_unknown_channel_raises_subscription_error_with_its_code(
    client: Client,
) -> None:
    with pytest.raises(SubscriptionError) as info:
        await client.subscribe(["no.such.channel"])
    assert info.value.code == "INVALID_CHANNEL"
    assert "no.such.channel" in info.value.message
    assert client.subscriptions == {}


async def test_unsubscribe_confirms_and_forgets_the_channel(server: Server, client: Client) -> None:
    await client.subscribe(["tasks.updates", "system.alerts"])
    reply = await client.unsubscribe(["tasks.updates"])
    assert reply["type"] == "unsubscription_confirmed"
    assert client.subscriptions == {"system.alerts": [None]}
    seen: list[str] = []
    client.on("event", lambda m: seen.append(m["channel"]))
    server.publish("tasks.updates", {"n": 1})
    server.publish("system.alerts", {"n": 2})
    await until(lambda: len(seen) == 1)
    assert seen == ["system.alerts"]


async def test_ping_returns_a_positive_round_trip_time(client: Client) -> None:
    rtt = await client.ping()
    assert 0 < rtt < 5


async def test_publish_returns_the_ack_and_subscribers_get_the_events(client: Client) -> None:
    seen: list[dict[str, Any]] = []
    client.on("event", seen.append)
    await client.subscribe("ai.requests")
    ack = await client.publish("ai.requests", [{"n": 1}, {"n": 2}, {"n": 3}])
    assert ack["type"] == "publish_ack"
    assert ack["count"] == 3
    single = await client.publish("ai.requests", {"n": 4}, timestamp="2025-11-03T01:54:00.000Z")
    assert single["count"] == 1
    await until(lambda: len(seen) == 4)
    assert [e["data"]["n"] for e in seen] == [1, 2, 3, 4]
    assert [e["seq"] for e in seen] == [1, 2, 3, 4]
    assert seen[3]["timestamp"] == "2025-11-03T01:54:00.000Z"


async def test_sinks_get_whole_batch_frames_before_the_event_handlers(
    server: Server, client: Client
) -> None:
    order: list[str] = []
    frames: list[list[dict[str, Any]]] = []

    def sink(channel: str, events: list[dict[str, Any]]) -> None:
        assert channel == "telemetry.metrics"
        frames.append(events)
        order.append("sink")

    client.add_sink(sink)
    client.on("event", lambda m: order.append("handler"))
    await client.subscribe("telemetry.metrics", batch=50, batch_interval=0.05)
    for n in range(100):
        server.publish("telemetry.metrics", {"n": n})
    await until(lambda: sum(len(f) for f in frames) == 100)
    assert len(frames) < 100
    assert [e["data"]["n"] for f in frames for e in f] == list(range(100))
    assert order[0] == "sink"
    assert order.count("handler") == 100
    assert client.stats.events_received == 100
    assert client.stats.channels == {"telemetry.metrics": 100}


async def test_a_columnar_subscription_feeds_column_sinks_and_everyone_else_alike(
    server: Server, client: Client
) -> None:
    batches: list[EventColumns] = []
    messages: list[dict[str, Any]] = []
    client.add_column_sink(lambda channel, events: batches.append(events))  # type: ignore[arg-type]
    client.add_sink(lambda channel, events: messages.extend(events))
    iterator = aiter(client)
    await client.subscribe("telemetry.metrics", batch=25, batch_interval=0.05, columns=True)
    for n in range(100):
        server.publish("telemetry.metrics", {"n": n, "odd": n % 2 == 1 or None})
    await until(lambda: len(messages) == 100)
    assert all(isinstance(batch, EventColumns) for batch in batches)
    assert [n for batch in batches for n in batch.data["n"]] == list(range(100))
    assert [m["data"] for m in messages] == [
        {"n": n, "odd": True} if n % 2 else {"n": n} for n in range(100)
    ]
    assert [(await anext(iterator))["seq"] for _ in range(100)] == list(range(1, 101))
    assert client.stats.events_received == 100
    assert client.stats.duplicates == 0


async def test_async_iteration_yields_events_in_order(server: Server, client: Client) -> None:
    await client.subscribe("tasks.created")
    stream = aiter(client)
    for n in range(3):
        server.publish("tasks.created", {"n": n})
    got = [(await anext(stream))["data"]["n"] for _ in range(3)]
    assert got == [0, 1, 2]


async def test_a_full_iteration_queue_drops_the_oldest_and_counts_them(server: Server) -> None:
    async with await Client.connect(server.url, api_key=KEY, max_queue=5) as c:
        await c.subscribe("tasks.created")
        stream = aiter(c)
        for n in range(20):
            server.publish("tasks.created", {"n": n})
        await until(lambda: c.stats.events_received == 20)
        assert c.stats.dropped == 15
        got = [(await anext(stream))["data"]["n"] for _ in range(5)]
        assert got == [15, 16, 17, 18, 19]


async def test_a_raising_handler_is_counted_and_the_others_still_run(
    server: Server, client: Client
) -> None:
    seen: list[int] = []

    def broken(message: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    client.on("event", broken)
    client.on("event", lambda m: seen.append(m["data"]["n"]))
    await client.subscribe("tasks.created")
    server.publish("tasks.created", {"n": 1})
    server.publish("tasks.created", {"n": 2})
    await until(lambda: len(seen) == 2)
    assert client.stats.handler_errors == 2
    assert client.state is State.OPEN


async def test_removing_a_handler_stops_its_calls(server: Server, client: Client) -> None:
    seen: list[int] = []
    every: list[int] = []
    remove = client.on("event", lambda m: seen.append(m["data"]["n"]))
    client.on("event", lambda m: every.append(m["data"]["n"]))
    await client.subscribe("tasks.created")
    server.publish("tasks.created", {"n": 1})
    await until(lambda: len(every) == 1)
    remove()
    server.publish("tasks.created", {"n": 2})
    await until(lambda: len(every) == 2)
    assert seen == [1]


async def test_close_is_idempotent_and_ends_iteration(server: Server) -> None:
    c = await Client.connect(server.url, api_key=KEY)
    states: list[State] = []
    c.on("state", lambda m: states.append(m["state"]))
    stream = aiter(c)
    await c.aclose()
    await c.aclose()
    assert c.state is State.CLOSED
    assert states == [State.CLOSING, State.CLOSED]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    with pytest.raises(TransportError):
        await c.ping()


async def test_close_delivers_every_frame_already_received(server: Server) -> None:
    c = await Client.connect(server.url, api_key=KEY)
    seen: list[int] = []
    c.add_sink(lambda channel, events: seen.extend(e["data"]["n"] for e in events))
    await c.subscribe("tasks.created")
    for n in range(500):
        server.publish("tasks.created", {"n": n})
    # A round trip after the publishes: every event frame precedes the pong on the wire.
    await c.ping()
    await c.aclose()
    assert seen == list(range(500))


async def test_a_wrong_key_raises_auth_error_and_is_not_retried(server: Server) -> None:
    with pytest.raises(AuthError, match="1008"):
        await Client.connect(server.url, api_key="wrong")


async def test_the_key_can_travel_in_the_query_string(server: Server) -> None:
    async with await Client.connect(server.url, api_key=KEY, token_in_query=True) as c:
        assert c.state is State.OPEN


async def test_nothing_listening_raises_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot connect"):
        await Client.connect(f"ws://127.0.0.1:{free_port()}", api_key=KEY, open_timeout=2)


async def test_reconnects_after_a_server_restart_and_restores_every_subscription(
    server: Server,
) -> None:
    port = server.port
    c = await Client.connect(server.url, api_key=KEY, backoff=(0.01, 0.1))
    reconnected: list[dict[str, Any]] = []
    states: list[State] = []
    seen: list[tuple[str, Any]] = []
    c.on("reconnected", reconnected.append)
    c.on("state", lambda m: states.append(m["state"]))
    c.on("event", lambda m: seen.append((m["channel"], m["data"]["k"])))
    await c.subscribe("tasks.updates", {"k": "a"})
    await c.subscribe("tasks.updates", {"k": ["b"]})
    await c.subscribe("system.alerts")
    old_epoch = c.epoch
    await server.aclose()
    await until(lambda: c.state is State.RECONNECTING)
    second = await aserve(port=port, api_key=KEY, demo=False)
    try:
        await until(lambda: bool(reconnected))
        assert c.state is State.OPEN
        assert reconnected[0]["epoch_changed"] is True
        assert reconnected[0]["resumed"] is False
        assert reconnected[0]["down_since"] <= reconnected[0]["up_at"]
        assert c.epoch == second.epoch != old_epoch
        assert c.stats.reconnects == 1
        assert State.RECONNECTING in states
        for k in ("a", "b", "c"):
            second.publish("tasks.updates", {"k": k})
        second.publish("system.alerts", {"k": "z"})
        await until(lambda: len(seen) == 3)
        assert sorted(seen) == [
            ("system.alerts", "z"),
            ("tasks.updates", "a"),
            ("tasks.updates", "b"),
        ]
        assert c.subscriptions == {
            "tasks.updates": [{"k": "a"}, {"k": ["b"]}],
            "system.alerts": [None],
        }
    finally:
        await c.aclose()
        await second.aclose()


async def test_without_reconnect_an_unexpected_close_ends_the_client(server: Server) -> None:
    c = await Client.connect(server.url, api_key=KEY, reconnect=False)
    stream = aiter(c)
    await server.aclose()
    await until(lambda: c.state is State.CLOSED)
    assert c.stats.last_error is not None
    assert "1001" in c.stats.last_error
    with pytest.raises(TransportError):
        await anext(stream)


async def test_max_retries_gives_up_and_says_why(server: Server) -> None:
    c = await Client.connect(server.url, api_key=KEY, backoff=(0.01, 0.02), max_retries=3)
    await server.aclose()
    await until(lambda: c.state is State.CLOSED)
    stats = c.stats
    assert stats.failed_attempts == 3
    assert stats.last_error is not None
    assert "gave up after 3" in stats.last_error
    await c.aclose()


async def test_a_wss_server_is_reached_with_the_given_tls_context() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_ctx)
    srv = await aserve(api_key=KEY, demo=False, ssl=server_ctx)
    try:
        assert srv.url.startswith("wss://")
        async with await Client.connect(srv.url, api_key=KEY, ssl=client_ctx) as c:
            assert await c.ping() > 0
        with pytest.raises(TransportError):
            await Client.connect(srv.url, api_key=KEY, open_timeout=5)
    finally:
        await srv.aclose()


async def test_close_while_reconnecting_stops_the_retries_at_once(server: Server) -> None:
    c = await Client.connect(server.url, api_key=KEY, backoff=(5.0, 5.0))
    await server.aclose()
    await until(lambda: c.state is State.RECONNECTING)
    async with asyncio.timeout(2):
        await c.aclose()
    assert c.state is State.CLOSED
    assert c.error is None
    assert c.stats.next_retry_at is None


async def test_malformed_frames_from_a_server_are_reported_and_skipped() -> None:
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve

    good = {"type": "event", "channel": "c", "timestamp": "t", "data": {"n": 1}, "seq": 1}
    columns = {
        "type": "event_batch",
        "channel": "c",
        "format": "columns",
        "count": 2,
        "seq": [2, 3],
        "timestamp": ["t", "t"],
        "data": {"n": [2, 3]},
    }
    frames = [
        "not json",
        '{"type": "event"}',
        '{"type": "event_batch", "channel": "c", "format": "columns", "count": 2,'
        ' "seq": [1, 2], "timestamp": ["t"], "data": {}}',
        '{"type": "event_batch", "channel": "c", "format": "columns", "count": 1,'
        ' "seq": ["1"], "timestamp": ["t"], "data": {}}',
        orjson.dumps(good).decode(),
        orjson.dumps(columns).decode(),
    ]

    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"type": "connection_established", "client_id": "x", "timestamp": "t"}')
        for frame in frames:
            await ws.send(frame)
        await ws.wait_closed()

    async with ws_serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with await Client.connect(f"ws://127.0.0.1:{port}", heartbeat=None) as client:
            seen: list[dict[str, Any]] = []
            client.on("event", seen.append)
            await until(lambda: len(seen) == 3)
            assert [e["data"]["n"] for e in seen] == [1, 2, 3]
            assert client.state is State.OPEN
            assert client.stats.last_error is not None
            assert "malformed message from the server" in client.stats.last_error
            assert client.stats.malformed == 4
            assert client.stats.events_received == 3


async def test_a_frame_over_the_size_limit_closes_1009_and_the_client_reconnects() -> None:
    from websockets.asyncio.server import ServerConnection
    from websockets.asyncio.server import serve as ws_serve

    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.send('{"type": "connection_established", "client_id": "x", "timestamp": "t"}')
        if connections == 1:
            await ws.send('{"type": "pong", "pad": "' + "a" * (MAX_SIZE + 1) + '"}')
        await ws.wait_closed()

    async with ws_serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        async with await Client.connect(url, heartbeat=None, backoff=(0.01, 0.05)) as client:
            # The count goes up on the new connection, OPEN follows once resubscribed.
            await until(lambda: client.stats.reconnects == 1 and client.state is State.OPEN)
            assert client.stats.last_error is not None
            assert "code=1009" in client.stats.last_error
            assert f"a frame over {MAX_SIZE} bytes" in client.stats.last_error
