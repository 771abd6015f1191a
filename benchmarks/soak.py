"""Bounded soak: server memory, healthy delivery and slow consumers under a fixed load.

``python benchmarks/soak.py [--duration 60] [--clients 50] [--rate 10000] [--slow 3]``
runs nexus_nb's server (its defaults: 4 MiB per-client queue bound, 10 s
``slow_timeout``) in its own process pinned to CPU 0, publishing ``--rate``
events per second from inside that process, paced by the loop clock; each
~180-byte event is shaped like the reference's ``telemetry.metrics`` event plus
a unique counter ``n``. A Node ``ws`` load process pinned to CPU 1 holds
``--clients`` healthy subscribers, which check every ``n`` for holes, and
``--slow`` slow ones, cycling through three behaviours:

* ``stall``: stops reading right after subscribing;
* ``trickle``: reads one socket chunk (at most 64 KiB) per second;
* ``pause``: alternately stops reading for 5 s and reads freely for 5 s.

It prints the server's RSS (``VmRSS``) after a warm-up of ``WARMUP_EVENTS``
events, every 10 s and at the end, with growth against the first sample (target:
under 10%), each
process's CPU use per interval (a load process near 100% means the harness,
not the server, limits delivery), per-client delivery counts, what happened to
the slow clients, and the server's ``/metrics`` counters. Everything runs on
127.0.0.1, each child in its own process group, killed at the end; every wait
is bounded. Exit status 1 when a healthy client missed an event or RSS grew by
10% or more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench_fanout import KEY, NODE_DIR
from figures import figure

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
CHANNEL = "telemetry.metrics"
# The RSS baseline is taken once retention (10,000 events per channel) is full and
# the heap has reached its high-water mark: a server's RSS rises from ~28 MB to
# ~79 MB over its first ~100k events and stays flat after that, so a baseline
# taken earlier would hide growth behind the warm-up.
WARMUP_EVENTS = 150_000
MIN_WARMUP = 3.0  # seconds, at least, whatever the rate
SAMPLE = 10.0  # seconds between RSS samples
TICK = 0.002  # publisher sleep between bursts, seconds
SETTLE = 10.0  # seconds the load waits for healthy clients to catch up at the end
STARTUP = 30.0  # seconds allowed for the server and the clients to get ready
GROWTH_LIMIT = 10.0  # percent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def event(n: int, timestamp: str) -> dict[str, Any]:
    """A ~180-byte event shaped like the reference's ``telemetry.metrics`` one, numbered ``n``."""
    return {
        "event_type": "system.metric",
        "source": "server-01",
        "metric_name": "cpu_usage",
        "value": (n * 7919 % 10_000) / 100,
        "timestamp": timestamp,
        "n": n,
    }


# ---- server role (runs in the pinned subprocess) -----------------------------------


async def role_server(rate: float, seconds: float) -> None:
    """Serve; on ``go`` publish ``rate`` events/s for ``seconds``; on ``quit`` close."""
    sys.path.insert(0, str(ROOT))
    from nexus_nb import protocol
    from nexus_nb.server import aserve

    server = await aserve(demo=False, api_key=KEY)
    print(f"PORT {server.port}", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "go"
    loop = asyncio.get_running_loop()
    target = int(rate * seconds)
    # At most 50 ms of events per burst: a server that falls behind publishes
    # fewer events (reported) rather than blocking its loop for a catch-up.
    cap = max(1, int(rate * 0.05))
    cpu0, start = time.process_time(), loop.time()
    n = 0
    while n < target:
        elapsed = loop.time() - start
        due = min(target if elapsed >= seconds else int(elapsed * rate), n + cap)
        stamp = protocol.isotime()
        while n < due:
            server.publish(CHANNEL, event(n, stamp), timestamp=stamp)
            n += 1
        if elapsed >= seconds:
            break
        await asyncio.sleep(TICK)
    wall = loop.time() - start
    report = {"published": n, "target": target, "wall": wall, "cpu": time.process_time() - cpu0}
    print("PUBLISHED " + json.dumps(report), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "quit" (or EOF)
    await server.aclose()


# ---- load (Node ws) ----------------------------------------------------------------

LOAD_JS = r"""
const WebSocket = require('ws');
const [url, key] = [process.argv[2], process.argv[3]];
const [K, S] = [+process.argv[4], +process.argv[5]];
const MODES = ['stall', 'trickle', 'pause'];
const N_KEY = Buffer.from('"n":');
const subscribe = JSON.stringify(
  { action: 'subscribe', channels: ['telemetry.metrics'], filters: {} });
const clients = [];
let ready = 0;

function slowDown(c) {
  const sock = c.ws._socket;
  sock.pause();
  if (c.mode === 'trickle') {
    c.timer = setInterval(() => { sock.once('data', () => sock.pause()); sock.resume(); }, 1000);
  } else if (c.mode === 'pause') {
    let reading = false;
    c.timer = setInterval(() => {
      reading = !reading;
      if (reading) sock.resume(); else sock.pause();
    }, 5000);
  }
}

function onMessage(c, data) {
  // '{"type":"event",': 'v' at 10 and '"' at 14 (event_batch has '_' there).
  if (data[10] === 0x76 && data[14] === 0x22) {
    const at = data.lastIndexOf(N_KEY);
    let n = 0;
    for (let j = at + 4; ; j++) {
      const b = data[j];
      if (b < 48 || b > 57) break;
      n = n * 10 + b - 48;
    }
    if (c.last < 0) c.first = n;
    else if (n > c.last + 1) { c.holes++; c.lost += n - c.last - 1; }
    else if (n <= c.last) c.disorder++;
    if (n > c.last) c.last = n;
    c.events++;
    if (c.waiter && c.last >= c.want) c.waiter();
    return;
  }
  const m = JSON.parse(data.toString());
  if (m.type === 'gap') { c.gaps++; c.gapMissed += m.missed; }
  else if (m.type === 'subscription_confirmed') {
    if (c.mode !== 'healthy') slowDown(c);
    if (++ready === K + S) console.log('READY');
  } else if (m.type !== 'connection_established') c.other[m.type] = (c.other[m.type] || 0) + 1;
}

for (let i = 0; i < K + S; i++) {
  const mode = i < K ? 'healthy' : MODES[(i - K) % MODES.length];
  const c = { mode, events: 0, first: -1, last: -1, holes: 0, lost: 0, disorder: 0, gaps: 0,
              gapMissed: 0, other: {}, code: null, reason: '', error: null, timer: null };
  clients.push(c);
  const headers = { Authorization: `Bearer ${key}` };
  c.ws = new WebSocket(url, { headers, perMessageDeflate: false });
  c.ws.on('open', () => c.ws.send(subscribe));
  c.ws.on('message', (data) => onMessage(c, data));
  c.ws.on('close', (code, reason) => { c.code = code; c.reason = reason.toString(); });
  c.ws.on('error', (e) => { c.error = String(e); });
}

// "END <published>": wait (bounded) for healthy clients to get the last event,
// let slow ones read what is left, then report and exit.
require('readline').createInterface({ input: process.stdin }).on('line', async (line) => {
  const published = +line.split(' ')[1];
  const settle = +process.env.SETTLE_MS;
  await Promise.race([
    Promise.all(clients.filter((c) => c.mode === 'healthy').map((c) => new Promise((done) => {
      c.want = published - 1;
      if (c.last >= c.want) done(); else c.waiter = done;
    }))),
    new Promise((done) => setTimeout(done, settle)),
  ]);
  for (const c of clients) {
    if (c.timer) clearInterval(c.timer);
    if (c.mode !== 'healthy' && c.ws._socket) c.ws._socket.resume();
  }
  await new Promise((done) => setTimeout(done, 2000));
  const report = clients.map(
    ({ ws, waiter, want, timer, ...rest }) => ({ ...rest, open: ws.readyState === 1 }));
  console.log('RESULT ' + JSON.stringify(report));
  process.exit(0);
});
"""


def ensure_node() -> bool:
    """Install ``ws`` into NODE_DIR (shared with bench_fanout) and write the load script."""
    if not all(map(_which, ("node", "npm", "taskset"))):
        return False
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    if not (NODE_DIR / "node_modules" / "ws").exists():
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "ws"],
            cwd=NODE_DIR,
            check=True,
        )
    (NODE_DIR / "soak.js").write_text(LOAD_JS)
    return True


def _which(name: str) -> bool:
    import shutil

    return shutil.which(name) is not None


# ---- measuring ---------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """The process's resident set size in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def fetch_metrics(port: int) -> dict[str, Any]:
    """GET /metrics?token=KEY from the server (JSON)."""
    url = f"http://127.0.0.1:{port}/metrics?token={KEY}"
    with urllib.request.urlopen(url, timeout=5) as response:
        document: dict[str, Any] = json.loads(response.read())
        return document


async def read_line(proc: asyncio.subprocess.Process, prefix: str, within: float) -> str:
    """The rest of the first stdout line starting with ``prefix``, within ``within`` s."""
    assert proc.stdout is not None

    async def scan() -> str:
        assert proc.stdout is not None
        while line := (await proc.stdout.readline()).decode():
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        raise RuntimeError(f"process {proc.pid} exited before {prefix!r}")

    return await asyncio.wait_for(scan(), within)


async def spawn(cpu: int, *command: str, env: dict[str, str] | None = None) -> Any:
    """Start ``command`` pinned to ``cpu`` in a new session (its own process group)."""
    return await asyncio.create_subprocess_exec(
        "taskset",
        "-c",
        str(cpu),
        *command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=NODE_DIR,
        env=env,
        start_new_session=True,
        limit=2**24,  # the load's RESULT line holds every client's counts
    )


async def stop(proc: asyncio.subprocess.Process | None, grace: float) -> None:
    """Close stdin, wait up to ``grace`` s, then kill the process's own group."""
    if proc is None:
        return
    if proc.stdin is not None and not proc.stdin.is_closing():
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own group: start_new_session
        await proc.wait()


class Sampler:
    """RSS and CPU samples of the server (and the load's CPU) against a baseline."""

    def __init__(self, server_pid: int, load_pid: int, port: int, warmup: float) -> None:
        self.pids = (server_pid, load_pid)
        self.warmup = warmup
        self.port = port
        self.base = 0
        self.peak = 0
        self.last = 0
        self._cpu = (0.0, 0.0)
        self._at = 0.0

    def start(self) -> None:
        self.base = self.peak = self.last = rss_kib(self.pids[0])
        self._cpu = (cpu_seconds(self.pids[0]), cpu_seconds(self.pids[1]))
        self._at = time.monotonic()
        print(f"  start   RSS {self.base / 1024:7.1f} MB (after {self.warmup:g} s warm-up)")

    async def sample(self, label: str) -> None:
        rss = self.last = rss_kib(self.pids[0])
        self.peak = max(self.peak, rss)
        cpu = (cpu_seconds(self.pids[0]), cpu_seconds(self.pids[1]))
        now = time.monotonic()
        span = max(now - self._at, 1e-9)
        server_cpu, load_cpu = ((b - a) / span * 100 for a, b in zip(self._cpu, cpu, strict=True))
        self._cpu, self._at = cpu, now
        m = await asyncio.to_thread(fetch_metrics, self.port)
        published = sum(c["published"] for c in m["channels"].values())
        print(
            f"  {label:<7} RSS {rss / 1024:7.1f} MB ({self.growth(rss):+5.1f}%)  "
            f"published {published:>10,}  dropped {m['dropped']:>9,}  gaps {m['gapsSent']:>3}  "
            f"slow closes {m['slowConsumerDisconnects']}  active {m['activeConnections']}  "
            f"CPU server {server_cpu:3.0f}% load {load_cpu:3.0f}%"
        )

    def growth(self, rss: int) -> float:
        return (rss - self.base) / self.base * 100


async def soak(args: argparse.Namespace) -> int:
    """Run the whole soak and print its report; 1 on lost events or excessive growth."""
    warmup = max(MIN_WARMUP, WARMUP_EVENTS / args.rate)
    seconds = warmup + args.duration
    role = [sys.executable, str(SCRIPT), "--role", "server", "--rate", str(args.rate)]
    server = load = None
    try:
        server = await spawn(0, *role, "--duration", str(seconds))
        port = int(await read_line(server, "PORT ", STARTUP))
        env = dict(os.environ, SETTLE_MS=str(int(SETTLE * 1000)))
        url = f"ws://127.0.0.1:{port}"
        load = await spawn(
            1, "node", "soak.js", url, KEY, str(args.clients), str(args.slow), env=env
        )
        await read_line(load, "READY", STARTUP)
        print(
            f"soak: {args.duration:g} s at {args.rate:,.0f} events/s, {args.clients} healthy + "
            f"{args.slow} slow clients; server on CPU 0 (pid {server.pid}), load on CPU 1"
        )
        assert server.stdin is not None
        assert load.stdin is not None
        server.stdin.write(b"go\n")
        began = time.monotonic()
        sampler = Sampler(server.pid, load.pid, port, warmup)
        await asyncio.sleep(warmup)
        sampler.start()
        tick = 1
        while warmup + tick * SAMPLE < seconds - 0.5:
            await asyncio.sleep(max(0.0, began + warmup + tick * SAMPLE - time.monotonic()))
            await sampler.sample(f"t={tick * SAMPLE:g}s")
            tick += 1
        published = json.loads(await read_line(server, "PUBLISHED ", seconds + STARTUP))
        await sampler.sample("end")
        load.stdin.write(f"END {published['published']}\n".encode())
        clients = json.loads(await read_line(load, "RESULT ", SETTLE + STARTUP))
        metrics = await asyncio.to_thread(fetch_metrics, port)
        server.stdin.write(b"quit\n")
    finally:
        await stop(load, 2.0)
        await stop(server, 10.0)
    return report(args, sampler, published, clients, metrics)


def report(
    args: argparse.Namespace,
    sampler: Sampler,
    published: dict[str, Any],
    clients: list[dict[str, Any]],
    metrics: dict[str, Any],
) -> int:
    """Print the end-of-run summary; return the exit status."""
    growth = sampler.growth(sampler.last)
    print(
        f"RSS growth start -> end: {growth:+.1f}% (target < {GROWTH_LIMIT:g}%); "
        f"peak {sampler.peak / 1024:.1f} MB ({sampler.growth(sampler.peak):+.1f}%)"
    )
    total = published["published"]
    print(
        f"published {total:,} of {published['target']:,} in {published['wall']:.1f} s "
        f"(including {sampler.warmup:g} s warm-up), "
        f"server publish-loop CPU {published['cpu']:.1f} s"
    )
    healthy = [c for c in clients if c["mode"] == "healthy"]
    counts = [c["events"] for c in healthy]
    complete = [
        c for c in healthy if c["events"] == total and c["first"] == 0 and c["last"] == total - 1
    ]
    complete = [c for c in complete if not (c["holes"] or c["disorder"] or c["gaps"])]
    print(
        f"healthy clients: events min {min(counts):,} / median {statistics.median(counts):,.0f} "
        f"/ max {max(counts):,}; every n from 0 to {total - 1:,} with no hole: "
        f"{len(complete)}/{len(healthy)}"
    )
    for i, c in enumerate(healthy):
        if c not in complete:
            print(
                f"  healthy #{i}: {c['events']:,} events, first n {c['first']}, "
                f"last n {c['last']}, {c['holes']} holes ({c['lost']:,} missing), "
                f"{c['disorder']} out of order, {c['gaps']} gap messages, "
                f"close {c['code']}, error {c['error']}"
            )
    print("slow clients:")
    for c in clients:
        if c["mode"] != "healthy":
            state = "still open" if c["open"] else f"closed {c['code']} {c['reason']!r}"
            after = max(0, total - 1 - c["last"])
            print(
                f"  {c['mode']:<8} {c['events']:>9,} events; missing {total - c['events']:,} "
                f"({c['lost']:,} in {c['holes']} holes, {after:,} after its last); "
                f"{c['gaps']} gap messages reporting {c['gapMissed']:,} missed; {state}"
            )
    keys = ("dropped", "gapsSent", "slowConsumerDisconnects", "messagesSent", "totalConnections")
    keys += ("activeConnections", "keepaliveTimeouts")
    print("/metrics: " + ", ".join(f"{k}={metrics[k]:,}" for k in keys))
    print("/metrics channels: " + json.dumps(metrics["channels"][CHANNEL]))
    figure(
        "rss_growth", growth, "%", what=f"server RSS growth over {args.duration:g} s after warm-up"
    )
    figure(
        "healthy_complete",
        len(complete),
        "clients",
        what=f"healthy clients that got every one of {total:,} events",
        baseline=len(healthy),
        against="healthy clients",
        ceiling=True,
        better="higher",
    )
    failed = len(complete) < len(healthy) or growth >= GROWTH_LIMIT
    print("soak: " + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


def main() -> int:
    """Parse arguments and run the soak (or the server role)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--clients", type=int, default=50, help="healthy clients (default 50)")
    # 10,000/s is 500,000 deliveries/s, the Node load at about two thirds of its core here;
    # at 20,000/s it reached 100% and its own clients fell behind (holes from the harness).
    parser.add_argument("--rate", type=float, default=10_000, help="events/s (default 10000)")
    parser.add_argument("--slow", type=int, default=3, help="slow clients (default 3)")
    parser.add_argument("--role", choices=["server"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "server":
        asyncio.run(role_server(args.rate, args.duration))
        return 0
    if args.clients < 1 or args.rate <= 0 or args.duration <= 0 or args.slow < 0:
        parser.error("--clients >= 1, --rate > 0, --duration > 0 and --slow >= 0")
    if not ensure_node():
        print("node/npm/taskset not found: soak skipped")
        return 0
    return asyncio.run(soak(args))


if __name__ == "__main__":
    sys.exit(main())
