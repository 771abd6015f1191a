"""Structured logs: JSON lines with the records' extra fields, and never a token."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import orjson

from nexus_nb.client import Client
from nexus_nb.server.logs import JsonFormatter
from nexus_nb.server.redact import RedactTokens


def test_json_lines_carry_the_message_level_time_and_extra_fields() -> None:
    record = logging.LogRecord("nexus_nb.server", logging.INFO, __file__, 1, "hi %s", ("x",), None)
    record.client_id = "client_1"
    line = orjson.loads(JsonFormatter().format(record))
    assert line["message"] == "hi x"
    assert line["level"] == "info"
    assert line["logger"] == "nexus_nb.server"
    assert line["client_id"] == "client_1"
    assert line["time"].endswith("Z")


def test_a_redacting_handler_keeps_tokens_out_of_json_lines() -> None:
    record = logging.LogRecord(
        "websockets.server", logging.INFO, __file__, 1, "GET /stream?token=%s", ("s3cret",), None
    )
    assert RedactTokens().filter(record)
    assert "s3cret" not in JsonFormatter().format(record)


async def test_serve_with_json_logs_writes_one_json_object_per_connection_event() -> None:
    env = {**os.environ, "NEXUS_API_KEY": "log-key"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_nb", "serve", "--port", "0", "--log-format", "json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(20):
            url = (await proc.stdout.readline()).decode().strip()
            client = await Client.connect(f"{url}?token=log-key", api_key=None, reconnect=False)
            await client.aclose()
            events = []
            while "client.disconnected" not in events:
                line = orjson.loads(await proc.stderr.readline())
                events.append(line.get("event"))
                assert "log-key" not in str(line)
        assert events.index("client.connected") < events.index("client.disconnected")
    finally:
        proc.terminate()
        await proc.wait()
