"""The ``nexus-nb`` command line (``python -m nexus_nb``): serve, tail, publish, record, export.

Thin by design: parse the arguments, call the library, print. The client
commands (tail, record) reconnect and resume through server restarts.

Exit codes
==========
====  ===========================================================
code  meaning
====  ===========================================================
0     success (also after SIGINT/SIGTERM stopped a serve/tail/record)
1     any other error (bad capture file, unexpected failure)
2     usage error (bad arguments)
3     timeout (``--timeout`` passed before ``--count`` events)
4     authentication failure (HTTP 401/403 or close code 1008)
5     connection failure (refused, unreachable, gave up reconnecting)
6     protocol error (subscription or publish refused by the server)
====  ===========================================================
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final, NoReturn

import orjson

from nexus_nb import protocol
from nexus_nb.client import Client
from nexus_nb.client.credential import api_key_from_env
from nexus_nb.exceptions import AuthError, NexusError, ProtocolError, TransportError

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
EXIT_AUTH, EXIT_CONNECTION, EXIT_PROTOCOL = 4, 5, 6
#: Events per ``publish`` action; well under the server's 10,000 and 1 MiB limits.
CHUNK: Final = 1_000
#: Shortest spacing of paced publishes, seconds: keeps under servers' per-client
#: message rate limits (100/s by default) by coalescing what falls due meanwhile.
MIN_SPACING: Final = 0.02

EPILOG = """exit codes: 0 ok, 1 other error, 2 usage, 3 timeout, 4 auth failure (1008),
5 connection failure, 6 protocol error (subscription/publish refused)."""
EXPORT_EPILOG = """exit codes: 0 ok, 1 a cell failed (nothing written) or another error, 2 usage,
3 a cell ran past --timeout."""


def _usage(message: str) -> NoReturn:
    print(f"nexus-nb: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _filters(items: Sequence[str]) -> dict[str, Any] | None:
    """``key=v1,v2`` pairs as a filter object (values read by :func:`protocol.filter_value`)."""
    filters: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            _usage(f"--filter needs key=value[,value...], got {item!r}")
        values = [protocol.filter_value(text) for text in raw.split(",")]
        filters[key] = values[0] if len(values) == 1 else values
    return filters or None


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _wait(stop: asyncio.Event, limit: float | None) -> bool:
    """Wait for ``stop``; return False if ``limit`` seconds passed first."""
    try:
        async with asyncio.timeout(limit):
            await stop.wait()
    except TimeoutError:
        return False
    return True


async def _client(args: argparse.Namespace) -> Client:
    # The socket is read on a thread of its own: while a write to a slow disk or a
    # paused pipe blocks the command, events keep arriving (bounded by the client's
    # hand-off, past which the loss is counted and marked as a gap), so the server
    # does not drop them for a client that stopped reading.
    return await Client.connect(
        args.url, api_key=api_key_from_env(args.api_key), backoff=(0.1, 5.0), reader="thread"
    )


async def cmd_serve(args: argparse.Namespace) -> int:
    """Run a server until SIGTERM/SIGINT; print its URL first."""
    from nexus_nb.server import aserve
    from nexus_nb.server.bind import resolve_api_key
    from nexus_nb.server.logs import LogFormat, configure
    from nexus_nb.server.tls import tls_context

    given = api_key_from_env(args.api_key)
    api_key = resolve_api_key(given, args.host, None)
    if api_key != given:
        # Printed before any log line, so scripts can read it as stderr's first line.
        print(f"api key: {api_key}", file=sys.stderr, flush=True)
    configure(LogFormat(args.log_format), args.log_level)
    ssl = tls_context(args.certfile, args.keyfile) if args.certfile else None
    server = await aserve(
        host=args.host,
        port=args.port,
        api_key=api_key,
        demo=args.demo,
        rate=args.rate,
        seed=args.seed,
        origins=args.origin or None,
        ssl=ssl,
        redis=args.redis,
        retention=args.retention,
        retention_seconds=args.retention_seconds,
        retention_bytes=args.retention_bytes,
        host_metrics=args.host_metrics,
    )
    print(server.url, flush=True)
    await server.serve_forever()
    return EXIT_OK


async def _stream(args: argparse.Namespace, write: Any) -> tuple[int, Client, float]:
    """Subscribe and hand events to ``write(events)`` until count, duration, timeout or a signal.

    Returns:
        (exit code, the closed client, seconds streamed).
    """
    stop = asyncio.Event()
    # Before connecting: a SIGTERM that arrives while connecting or subscribing must
    # end the command gracefully (record closes its file), not kill the process.
    _stop_on_signals(stop)
    client = await _client(args)
    seen = 0
    count = args.count

    def sink(channel: str, events: list[dict[str, Any]]) -> None:
        nonlocal seen
        if count is not None:
            events = events[: count - seen]
        if events:
            write(events)
            seen += len(events)
        if count is not None and seen >= count:
            stop.set()

    def lost(message: dict[str, Any]) -> None:
        # Events this command will never see (the server's bound, or the client's
        # hand-off), after what the server's retention gave back: said on stderr,
        # so stdout stays the events.
        recovered = message.get("recovered")
        back = f"; {recovered} recovered" if recovered else ""
        print(
            f"nexus-nb: gap: {message.get('missed', '?')} events lost on "
            f"{message.get('channel', '?')} ({message.get('reason', 'unknown')}{back})",
            file=sys.stderr,
            flush=True,
        )

    client.add_sink(sink)
    client.on("gap", lost)
    client.on("state", lambda m: stop.set() if client.error is not None else None)
    start = time.monotonic()
    try:
        await client.subscribe(args.channel, _filters(args.filter), batch=args.batch)
        finished = await _wait(stop, args.timeout)
    finally:
        await client.aclose()
    if client.error is not None:
        raise client.error
    return (EXIT_OK if finished else EXIT_TIMEOUT), client, time.monotonic() - start


async def cmd_tail(args: argparse.Namespace) -> int:
    """Print events as JSON lines."""
    out = sys.stdout.buffer

    def write(events: list[dict[str, Any]]) -> None:
        out.write(b"".join(orjson.dumps(e) + b"\n" for e in events))
        out.flush()

    code, _, _ = await _stream(args, write)
    return code


class _Progress:
    """One self-overwriting stderr line while recording; a bar when the end is known.

    The end is ``--count`` events or ``--duration`` seconds, whichever comes first.
    """

    WIDTH: Final = 30

    def __init__(self, count: int | None, duration: float | None) -> None:
        self.count, self.duration = count, duration
        self.start = time.monotonic()
        self.written = 0

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        text = f"{self.written:,} events, {self.written / max(elapsed, 1e-9):,.0f}/s"
        done = [
            part
            for part in (
                self.written / self.count if self.count else None,
                elapsed / self.duration if self.duration else None,
            )
            if part is not None
        ]
        if not done:
            return text
        fraction = min(1.0, max(done))
        filled = round(fraction * self.WIDTH)
        return f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%}  {text}"

    async def show(self, interval: float = 0.25) -> None:
        """Redraw the line every ``interval`` seconds until cancelled."""
        while True:
            print(f"\r{self.line()}\x1b[K", end="", file=sys.stderr, flush=True)
            await asyncio.sleep(interval)


async def cmd_record(args: argparse.Namespace) -> int:
    """Record events to a capture file; the recorder is closed whatever happens."""
    from nexus_nb.capture import Recorder

    args.timeout = args.duration
    recorder = Recorder(args.out)
    progress = _Progress(args.count, args.duration)

    def write(events: list[dict[str, Any]]) -> None:
        recorder.write_many(events)
        progress.written += len(events)

    # Only for a person watching: a pipe or a log file gets the summary line alone.
    ticker = asyncio.create_task(progress.show()) if sys.stderr.isatty() else None
    try:
        code, _, elapsed = await _stream(args, write)
    finally:
        recorder.close()
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            print(f"\r{progress.line()}\x1b[K", file=sys.stderr)
    written = progress.written
    rate = written / max(elapsed, 1e-9)
    print(
        f"recorded {written} events to {args.out} in {elapsed:.1f} s ({rate:,.0f}/s)",
        file=sys.stderr,
    )
    # --duration is the planned end of a recording, not a failure.
    return EXIT_OK if code == EXIT_TIMEOUT and args.count is None else code


def _payloads(args: argparse.Namespace) -> Iterator[tuple[float, str, dict[str, Any]]]:
    """(due seconds, channel, data) for each event to publish."""
    if args.source is not None:
        from nexus_nb.capture import iter_events

        speed = 0.0 if args.speed in ("0", "max") else float(args.speed)
        for ev in iter_events(args.source, channel=args.channel):
            yield (max(0.0, ev.offset) / speed if speed > 0 else 0.0), ev.channel, ev.data
        return
    if args.channel is None:
        _usage("publish needs --channel (or --from CAPTURE)")
    if args.data is not None:
        parsed = orjson.loads(args.data)
        items = parsed if isinstance(parsed, list) else [parsed]
    else:
        stream = open(args.file, "rb") if args.file else sys.stdin.buffer  # noqa: SIM115
        with stream:
            items = [orjson.loads(line) for line in stream if line.strip()]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            _usage("each event must be a JSON object")
        yield (i / args.rate if args.rate else 0.0), args.channel, item


async def cmd_publish(args: argparse.Namespace) -> int:
    """Publish events from --data, --file, stdin or a capture (--from), paced."""
    from nexus_nb.server.pace import Pacer

    payloads = [(due, (channel, data)) for due, channel, data in _payloads(args)]
    client = await _client(args)
    published = 0
    # One publish action per batch: the events due by then, on one channel, at
    # most CHUNK, and batches MIN_SPACING apart once pacing applies.
    batches = Pacer(payloads, max_batch=CHUNK, min_spacing=MIN_SPACING, key=lambda p: p[0])
    try:
        async for batch in batches:
            await client.publish(batch[0][0], [data for _, data in batch])
            published += len(batch)
    finally:
        await client.aclose()
    print(f"published {published} events", file=sys.stderr)
    return EXIT_OK


async def cmd_export(args: argparse.Namespace) -> int:
    """Execute a notebook and write it as offline HTML with each view's last frame."""
    try:
        from nbclient.exceptions import CellExecutionError

        from nexus_nb.session.report import export_html
    except ImportError as exc:
        print(f"nexus-nb: error: export needs nbclient and nbconvert ({exc})", file=sys.stderr)
        return EXIT_ERROR
    try:
        out = await export_html(args.notebook, args.out, cell_timeout=args.timeout)
    except CellExecutionError as exc:
        print(f"nexus-nb: error: a cell failed; nothing written\n{exc}", file=sys.stderr)
        return EXIT_ERROR
    except TimeoutError as exc:  # nbclient's CellTimeoutError
        print(f"nexus-nb: error: {exc}; nothing written", file=sys.stderr)
        return EXIT_TIMEOUT
    print(out)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nexus-nb",
        description="Serve, watch, publish and record Nexus event streams.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add_key(p: argparse.ArgumentParser) -> None:
        p.add_argument("--api-key", default=None, help="default: $NEXUS_API_KEY")

    def command(name: str, text: str, epilog: str = EPILOG) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=text, description=text, epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip

    p = command("serve", "run a Nexus server; prints its ws:// URL first")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    add_key(p)
    p.add_argument("--demo", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--rate", type=float, default=20.0, help="demo events per second")
    p.add_argument(
        "--host-metrics",
        action="store_true",
        help="also publish this machine's CPU, memory, disk and network on telemetry.metrics "
        "(needs the 'host' extra: psutil)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--certfile")
    p.add_argument("--keyfile")
    p.add_argument("--origin", action="append", default=[], help="allowed Origin (repeat)")
    p.add_argument("--redis", metavar="URL", help="share events with other instances via Redis")
    p.add_argument(
        "--retention", type=int, default=10_000, help="events kept per channel (resume, recover)"
    )
    p.add_argument("--retention-seconds", type=float, default=None, help="also drop older events")
    p.add_argument(
        "--retention-bytes",
        type=int,
        default=None,
        help="also drop the oldest while a channel holds more encoded bytes",
    )
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(run=cmd_serve)

    for name, text in (
        ("tail", "print events as JSON lines"),
        ("record", "record events to .parquet, .csv or .jsonl"),
    ):
        p = command(name, text)
        p.add_argument("url")
        add_key(p)
        p.add_argument("--channel", action="append", required=True, help="repeatable")
        p.add_argument("--filter", action="append", default=[], metavar="KEY=V1,V2")
        p.add_argument("--count", type=int, default=None, help="stop after N events")
        p.add_argument(
            "--batch",
            type=int,
            default=None,
            metavar="N",
            help="ask for frames of up to N events (faster at high rates; ignored by servers "
            "without the extension)",
        )
        if name == "tail":
            p.add_argument("--timeout", type=float, default=None, help="seconds; then exit 3")
            p.set_defaults(run=cmd_tail)
        else:
            p.add_argument("--out", required=True)
            p.add_argument("--duration", type=float, default=None, help="seconds")
            p.set_defaults(run=cmd_record)

    p = command("publish", "publish events (--data, --file, stdin, or --from a capture)")
    p.add_argument("url")
    add_key(p)
    p.add_argument("--channel", help="required unless --from (then: only this channel)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--data", help="a JSON object, or a list of them")
    group.add_argument("--file", help="a JSONL file of event payloads")
    group.add_argument("--from", dest="source", metavar="CAPTURE", help="replay a capture")
    p.add_argument("--rate", type=float, default=None, help="events per second")
    p.add_argument("--speed", default="1", help="replay speed factor; 0 or max: no pacing")
    p.set_defaults(run=cmd_publish)

    p = command(
        "export", "run a notebook and save it as small offline HTML (last frames)", EXPORT_EPILOG
    )
    p.add_argument("notebook")
    p.add_argument("--out", "-o", default=None, help="default: the notebook's name, .html")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per cell")
    p.set_defaults(run=cmd_export)
    return parser


def _exit_code(exc: BaseException) -> int:
    if isinstance(exc, AuthError):
        return EXIT_AUTH
    if isinstance(exc, ProtocolError):
        return EXIT_PROTOCOL
    if isinstance(exc, TransportError):
        return EXIT_CONNECTION
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (see the module docstring)."""
    args = _parser().parse_args(argv)
    try:
        return int(asyncio.run(args.run(args)))
    except (NexusError, OSError, ValueError) as exc:
        print(f"nexus-nb: error: {exc}", file=sys.stderr)
        return _exit_code(exc)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
