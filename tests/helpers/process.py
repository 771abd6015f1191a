"""A child service (redis-server, nginx) on 127.0.0.1 and a free port, for tests and benchmarks.

Each process runs with its files in a temporary directory and is stopped by the
object that started it (never a system service, never port 6379 or 80).
Readiness is polled, bounded by ``timeout``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

from tests.helpers.net import free_port

__all__ = ["ServiceProcess", "start_web_server", "stop_group", "wait_for_port"]


def wait_for_port(port: int, *, timeout: float = 10.0, process: subprocess.Popen[bytes]) -> None:
    """Poll until something accepts on ``port``.

    Raises:
        RuntimeError: ``process`` exited first, or ``timeout`` seconds passed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"nothing listening on port {port} after {timeout} s")


def start_web_server(
    cmd: Sequence[str],
    *,
    name: str,
    health: str,
    log: IO[bytes],
    log_tail: Callable[[], str],
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a web server in a process group of its own; wait until ``health`` answers 200.

    Output goes to ``log``; stdin is closed (a prompt never waits).

    Raises:
        RuntimeError: it exited first, or did not answer within ``timeout`` s
            (then it is stopped); the message holds the end of its log.
    """
    proc = subprocess.Popen(
        list(cmd),
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited rc={proc.returncode}:\n{log_tail()}")
        try:
            with urllib.request.urlopen(health, timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            stop_group(proc, (signal.SIGTERM, signal.SIGKILL))
            raise RuntimeError(f"{name} did not answer within {timeout} s:\n{log_tail()}")
        time.sleep(0.25)
    return proc


def stop_group(
    proc: subprocess.Popen[bytes], signals: Sequence[int | None], *, first_wait: float = 10.0
) -> None:
    """Signal ``proc``'s own process group with each of ``signals`` until it has exited.

    ``None`` sends nothing (the caller asked it to stop some other way) and waits
    ``first_wait`` s; each signal waits 10 s.
    """
    for sig in signals:
        if sig is not None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
        try:
            proc.wait(timeout=first_wait if sig is None else 10)
            return
        except subprocess.TimeoutExpired:
            continue


class ServiceProcess:
    """A child process in its own temporary directory, stopped on exit."""

    def __init__(self, prefix: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.dir = Path(self._tmp.name)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: Sequence[str], *, timeout: float) -> None:
        log = (self.dir / "stderr.log").open("ab")
        with log:
            self.process = subprocess.Popen(
                list(argv), cwd=self.dir, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, timeout=timeout, process=self.process)

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop the process (SIGKILL when ``kill``, else SIGTERM) and reap it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def close(self) -> None:
        """Stop the process and delete its directory."""
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
