"""The ``nexus-nb`` command line, run as real subprocesses against servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from nexus_nb.capture import Recorder, read_capture
from nexus_nb.client import Client
from nexus_nb.server import Server, aserve
from tests.helpers.keys import KEY
from tests.helpers.net import free_port
from tests.helpers.paths import ROOT
from tests.helpers.waiting import until


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k != "NEXUS_API_KEY"}
    clean["PYTHONPATH"] = str(ROOT)
    clean["PYTHONFAULTHANDLER"] = "1"  # SIGABRT prints every thread's stack: see finished()
    return clean


@contextlib.asynccontextmanager
async def started(*args: str, **pipes: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m nexus_nb ARGS`` as a child process, killed if still running at exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_nb", *args, env=env(), **pipes
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


PIPE = asyncio.subprocess.PIPE


async def finished(
    proc: asyncio.subprocess.Process, limit: float, stdin: bytes | None = None
) -> tuple[bytes, bytes]:
    """``proc.communicate(stdin)`` within ``limit`` seconds, or fail with where it hangs.

    A command still running at the limit is sent SIGABRT, on which faulthandler
    (``PYTHONFAULTHANDLER``) writes every thread's stack to its stderr.
    """
    try:
        async with asyncio.timeout(limit):
            return await proc.communicate(stdin)
    except TimeoutError:
        proc.send_signal(signal.SIGABRT)
        await proc.wait()
        err = await proc.stderr.read() if proc.stderr is not None else b""
        pytest.fail(f"still running after {limit} s; its stderr:\n{err.decode()[-6000:]}")


async def run(*args: str, stdin: bytes | None = None, limit: float = 30) -> tuple[int, str, str]:
    """Run ``python -m nexus_nb ARGS``; return (exit code, stdout, stderr)."""
    async with started(*args, stdin=PIPE, stdout=PIPE, stderr=PIPE) as proc:
        out, err = await finished(proc, limit, stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def watcher(server: Server) -> AsyncIterator[tuple[Client, list[dict[str, Any]]]]:
    client = await Client.connect(server.url, api_key=KEY)
    seen: list[dict[str, Any]] = []
    client.on("event", seen.append)
    await client.subscribe(["tasks.updates", "telemetry.metrics"])
    try:
        yield client, seen
    finally:
        await client.aclose()


async def test_serve_prints_its_url_first_and_exits_0_on_sigterm() -> None:
    async with started(
        "serve", "--port", "0", "--demo", "--rate", "50", stdout=PIPE, stderr=PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        async with asyncio.timeout(20):
            url = (await proc.stdout.readline()).decode().strip()
            key_line = (await proc.stderr.readline()).decode().strip()
        assert url.startswith("ws://127.0.0.1:")
        assert key_line.startswith("api key: ")
        key = key_line.removeprefix("api key: ")
        async with await Client.connect(url, api_key=key) as client:
            got: list[dict[str, Any]] = []
            client.on("event", got.append)
            await client.subscribe(["telemetry.metrics", "tasks.updates", "system.alerts"])
            await until(lambda: len(got) > 0)
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                assert await proc.wait() == 0


async def test_tail_prints_count_filtered_events_as_json_lines_and_exits_0(
    server: Server,
) -> None:
    tail = asyncio.create_task(
        run("tail", server.url, "--api-key", KEY, "--channel", "tasks.updates",
            "--filter", "priority=high,critical", "--count", "2", "--timeout", "20")
    )  # fmt: skip
    # The subscribe is the client's first message: once received, it is in force.
    await until(lambda: server.metrics()["messagesReceived"] >= 1, limit=20)
    for n, priority in enumerate(["low", "high", "medium", "critical", "high"]):
        server.publish("tasks.updates", {"priority": priority, "n": n})
    code, out, err = await tail
    assert code == 0, err
    lines = out.splitlines()
    assert [orjson.loads(line)["data"] for line in lines] == [
        {"priority": "high", "n": 1},
        {"priority": "critical", "n": 3},
    ]
    first = orjson.loads(lines[0])
    assert list(first) == ["type", "channel", "timestamp", "data", "seq"]


async def test_tail_times_out_with_exit_3(server: Server) -> None:
    code, out, _ = await run(
        "tail", server.url, "--api-key", KEY, "--channel", "tasks.updates", "--timeout", "0.5"
    )
    assert (code, out) == (3, "")


async def test_tail_with_a_wrong_key_exits_4(server: Server) -> None:
    code, _, err = await run("tail", server.url, "--api-key", "bad", "--channel", "tasks.updates")
    assert code == 4
    assert "1008" in err


async def test_tail_with_nothing_listening_exits_5() -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    code, _, err = await run("tail", url, "--api-key", KEY, "--channel", "tasks.updates")
    assert code == 5
    assert err.startswith("nexus-nb: error: cannot connect")


async def test_tail_of_an_unknown_channel_exits_6(server: Server) -> None:
    code, _, err = await run("tail", server.url, "--api-key", KEY, "--channel", "nope")
    assert code == 6
    assert "INVALID_CHANNEL" in err


async def test_a_batch_over_the_server_limit_exits_6_naming_the_field(server: Server) -> None:
    code, _, err = await run(
        "tail", server.url, "--api-key", KEY, "--channel", "tasks.updates", "--batch", "5000"
    )
    assert code == 6
    assert "batch.maxlen must be 1..1000" in err


async def test_a_bad_filter_is_a_usage_error(server: Server) -> None:
    code, _, err = await run(
        "tail", server.url, "--api-key", KEY, "--channel", "tasks.updates", "--filter", "oops"
    )
    assert code == 2
    assert "--filter" in err


async def test_publish_data_file_and_stdin_reach_subscribers(
    server: Server, watcher: tuple[Client, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _, seen = watcher
    base = ("publish", server.url, "--api-key", KEY, "--channel", "tasks.updates")
    assert (await run(*base, "--data", '{"n": 1}'))[0] == 0
    path = tmp_path / "events.jsonl"
    path.write_text('{"n": 2}\n\n{"n": 3}\n')
    assert (await run(*base, "--file", str(path)))[0] == 0
    assert (await run(*base, "--rate", "200", stdin=b'{"n": 4}\n{"n": 5}\n'))[0] == 0
    await until(lambda: len(seen) == 5)
    assert [m["data"]["n"] for m in seen] == [1, 2, 3, 4, 5]


async def test_publish_at_a_rate_coalesces_what_falls_due_within_the_spacing(
    server: Server, watcher: tuple[Client, list[dict[str, Any]]]
) -> None:
    _, seen = watcher
    before = server.metrics()["messagesReceived"]
    lines = b"".join(b'{"n": %d}\n' % n for n in range(40))
    base = ("publish", server.url, "--api-key", KEY, "--channel", "tasks.updates")
    assert (await run(*base, "--rate", "400", stdin=lines))[0] == 0
    await until(lambda: len(seen) == 40)
    assert [m["data"]["n"] for m in seen] == list(range(40))
    # 40 events over 97.5 ms in publish actions at least 20 ms apart: at least the
    # first and the last, at most one per 20 ms (never one per event, nor one in all).
    actions = server.metrics()["messagesReceived"] - before
    assert 2 <= actions <= 6


@pytest.mark.parametrize("batch", [[], ["--batch", "16"]], ids=["events", "batches"])
async def test_record_to_parquet_reads_back_every_event(
    server: Server, tmp_path: Path, batch: list[str]
) -> None:
    out = tmp_path / "capture.parquet"
    record = asyncio.create_task(
        run("record", server.url, "--api-key", KEY, "--channel", "telemetry.metrics",
            "--out", str(out), "--count", "30", "--duration", "20", *batch)
    )  # fmt: skip
    await until(lambda: server.metrics()["messagesReceived"] >= 1, limit=20)
    for n in range(40):
        server.publish("telemetry.metrics", {"metric_name": "cpu", "value": float(n)})
    code, _, err = await record
    assert code == 0, err
    assert "recorded 30 events" in err
    frame = read_capture(out)
    assert len(frame) == 30
    assert list(frame["value"]) == [float(n) for n in range(30)]


async def test_publish_from_a_capture_replays_its_events(
    server: Server, watcher: tuple[Client, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _, seen = watcher
    path = tmp_path / "replay.parquet"
    with Recorder(path) as recorder:
        for n in range(25):
            stamp = f"2025-11-03T01:54:{n:02d}.000Z"
            recorder.write(
                {"type": "event", "channel": "telemetry.metrics", "timestamp": stamp,
                 "data": {"metric_name": "cpu", "value": float(n), "timestamp": stamp}}
            )  # fmt: skip
    code, _, err = await run(
        "publish", server.url, "--api-key", KEY, "--from", str(path), "--speed", "max"
    )
    assert code == 0, err
    assert "published 25 events" in err
    await until(lambda: len(seen) == 25)
    assert [m["data"]["value"] for m in seen] == [float(n) for n in range(25)]
    assert all(m["channel"] == "telemetry.metrics" for m in seen)


async def test_tail_rides_through_a_server_restart(server: Server) -> None:
    port = server.port
    tail = asyncio.create_task(
        run("tail", server.url, "--api-key", KEY, "--channel", "tasks.updates",
            "--count", "2", "--timeout", "30")
    )  # fmt: skip
    await until(lambda: server.metrics()["messagesReceived"] >= 1, limit=20)
    server.publish("tasks.updates", {"n": 1})
    await until(lambda: server.metrics()["channels"]["tasks.updates"]["delivered"] == 1)
    await server.aclose()
    second = await aserve(port=port, api_key=KEY, demo=False)
    try:
        await until(lambda: second.metrics()["messagesReceived"] >= 1, limit=20)
        second.publish("tasks.updates", {"n": 2})
        code, out, err = await tail
    finally:
        await second.aclose()
    assert code == 0, err
    assert [orjson.loads(line)["data"]["n"] for line in out.splitlines()] == [1, 2]


async def test_record_stopped_by_sigterm_keeps_what_it_received(
    server: Server, tmp_path: Path
) -> None:
    out = tmp_path / "capture.csv"
    async with started(
        "record", server.url, "--api-key", KEY, "--channel", "tasks.created",
        "--out", str(out), stdout=PIPE, stderr=PIPE,
    ) as proc:  # fmt: skip
        await until(lambda: server.metrics()["messagesReceived"] >= 1, limit=20)
        for n in range(20):
            server.publish("tasks.created", {"n": n})
        await until(lambda: server.metrics()["channels"]["tasks.created"]["delivered"] == 20)
        proc.send_signal(signal.SIGTERM)
        _, err = await finished(proc, 20)
    assert proc.returncode == 0, err.decode()
    summary = err.decode().strip().splitlines()[-1]
    assert summary.startswith("recorded ")
    written = int(summary.split()[1])
    assert written > 0
    assert list(read_capture(out)["n"]) == list(range(written))


async def test_record_draws_a_progress_bar_on_a_terminal_and_not_on_a_pipe(
    server: Server, tmp_path: Path
) -> None:
    leader, follower = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nexus_nb", "record", server.url, "--api-key", KEY,
        "--channel", "telemetry.metrics", "--out", str(tmp_path / "c.parquet"),
        "--count", "30", "--duration", "20",
        stdout=asyncio.subprocess.DEVNULL, stderr=follower, env=env(),
    )  # fmt: skip
    os.close(follower)
    try:
        await until(lambda: server.metrics()["messagesReceived"] >= 1, limit=20)
        for n in range(40):
            server.publish("telemetry.metrics", {"metric_name": "cpu", "value": float(n)})
        async with asyncio.timeout(20):
            assert await proc.wait() == 0
        shown = (await asyncio.to_thread(read_all, leader)).decode()
    finally:
        os.close(leader)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert f"\r[{'#' * 30}] 100%  30 events" in shown
    assert "recorded 30 events" in shown
    _, _, piped = await run(
        "record", server.url, "--api-key", KEY, "--channel", "telemetry.metrics",
        "--out", str(tmp_path / "d.parquet"), "--duration", "0.3",
    )  # fmt: skip
    assert "\r" not in piped
    assert piped.startswith("recorded 0 events")


def read_all(fd: int) -> bytes:
    """Read a pty leader until the other side is closed (EIO on Linux)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
async def test_tail_whose_output_pipe_is_paused_for_8_s_loses_no_event(server: Server) -> None:
    total, rate = 40_000, 5_000
    async with started(
        "tail", server.url, "--api-key", KEY, "--channel", "tasks.updates",
        "--count", str(total), "--timeout", "60", stdout=PIPE, stderr=PIPE,
    ) as proc:  # fmt: skip
        await until(lambda: server.metrics()["messagesReceived"] >= 1, limit=20)
        # About 250 bytes an event at 5,000 events/s while nobody reads the pipe: the
        # pipe fills within a few hundred events and every write of tail then blocks.
        pad = "x" * 200
        start = asyncio.get_running_loop().time()
        for n in range(total):
            server.publish("tasks.updates", {"n": n, "pad": pad})
            if n % 50 == 49:
                due = start + (n + 1) / rate - asyncio.get_running_loop().time()
                await asyncio.sleep(max(0.0, due))
        out, err = await finished(proc, 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    lines = out.splitlines()
    assert [orjson.loads(line)["data"]["n"] for line in lines] == list(range(total))
    assert all(orjson.loads(line)["type"] == "event" for line in lines[:10])


async def flood_while_stopped(proc: asyncio.subprocess.Process, server: Server, total: int) -> None:
    """Publish ``total`` ~250-byte events on tasks.updates while ``proc`` is stopped.

    SIGSTOP stops every thread of the command, so nothing reads its socket; the
    events (5 MB per 20,000) overflow the socket buffers and the server's bound,
    and the command is continued once the server has skipped some.
    """
    await until(lambda: server.metrics()["messagesReceived"] >= 1, limit=20)
    proc.send_signal(signal.SIGSTOP)
    pad = "x" * 200
    for n in range(total):
        server.publish("tasks.updates", {"n": n, "pad": pad})
        if n % 1000 == 999:
            await asyncio.sleep(0)
    await until(lambda: server.metrics()["dropped"] > 0, limit=20)
    proc.send_signal(signal.SIGCONT)


async def test_record_stalled_past_the_servers_bound_recovers_every_event_from_retention(
    tmp_path: Path,
) -> None:
    # A stalled record (a disk that stops answering, as SIGSTOP stops every thread) is
    # skipped by the server past its 64 KB bound; retention holds all 20,000, so the
    # client asks for them back and the capture ends whole, with no gap said.
    total = 20_000
    server = await aserve(api_key=KEY, demo=False, max_queue_bytes=64 * 1024, retention=total)
    out = tmp_path / "capture.parquet"
    try:
        async with started(
            "record", server.url, "--api-key", KEY, "--channel", "tasks.updates",
            "--out", str(out), "--count", str(total), "--duration", "60",
            stdout=asyncio.subprocess.DEVNULL, stderr=PIPE,
        ) as proc:  # fmt: skip
            await flood_while_stopped(proc, server, total)
            _, err = await finished(proc, 60)
        metrics = server.metrics()
    finally:
        await server.aclose()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "gap" not in err.decode()
    assert metrics["dropped"] > 0
    assert metrics["recovered"] == metrics["dropped"]
    assert list(read_capture(out)["n"]) == list(range(total))


async def test_tail_says_on_stderr_how_many_events_a_gap_lost() -> None:
    server = await aserve(api_key=KEY, demo=False, max_queue_bytes=64 * 1024)
    try:
        async with started(
            "tail", server.url, "--api-key", KEY, "--channel", "tasks.updates",
            "--timeout", "6", stdout=asyncio.subprocess.DEVNULL, stderr=PIPE,
        ) as proc:  # fmt: skip
            await flood_while_stopped(proc, server, 40_000)
            _, err = await finished(proc, 30)
    finally:
        await server.aclose()
    assert proc.returncode == 3  # --timeout: nothing ended it sooner
    lines = [line for line in err.decode().splitlines() if "gap" in line]
    assert lines, err.decode()[-2000:]
    missed = sum(int(line.split("gap: ")[1].split()[0]) for line in lines)
    # What the server's retention still held came back (recover); the rest is said.
    metrics = server.metrics()
    assert missed == metrics["dropped"] - metrics["recovered"], (lines, metrics)
    assert all("on tasks.updates (overflow" in line for line in lines), lines


def test_every_option_a_commands_help_names_is_one_it_takes() -> None:
    import io
    import re

    from nexus_nb.cli import _parser

    for name in ("serve", "tail", "record", "publish", "export"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            _parser().parse_args([name, "--help"])
        text = out.getvalue()
        options = text.split("options:", 1)[1]
        # An option's line starts with its names: "-o OUT, --out OUT", "--demo, --no-demo".
        heads = re.findall(r"^  (-\S.*?)(?:  |$)", options, re.MULTILINE)
        taken = {name for head in heads for name in re.findall(r"--[a-z][a-z-]+", head)}
        named = set(re.findall(r"--[a-z][a-z-]+", text))
        assert "--help" in taken
        assert named <= taken, f"nexus-nb {name} --help names {sorted(named - taken)}"
