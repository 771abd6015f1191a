"""This machine's own CPU, memory, disk and network figures as ``telemetry.metrics`` events.

Real telemetry beside the simulation: a Binder visitor watches the container the
kernel runs in. Figures come from psutil (the optional ``host`` extra); every
read is non-blocking (``cpu_percent(interval=None)`` compares with the previous
call), so sampling on the event loop costs well under a millisecond.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from nexus_nb.exceptions import TransportError

__all__ = ["HOST_METRICS", "HostMetrics"]

#: The metrics published per sample: ``metric_name`` -> unit.
HOST_METRICS: dict[str, str] = {
    "cpu_usage": "percent",
    "memory_usage": "percent",
    "disk_usage": "percent",
    "network_rx": "bytes/s",
    "network_tx": "bytes/s",
}


class HostMetrics:
    """Samples this machine every ``interval`` seconds and publishes one event per metric.

    Each event has the demo's ``telemetry.metrics`` shape (``event_type``
    ``"system.metric"``, ``source``, ``metric_name``, ``value``, ``unit``,
    ``timestamp``), so the same plots and filters work on it. Network figures are
    rates since the previous sample (0 on the first).

    Args:
        interval: Seconds between samples; at least 0.1.
        source: The ``source`` field; default ``host:<hostname>``.
        disk: The path whose file system's usage is reported.

    Raises:
        ValueError: If ``interval`` is below 0.1 s.
        ImportError: If psutil is not installed (``pip install 'nexus_nb[host]'``).
    """

    def __init__(
        self, *, interval: float = 1.0, source: str | None = None, disk: str = "/"
    ) -> None:
        if not interval >= 0.1:
            raise ValueError("interval must be at least 0.1 s")
        try:
            import psutil  # type: ignore[import-untyped]  # no stubs in the dev set
        except ImportError as exc:
            raise ImportError("host metrics need psutil: pip install 'nexus_nb[host]'") from exc
        self._psutil: Any = psutil
        self.interval = interval
        self.source = source or f"host:{socket.gethostname()}"
        self.disk = disk
        self.samples = 0
        psutil.cpu_percent(interval=None)  # The first call only starts the comparison.
        self._net = psutil.net_io_counters()
        self._net_at = time.monotonic()

    def sample(self) -> list[dict[str, Any]]:
        """Read the figures now and return one ``telemetry.metrics`` event data per metric."""
        ps = self._psutil
        net, now = ps.net_io_counters(), time.monotonic()
        elapsed = max(now - self._net_at, 1e-6)
        values = {
            "cpu_usage": ps.cpu_percent(interval=None),
            "memory_usage": ps.virtual_memory().percent,
            "disk_usage": ps.disk_usage(self.disk).percent,
            "network_rx": max(net.bytes_recv - self._net.bytes_recv, 0) / elapsed,
            "network_tx": max(net.bytes_sent - self._net.bytes_sent, 0) / elapsed,
        }
        self._net, self._net_at = net, now
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.samples += 1
        return [
            {
                "event_type": "system.metric",
                "source": self.source,
                "metric_name": name,
                "value": round(float(value), 3),
                "unit": HOST_METRICS[name],
                "timestamp": stamp,
            }
            for name, value in values.items()
        ]

    async def run(self, publish: Callable[[str, dict[str, Any]], object]) -> None:
        """Publish a sample every ``interval`` seconds until cancelled or the server closes.

        Raises:
            Exception: Whatever ``publish`` raises, except the ``TransportError`` of
                a closed server, which ends the run quietly.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            try:
                for data in self.sample():
                    publish("telemetry.metrics", data)
            except TransportError:
                return  # The server is closing: nothing more to publish.
            deadline += self.interval
            await asyncio.sleep(max(deadline - loop.time(), 0.0))
