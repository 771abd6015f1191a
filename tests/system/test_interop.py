"""The reference's own clients (Node ``ws`` + Bearer header; browser + ``?token=``) read us."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from nexus_nb.server import Server
from tests.helpers.keys import KEY
from tests.system.interop.nodeenv import HERE, node_env, unavailable

HAS_CHROMIUM = Path("/usr/bin/chromium").exists()
BROWSER_CLIENT = (HERE / "browser_client.js").read_bytes()
CHANNELS = ["tasks.updates", "system.alerts"]
FILTERS = {"priority": ["high", "critical"]}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def publish_mix(server: Server) -> list[tuple[str, dict[str, Any]]]:
    """Publish matching and non-matching events; return the matching ones in order."""
    sent = [
        ("tasks.updates", {"task_id": "t1", "priority": "low"}),
        ("tasks.updates", {"task_id": "t2", "priority": "high"}),
        ("telemetry.metrics", {"priority": "high", "value": 1.5}),
        ("system.alerts", {"alert": "disk", "priority": "critical", "nested": {"a": [1, 2]}}),
        ("system.alerts", {"alert": "cpu", "priority": "medium"}),
        ("tasks.updates", {"task_id": "t3", "priority": 1}),
        ("tasks.updates", {"task_id": "t4"}),
        ("tasks.updates", {"task_id": "t5", "priority": "critical", "ok": True, "n": None}),
    ]
    for channel, data in sent:
        server.publish(channel, data)
    return [(c, d) for c, d in sent if c in CHANNELS and d.get("priority") in FILTERS["priority"]]


def check_events(raw: list[str], expected: list[tuple[str, dict[str, Any]]]) -> None:
    """Every event frame has the reference's shape, compact, and they are exactly ``expected``."""
    messages = [orjson.loads(line) for line in raw]
    events = [(line, m) for line, m in zip(raw, messages, strict=True) if m["type"] == "event"]
    assert [(m["channel"], m["data"]) for _, m in events] == expected
    for line, message in events:
        assert list(message) == ["type", "channel", "timestamp", "data", "seq"]
        assert orjson.dumps(message).decode() == line
        assert message["timestamp"].endswith("Z")
    hello = messages[0]
    assert list(hello)[:3] == ["type", "client_id", "timestamp"]
    assert hello["type"] == "connection_established"
    confirmed = next(m for m in messages if m["type"] == "subscription_confirmed")
    assert list(confirmed) == ["type", "channels", "filters", "subscription_id"]
    assert confirmed["channels"] == CHANNELS
    assert confirmed["filters"] == FILTERS


@pytest.mark.node
async def test_a_node_ws_client_with_a_bearer_header_gets_exactly_the_filtered_events(
    server: Server,
) -> None:
    env = await asyncio.to_thread(node_env)
    proc = await asyncio.create_subprocess_exec(
        "node", str(HERE / "node_client.js"), server.url, KEY,
        orjson.dumps(CHANNELS).decode(), orjson.dumps(FILTERS).decode(), "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    raw: list[str] = []
    try:
        async with asyncio.timeout(30):
            while '"subscription_confirmed"' not in (raw[-1] if raw else ""):
                line = await proc.stdout.readline()
                assert line, "the node client ended before its subscription was confirmed"
                raw.append(line.decode().rstrip("\n"))
            expected = publish_mix(server)
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    raw += out.decode().splitlines()
    check_events(raw, expected)


@contextlib.asynccontextmanager
async def page_server(html: bytes) -> AsyncIterator[str]:
    """Serve ``html`` at ``http://127.0.0.1:PORT/`` for any GET.

    The page must come from loopback: Chromium's local-network-access checks block
    a WebSocket from ``about:blank`` or ``data:`` pages to 127.0.0.1.
    """

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(html)}\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + html)
        await writer.drain()
        writer.close()

    http = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{http.sockets[0].getsockname()[1]}/"
    finally:
        http.close()
        await http.wait_closed()


@pytest.mark.browser
async def test_the_browser_client_with_a_query_token_gets_exactly_the_filtered_events(
    server: Server,
) -> None:
    import playwright.async_api as playwright_api

    if not HAS_CHROMIUM:
        unavailable("Chromium is not installed at /usr/bin/chromium")
    html = b"<!doctype html><title>nexus</title><script>" + BROWSER_CLIENT + b"</script>"
    async with page_server(html) as page_url, playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page()
            await page.goto(page_url)
            collect = asyncio.create_task(
                page.evaluate(
                    "([u, k, c, f, n]) => window.collectNexus(u, k, c, f, n)",
                    [server.url, KEY, CHANNELS, FILTERS, 3],
                )
            )
            try:
                async with asyncio.timeout(30):
                    # Page state: nothing in Python to await but the page itself.
                    while not await page.evaluate("window.nexusState.subscribed"):  # noqa: ASYNC110
                        await asyncio.sleep(0.02)
                expected = publish_mix(server)
                async with asyncio.timeout(30):
                    raw = await collect
            finally:
                collect.cancel()
        finally:
            await browser.close()
    check_events(raw, expected)
