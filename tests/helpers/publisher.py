"""A Nexus server in another process publishing numbered events at a fixed rate on demand.

In its own process the publisher's pace does not depend on a test that blocks
its own loop (a busy "cell") or holds the GIL.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.helpers.keys import KEY
from tests.helpers.paths import ROOT

CHANNEL = "telemetry.metrics"

# The publishing process: see its docstring.
PACER = ROOT / "benchmarks" / "pacer.py"


class Publisher:
    """The publishing server process: :meth:`start` a run, then wait for it with :meth:`done`."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url

    async def start(self, total: int, rate: float) -> None:
        """Publish ``total`` more events at ``rate`` per second, numbered from 1."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"go {total} {rate}\n".encode())
        await self.proc.stdin.drain()

    async def done(self, limit: float = 60) -> None:
        """Wait until the run started last has published its last event."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(limit):
            assert (await self.proc.stdout.readline()).strip() == b"done"


@asynccontextmanager
async def publishing(
    *, retention: int = 10_000, slow_timeout: float = 10.0
) -> AsyncIterator[Publisher]:
    """A :class:`Publisher` with ``retention`` events kept per channel; killed at exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PACER),
        KEY,
        str(retention),
        str(slow_timeout),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            url = (await proc.stdout.readline()).decode().strip()
        assert url.startswith("ws://127.0.0.1:"), url
        yield Publisher(proc, url)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def busy(seconds: float, every: float = 1.0, probe: Any = None) -> list[Any]:
    """Block this thread (and the loop) with CPU-bound Python; call ``probe()`` ``every`` s."""
    samples = []
    end = time.perf_counter() + seconds
    next_probe = time.perf_counter() + every
    x = 0
    while (now := time.perf_counter()) < end:
        x += 1
        if probe is not None and now >= next_probe:
            samples.append(probe())
            next_probe += every
    return samples
