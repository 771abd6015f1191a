"""Many connections: server memory per idle subscribed client, and connect time for 1,000.

``python benchmarks/bench_connections.py [--clients 1000]`` starts a server in
its own process pinned to CPU 0 (nexus_nb's, the same role as ``bench_fanout``,
then the seed's Node ``server.js``), reads its RSS (``VmRSS``) idle, then has a
Node ``ws`` process on CPU 1 open ``--clients`` connections (the default
``max_connections`` is 1,000) and subscribe each to one channel with a filter.
It reports the time from the first connect to the last
``subscription_confirmed``, the server's RSS with every client connected and
idle, and the growth per connection, for both servers in the same run. No event
is published. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_fanout import KEY, NODE_DIR, ensure_node, free_port, kill, start_server, wait_line
from figures import figure

CONNECT_JS = r"""
const WebSocket = require('ws');
const [url, key, K] = [process.argv[2], process.argv[3], +process.argv[4]];
const sockets = [];
let confirmed = 0;
const start = process.hrtime.bigint();
function open(k) {
  const headers = { Authorization: `Bearer ${key}` };
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  const subscribe = {
    action: 'subscribe', channels: ['tasks.updates'], filters: { priority: ['high'] },
  };
  ws.on('open', () => ws.send(JSON.stringify(subscribe)));
  ws.on('message', (data) => {
    if (data.toString('latin1', 0, 32).startsWith('{"type":"subscription_confirmed"')) {
      if (++confirmed === K) {
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        console.log('READY ' + JSON.stringify({ seconds }));
      }
    }
  });
  ws.on('error', (e) => { console.error(String(e)); process.exit(2); });
  sockets.push(ws);
  // Open in waves of 50 so the listen backlog never overflows.
  if (k + 1 < K) (k % 50 === 49 ? setTimeout : setImmediate)(() => open(k + 1), 5);
}
open(0);
setTimeout(() => { console.log('TIMEOUT ' + confirmed); process.exit(3); }, 60000);
"""


def rss_kib(pid: int) -> int:
    """The resident set of process ``pid`` in KiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def measure(server_cmd: list[str], clients: int, env: dict[str, str] | None) -> dict[str, float]:
    """RSS idle and with ``clients`` subscribed connections, and their connect time."""
    server, port = start_server(server_cmd, env)
    load = None
    try:
        time.sleep(0.5)  # let start-up allocations settle before the idle sample
        idle = rss_kib(server.pid)
        load = subprocess.Popen(
            [
                "taskset",
                "-c",
                "1",
                "node",
                "connect.js",
                f"ws://127.0.0.1:{port}",
                KEY,
                str(clients),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=NODE_DIR,
        )
        ready = wait_line(load, "READY ")
        connected = rss_kib(server.pid)
        return {
            "idle_kib": idle,
            "connected_kib": connected,
            "per_connection_kib": (connected - idle) / clients,
            "connect_s": float(json.loads(ready)["seconds"]),
        }
    finally:
        kill(load, server)


def main() -> int:
    """Measure both servers and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000, help="connections (default 1000)")
    args = parser.parse_args()
    if not ensure_node():
        print("node/npm not found: bench_connections skipped")
        return 0
    (NODE_DIR / "connect.js").write_text(CONNECT_JS)
    ours_cmd = [sys.executable, str(Path(__file__).resolve().parent / "bench_fanout.py")]
    ours = measure([*ours_cmd, "--role", "ours"], args.clients, None)
    env = dict(os.environ, PORT=str(free_port()), NEXUS_API_KEY=KEY)
    reference = measure(["node", "server.js"], args.clients, env)
    print(f"{args.clients:,} subscribed idle connections, server pinned to CPU 0")
    print(f"{'server':<22} {'idle MB':>8} {'with clients MB':>16} {'KB/conn':>8} {'connect s':>10}")
    for name, got in (("nexus_nb", ours), ("reference server.js", reference)):
        print(
            f"{name:<22} {got['idle_kib'] / 1024:>8.1f} {got['connected_kib'] / 1024:>16.1f} "
            f"{got['per_connection_kib']:>8.1f} {got['connect_s']:>10.2f}"
        )
    print(
        f"memory per connection ours/reference: "
        f"{ours['per_connection_kib'] / reference['per_connection_kib']:.2f}x; "
        f"connect time ours/reference: {ours['connect_s'] / reference['connect_s']:.2f}x"
    )
    against = "reference `server.js`"
    figure(
        "kb_per_connection",
        ours["per_connection_kib"],
        "KB",
        what=f"server memory per idle subscribed connection, {args.clients:,} clients",
        baseline=reference["per_connection_kib"],
        against=against,
    )
    figure(
        "connect_s",
        ours["connect_s"],
        "s",
        what=f"connect and subscribe {args.clients:,} clients",
        baseline=reference["connect_s"],
        against=against,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
