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

Node packages are installed into /tmp/nexus-bench-node (outside the repo) on
first use. Nothing here asserts a speed.
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
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The reference document lives in shared/ beside the checkout, not in the repository.
SEED = ROOT.parent / "shared" / "seed" / "000_6196cfd4c38a78bf.txt"
NODE_DIR = Path("/tmp/nexus-bench-node")
KEY = "bench-key-0123456789"
BURST = 50
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


async def role_ours() -> None:
    sys.path.insert(0, str(ROOT))
    from nexus_nb.server import serve

    server = await serve(api_key=KEY, demo=False, ping_interval=None, max_queue_bytes=8 << 20)
    print(f"PORT {server.port}", flush=True)
    async for words in _go_lines():
        count = int(words[1])
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for i in range(count):
            server.publish("telemetry.metrics", event(i))
            if i % BURST == BURST - 1:
                await asyncio.sleep(0)
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
            count = int(words[1])
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for i in range(count):
                message: dict[str, Any] = {"type": "event", "channel": "telemetry.metrics"}
                message |= {"timestamp": "2026-11-26T03:00:00.000Z", "data": event(i), "seq": i}
                websockets.broadcast(conns, orjson.dumps(message).decode())
                if i % BURST == BURST - 1:
                    await asyncio.sleep(0)
                    while queued() > HIGH_WATER:  # noqa: ASYNC110 - no drain event to await
                        await asyncio.sleep(0.0005)
            while queued() > 0:  # noqa: ASYNC110 - no drain event to await
                await asyncio.sleep(0.0005)
            _report(time.process_time() - cpu0, time.perf_counter() - wall0)


# ---- Node side ---------------------------------------------------------------------

LOAD_JS = r"""
const WebSocket = require('ws');
const [url, key] = [process.argv[2], process.argv[3]];
const [K, N] = [+process.argv[4], +process.argv[5]];
const want = K * N;
let ready = 0, received = 0, first = 0n, last = 0n;
for (let k = 0; k < K; k++) {
  const headers = { Authorization: `Bearer ${key}` };
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const subscribe = { action: 'subscribe', channels: ['telemetry.metrics'], filters: {} };
  ws.on('open', () => ws.send(JSON.stringify(subscribe)));
  ws.on('message', (data) => {
    const head = data.toString('latin1', 0, 16);
    if (head === '{"type":"event",') {
      const now = process.hrtime.bigint();
      if (received === 0) first = now;
      last = now;
      if (++received === want) finish();
    } else if (head.startsWith('{"type":"subscri')) {
      if (++ready === K) console.log('READY');
    }
  });
  ws.on('error', (e) => { console.error(String(e)); process.exit(2); });
}
function finish() {
  console.log('RESULT ' + JSON.stringify({ received, seconds: Number(last - first) / 1e9 }));
  process.exit(0);
}
setTimeout(finish, +process.env.LOAD_TIMEOUT_MS || 60000);
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
  const count = +line.split(' ')[1];
  const cpu0 = process.cpuUsage(), wall0 = process.hrtime.bigint();
  let i = 0;
  function burst() {
    if (queued() > __HIGH_WATER__) return setTimeout(burst, 0);
    for (let b = 0; b < __BURST__ && i < count; b++, i++) {
      broadcastEvent('telemetry.metrics', benchmarkEvent(i));
    }
    if (i < count) return setImmediate(burst);
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
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    if not (NODE_DIR / "node_modules" / "express").exists():
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "ws", "express", "dotenv"],
            cwd=NODE_DIR,
            check=True,
        )
    (NODE_DIR / "load.js").write_text(LOAD_JS)
    if not SEED.is_file():
        raise SystemExit(f"bench_fanout needs the protocol reference at {SEED} (../shared/seed/)")
    text = SEED.read_text()
    source = re.search(r"\*\*`server\.js`\*\*\n```javascript\n(.*?)\n```", text, re.S)
    assert source is not None, "server.js not found in the seed"
    simulation = re.compile(r"// Example: Simulate events.*?\}, 5000\);\n", re.S)
    publisher = REFERENCE_PUBLISHER.replace("__HIGH_WATER__", str(HIGH_WATER))
    server_js, replaced = simulation.subn(publisher.replace("__BURST__", str(BURST)), source[1])
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


def measure(
    server_cmd: list[str], k: int, n: int, env: dict[str, str] | None = None
) -> dict[str, float]:
    """Start a server on CPU 0 and K load clients on CPU 1; publish N events; return figures."""
    server = subprocess.Popen(
        ["taskset", "-c", "0", *server_cmd],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=NODE_DIR,
    )
    load = None
    try:
        port = int(wait_line(server, "PORT ")) if env is None else int(env["PORT"])
        if env is not None:
            wait_line(server, "WebSocket server running")
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
        )
        wait_line(load, "READY")
        assert server.stdin is not None
        server.stdin.write(f"go {n}\n")
        server.stdin.flush()
        stats = json.loads(wait_line(server, "BENCH "))
        result = json.loads(wait_line(load, "RESULT "))
        delivered = result["received"]
        return {
            "deliveries": delivered,
            "complete": float(delivered == k * n),
            "per_s": delivered / max(result["seconds"], 1e-9),
            "per_cpu_s": delivered / max(stats["cpu"], 1e-9),
        }
    finally:
        for proc in (load, server):
            if proc is not None:
                proc.kill()
                proc.wait()


def main() -> int:
    """Run every configuration and print the table."""
    if not ensure_node():
        print("node/npm not found: bench_fanout skipped")
        return 0
    python = [sys.executable, str(Path(__file__).resolve()), "--role"]
    rows = []
    for k, n in RUNS:
        ours = measure([*python, "ours"], k, n)
        bare = measure([*python, "bare"], k, n)
        rows.append((k, ours, bare))
    env = dict(os.environ, PORT=str(free_port()), NEXUS_API_KEY=KEY)
    reference = measure(["node", "server.js"], 100, RUNS[-1][1], env=env)
    header = ("K", "ours/s", "bare/s", "ours/bare", "ours/cpu-s", "bare/cpu-s")
    print("{:>4} {:>10} {:>10} {:>9} {:>11} {:>11}".format(*header))
    for k, ours, bare in rows:
        print(
            f"{k:>4} {ours['per_s']:>10,.0f} {bare['per_s']:>10,.0f} "
            f"{ours['per_s'] / bare['per_s']:>9.2f} "
            f"{ours['per_cpu_s']:>11,.0f} {bare['per_cpu_s']:>11,.0f}"
            + ("" if ours["complete"] and bare["complete"] else "  (incomplete!)")
        )
    ours100 = rows[-1][1]
    print(
        f"reference Node server.js, K=100: {reference['per_s']:,.0f} deliveries/s, "
        f"{reference['per_cpu_s']:,.0f} per CPU-s"
        + ("" if reference["complete"] else " (incomplete!)")
    )
    print(
        f"K=100 ours/reference: {ours100['per_s'] / reference['per_s']:.2f}x deliveries/s, "
        f"{ours100['per_cpu_s'] / reference['per_cpu_s']:.2f}x per CPU-s "
        f"(targets: >= 2x reference, >= 0.80 of bare)"
    )
    return 0


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
