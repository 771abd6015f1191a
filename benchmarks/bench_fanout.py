"""Fan-out throughput: our server vs a bare ``websockets.broadcast()`` vs the reference Node server.

``python benchmarks/bench_fanout.py`` runs, for K = 1, 10 and 100 subscribed
clients, the same bounded event count through (a) nexus_nb's server and (b) a
bare websockets server broadcasting pre-encoded frames, then (c) the seed's
Node ``server.js`` at K = 100. The server runs in one process pinned to CPU 0
and a Node ``ws`` load process (cheap per message: it counts frames by prefix,
never parses) on CPU 1. Deliveries/s are measured by the load process from its
first to its last event; deliveries per server CPU-second with the server's own
``process_time()`` (``process.cpuUsage()`` for Node). Every publisher uses the
same flow control: bursts of 50 events, yielding to the loop, pausing while
any client holds more than 1 MiB of outgoing bytes, so nothing is dropped.

Bursts are the case write-coalescing wins (50 frames per client leave in one
write), so K = 100 is also run with a *steady* arrival: one event per loop
iteration, each frame its own write. Last, delivery latency: K = 10 clients
at a fixed 2,000 events/s (20k deliveries/s, well under every server's
capacity), each event stamped with the wall clock when published and the load
process reporting p50/p99 of receive minus publish, for ours and the reference.

Node packages are installed on first use into ``.venv/bench-node`` of the checkout
(the system temporary directory when there is no ``.venv``), never into the
repository. The reference ``server.js`` is read from the seed document in
``../shared/seed/`` beside the checkout; without it the benchmark stops and says
so. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from figures import figure

ROOT = Path(__file__).resolve().parent.parent
# The reference document lives in shared/ beside the checkout, not in the repository.
SEED = ROOT.parent / "shared" / "seed" / "000_6196cfd4c38a78bf.txt"
# Per checkout, so two checkouts benchmarking at once do not share scripts.
NODE_DIR = (
    ROOT / ".venv" / "bench-node"
    if (ROOT / ".venv").is_dir()
    else Path(tempfile.gettempdir()) / "nexus-bench-node"
)
KEY = "bench-key-0123456789"
BURST = 50  # events per loop iteration in the burst runs
STEADY = 1  # events per loop iteration in the steady runs
LATENCY_RUN = (10, 2_000, 10_000)  # K clients, events/s, events
HIGH_WATER = 1 << 20
RUNS = [(1, 100_000), (10, 30_000), (100, 5_000)]
TIMEOUT = 60.0


def event(i: int) -> dict[str, Any]:
    """A ~180-byte event shaped like the reference's simulated telemetry."""
    return {
        "event_type": "system.metric",
        "source": "server-01",
        "metric_name": "cpu_usage",
        "value": (i * 7919 % 10_000) / 100,
        "timestamp": "2026-11-26T03:00:00.000Z",
    }


# ---- server roles (run in the pinned subprocess) ---------------------------------


async def _go_lines() -> Any:
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        yield line.split()


def _report(cpu: float, wall: float) -> None:
    print("BENCH " + json.dumps({"cpu": cpu, "wall": wall}), flush=True)


def _plan(words: list[str]) -> tuple[int, int, float]:
    """``go COUNT BURST RATE``: events, events per loop iteration, events/s (0: unpaced)."""
    return int(words[1]), int(words[2]), float(words[3])


def _turn(i: int, burst: int, rate: float) -> bool:
    """Whether the publisher yields to the loop after event ``i``."""
    return bool(rate) or i % burst == burst - 1


async def _pace(i: int, rate: float, start: float) -> None:
    """Yield to the loop; at a fixed rate, until event ``i + 1`` is due."""
    due = start + (i + 1) / rate if rate else 0.0
    await asyncio.sleep(max(0.0, due - time.perf_counter()))


def stamped(i: int, rate: float) -> dict[str, Any]:
    """The benchmark event; at a fixed rate it also carries its publish time (epoch ms)."""
    data = event(i)
    if rate:
        data["sent"] = time.time() * 1000
    return data


async def role_ours() -> None:
    sys.path.insert(0, str(ROOT))
    from nexus_nb.server import aserve

    server = await aserve(api_key=KEY, demo=False, ping_interval=None, max_queue_bytes=8 << 20)
    print(f"PORT {server.port}", flush=True)
    async for words in _go_lines():
        count, burst, rate = _plan(words)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(count):
            server.publish("telemetry.metrics", stamped(i, rate))
            if _turn(i, burst, rate):
                await _pace(i, rate, wall0)
                while server.max_queued_bytes() > HIGH_WATER:  # noqa: ASYNC110 - no drain event
                    await asyncio.sleep(0.0005)
        while server.max_queued_bytes() > 0:  # noqa: ASYNC110 - no drain event to await
            await asyncio.sleep(0.0005)
        _report(time.process_time() - cpu0, time.perf_counter() - wall0)
    await server.aclose()


async def role_bare() -> None:
    import orjson
    import websockets
    from websockets.asyncio.server import ServerConnection, serve

    conns: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        conns.add(ws)
        try:
            async for _ in ws:
                await ws.send('{"type":"subscription_confirmed"}')
        except websockets.ConnectionClosed:
            pass  # the load process is killed at the end of each run
        finally:
            conns.discard(ws)

    def queued() -> int:
        return max((c.transport.get_write_buffer_size() for c in conns), default=0)

    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        print(f"PORT {next(iter(server.sockets)).getsockname()[1]}", flush=True)
        async for words in _go_lines():
            count, burst, rate = _plan(words)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for i in range(count):
                message: dict[str, Any] = {"type": "event", "channel": "telemetry.metrics"}
                message |= {"timestamp": "2026-11-26T03:00:00.000Z", "seq": i}
                message["data"] = stamped(i, rate)
                websockets.broadcast(conns, orjson.dumps(message).decode())
                if _turn(i, burst, rate):
                    await _pace(i, rate, wall0)
                    while queued() > HIGH_WATER:  # noqa: ASYNC110 - no drain event to await
                        await asyncio.sleep(0.0005)
            while queued() > 0:  # noqa: ASYNC110 - no drain event to await
                await asyncio.sleep(0.0005)
            _report(time.process_time() - cpu0, time.perf_counter() - wall0)


# ---- Node side ---------------------------------------------------------------------

LOAD_JS = r"""
const WebSocket = require('ws');
const [urls, key] = [process.argv[2].split(','), process.argv[3]];
const [K, N] = [+process.argv[4], +process.argv[5]];
const want = K * N;
const latency = process.env.LATENCY === '1';
const delays = [];
// Frames other than events (gap, error, ...) by type, so a short run says why.
const other = {};
let ready = 0, received = 0, first = 0n, last = 0n;
for (let k = 0; k < K; k++) {
  const headers = { Authorization: `Bearer ${key}` };
  const ws = new WebSocket(urls[k % urls.length], { headers, perMessageDeflate: false });
  const subscribe = { action: 'subscribe', channels: ['telemetry.metrics'], filters: {} };
  ws.on('open', () => ws.send(JSON.stringify(subscribe)));
  ws.on('message', (data) => {
    const head = data.toString('latin1', 0, 16);
    if (head === '{"type":"event",') {
      const now = process.hrtime.bigint();
      if (received === 0) first = now;
      last = now;
      if (latency) {
        const sent = JSON.parse(data.toString()).data.sent;
        delays.push(performance.timeOrigin + performance.now() - sent);
      }
      if (++received === want) finish();
    } else if (head.startsWith('{"type":"subscri')) {
      if (++ready === K) console.log('READY');
    } else {
      const type = (/"type":"([^"]*)"/.exec(data.toString('latin1', 0, 64)) || [])[1];
      other[type] = (other[type] || 0) + 1;
    }
  });
  ws.on('error', (e) => { console.error(String(e)); process.exit(2); });
}
function finish() {
  delays.sort((a, b) => a - b);
  const at = (q) => (delays.length ? delays[Math.floor(q * (delays.length - 1))] : null);
  const seconds = Number(last - first) / 1e9;
  const result = { received, other, seconds, p50: at(0.5), p99: at(0.99) };
  console.log('RESULT ' + JSON.stringify(result));
  process.exit(0);
}
setTimeout(finish, +process.env.LOAD_TIMEOUT_MS || 50000);
// Once events flow, a pause of LOAD_IDLE_MS ends the run with what arrived
// (checked once a second: a timer per event would cost the load its rate).
let seen = 0;
setInterval(() => {
  const idle = Number(process.hrtime.bigint() - last) / 1e6;
  if (received > 0 && received === seen && idle > (+process.env.LOAD_IDLE_MS || 10000)) finish();
  seen = received;
}, 1000).unref();
"""

REFERENCE_PUBLISHER = r"""// Benchmark: publishing driven by stdin ("go N") replaces the simulation.
function benchmarkEvent(i) {
  return {
    event_type: 'system.metric',
    source: 'server-01',
    metric_name: 'cpu_usage',
    value: (i * 7919 % 10000) / 100,
    timestamp: '2026-11-26T03:00:00.000Z'
  };
}
function queued() {
  let most = 0;
  clients.forEach((client) => { most = Math.max(most, client.ws.bufferedAmount); });
  return most;
}
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [count, size, rate] = line.split(' ').slice(1).map(Number);
  const cpu0 = process.cpuUsage(), wall0 = process.hrtime.bigint();
  let i = 0;
  function burst() {
    if (queued() > __HIGH_WATER__) return setTimeout(burst, 0);
    // Unpaced: SIZE events per turn of the loop. Paced: every event that is due.
    const elapsed = Number(process.hrtime.bigint() - wall0) / 1e9;
    const until = rate ? Math.min(count, Math.floor(elapsed * rate) + 1) : i + size;
    for (; i < until && i < count; i++) {
      const data = benchmarkEvent(i);
      if (rate) data.sent = performance.timeOrigin + performance.now();
      broadcastEvent('telemetry.metrics', data);
    }
    if (i < count) return rate ? setTimeout(burst, 1) : setImmediate(burst);
    (function drain() {
      if (queued() > 0) return setTimeout(drain, 1);
      const cpu = process.cpuUsage(cpu0);
      const wall = Number(process.hrtime.bigint() - wall0) / 1e9;
      const seconds = (cpu.user + cpu.system) / 1e6;
      console.log('BENCH ' + JSON.stringify({ cpu: seconds, wall }));
    })();
  }
  burst();
});
"""


def ensure_node() -> bool:
    """Install ws/express/dotenv into NODE_DIR and write the scripts; False without npm."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return False
    if not SEED.is_file():
        raise SystemExit(
            "bench_fanout: the protocol reference document is missing: expected "
            f"{SEED.relative_to(ROOT.parent)} beside the checkout ({SEED}). It holds the "
            "reference server.js this benchmark compares against; put the seed folder "
            "there (../shared/seed/ relative to the checkout) and run it again."
        )
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    if not (NODE_DIR / "node_modules" / "express").exists():
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "ws", "express", "dotenv"],
            cwd=NODE_DIR,
            check=True,
        )
    (NODE_DIR / "load.js").write_text(LOAD_JS)
    text = SEED.read_text()
    source = re.search(r"\*\*`server\.js`\*\*\n```javascript\n(.*?)\n```", text, re.S)
    assert source is not None, "server.js not found in the seed"
    simulation = re.compile(r"// Example: Simulate events.*?\}, 5000\);\n", re.S)
    publisher = REFERENCE_PUBLISHER.replace("__HIGH_WATER__", str(HIGH_WATER))
    server_js, replaced = simulation.subn(publisher, source[1])
    assert replaced == 1, "the seed's simulation block was not found"
    (NODE_DIR / "server.js").write_text(server_js)
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"process exited before {prefix!r}")
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    raise TimeoutError(prefix)


def kill(*procs: subprocess.Popen[str] | None) -> None:
    """Kill and reap each process that was started (``None``: never started)."""
    for proc in procs:
        if proc is not None:
            proc.kill()
            proc.wait()


def start_server(
    server_cmd: list[str], env: dict[str, str] | None
) -> tuple[subprocess.Popen[str], int]:
    """Start a server role (``env`` None) or the reference ``server.js`` on CPU 0.

    Returns the process and its port once it listens; the caller kills it.
    """
    server = subprocess.Popen(
        ["taskset", "-c", "0", *server_cmd],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=NODE_DIR,
    )
    try:
        if env is None:
            return server, int(wait_line(server, "PORT "))
        wait_line(server, "WebSocket server running")
        return server, int(env["PORT"])
    except BaseException:
        server.kill()
        server.wait()
        raise


def measure(
    server_cmd: list[str],
    k: int,
    n: int,
    env: dict[str, str] | None = None,
    *,
    burst: int = BURST,
    rate: float = 0.0,
) -> dict[str, float]:
    """Start a server on CPU 0 and K load clients on CPU 1; publish N events; return figures.

    ``burst`` events go out per loop iteration; a ``rate`` (events/s) paces them
    instead and has the load process measure delivery latency (``p50``, ``p99``, ms).
    """
    server, port = start_server(server_cmd, env)
    load = None
    try:
        load = subprocess.Popen(
            [
                "taskset",
                "-c",
                "1",
                "node",
                "load.js",
                f"ws://127.0.0.1:{port}",
                KEY,
                str(k),
                str(n),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=NODE_DIR,
            env=dict(os.environ, LATENCY="1" if rate else "0"),
        )
        wait_line(load, "READY")
        assert server.stdin is not None
        server.stdin.write(f"go {n} {burst} {rate}\n")
        server.stdin.flush()
        stats = json.loads(wait_line(server, "BENCH "))
        result = json.loads(wait_line(load, "RESULT "))
        delivered = result["received"]
        return {
            "deliveries": delivered,
            "complete": float(delivered == k * n),
            "per_s": delivered / max(result["seconds"], 1e-9),
            "per_cpu_s": delivered / max(stats["cpu"], 1e-9),
            "p50": result["p50"] or 0.0,
            "p99": result["p99"] or 0.0,
        }
    finally:
        kill(load, server)


def main() -> int:
    """Run every configuration and print the tables."""
    if not ensure_node():
        print("node/npm not found: bench_fanout skipped")
        return 0
    python = [sys.executable, str(Path(__file__).resolve()), "--role"]
    env = dict(os.environ, PORT=str(free_port()), NEXUS_API_KEY=KEY)
    node = ["node", "server.js"]
    print(f"burst arrival ({BURST} events per loop iteration)")
    rows = [
        (k, measure([*python, "ours"], k, n), measure([*python, "bare"], k, n)) for k, n in RUNS
    ]
    reference = measure(node, 100, RUNS[-1][1], env=env)
    table(rows, reference)
    record(rows, reference, "burst")
    print(f"steady arrival ({STEADY} event per loop iteration)")
    k, n = RUNS[-1]
    steady = [
        (
            k,
            measure([*python, "ours"], k, n, burst=STEADY),
            measure([*python, "bare"], k, n, burst=STEADY),
        )
    ]
    steady_reference = measure(node, k, n, env=env, burst=STEADY)
    table(steady, steady_reference)
    record(steady, steady_reference, "steady")
    k, rate, n = LATENCY_RUN
    print(f"delivery latency, K={k} at {rate:,} events/s ({k * rate:,} deliveries/s)")
    paced = {
        "nexus_nb": measure([*python, "ours"], k, n, rate=rate),
        "bare broadcast": measure([*python, "bare"], k, n, rate=rate),
        "reference server.js": measure(node, k, n, env=env, rate=rate),
    }
    for name, got in paced.items():
        print(
            f"  {name:<20} p50 {got['p50']:6.2f} ms  p99 {got['p99']:6.2f} ms  "
            f"server CPU {1e6 / got['per_cpu_s']:5.2f} µs per delivery"
            + ("" if got["complete"] else "  (incomplete!)")
        )
    ours, ref = paced["nexus_nb"], paced["reference server.js"]
    print(f"  p99 reference / nexus_nb: {ref['p99'] / max(ours['p99'], 1e-9):.2f}x")
    for q in ("p50", "p99"):
        figure(
            f"latency_{q}",
            ours[q],
            "ms",
            what=f"delivery latency {q}, K={k} at {rate:,} events/s",
            baseline=ref[q],
            against="reference `server.js`",
        )
    return 0


def record(
    rows: list[tuple[int, dict[str, float], dict[str, float]]],
    reference: dict[str, float],
    arrival: str,
) -> None:
    """State the K=100 figures of one arrival pattern (and K=1, 10 for bursts)."""
    for k, ours, bare in rows:
        figure(
            f"{arrival}_k{k}",
            ours["per_s"],
            "deliveries/s",
            what=f"fan-out to K = {k}, {arrival} arrival",
            baseline=bare["per_s"],
            against="bare `websockets.broadcast()`",
            better="higher",
        )
    ours = rows[-1][1]
    figure(
        f"{arrival}_k100_cpu",
        1e6 / ours["per_cpu_s"],
        "µs server CPU/delivery",
        what=f"fan-out to K = 100, {arrival} arrival",
        baseline=1e6 / reference["per_cpu_s"],
        against="reference `server.js`",
    )
    figure(
        f"{arrival}_k100_vs_reference",
        ours["per_s"],
        "deliveries/s",
        what=f"fan-out to K = 100, {arrival} arrival",
        baseline=reference["per_s"],
        against="reference `server.js`",
        better="higher",
    )


def table(
    rows: list[tuple[int, dict[str, float], dict[str, float]]], reference: dict[str, float]
) -> None:
    """Print deliveries/s and server CPU per delivery; ours against bare and the reference."""
    header = ("K", "ours/s", "bare/s", "ours/bare", "ours µs/dl", "bare µs/dl")
    print("{:>4} {:>10} {:>10} {:>9} {:>11} {:>11}".format(*header))
    for k, ours, bare in rows:
        print(
            f"{k:>4} {ours['per_s']:>10,.0f} {bare['per_s']:>10,.0f} "
            f"{ours['per_s'] / bare['per_s']:>9.2f} "
            f"{1e6 / ours['per_cpu_s']:>11.2f} {1e6 / bare['per_cpu_s']:>11.2f}"
            + ("" if ours["complete"] and bare["complete"] else "  (incomplete!)")
        )
    ours100 = rows[-1][1]
    print(
        f"reference Node server.js, K=100: {reference['per_s']:,.0f} deliveries/s, "
        f"{1e6 / reference['per_cpu_s']:.2f} µs server CPU per delivery"
        + ("" if reference["complete"] else " (incomplete!)")
    )
    print(
        f"K=100 ours/reference: {ours100['per_s'] / reference['per_s']:.2f}x deliveries/s, "
        f"{ours100['per_cpu_s'] / reference['per_cpu_s']:.2f}x per CPU-s "
        f"(targets: >= 2x reference, >= 0.80 of bare)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["ours", "bare"])
    args = parser.parse_args()
    if args.role == "ours":
        asyncio.run(role_ours())
    elif args.role == "bare":
        asyncio.run(role_bare())
    else:
        sys.exit(main())
