"""Real ``redis-server`` and ``nginx`` processes for tests and benchmarks (no pytest).

Each process runs on 127.0.0.1 on a free port, with its files in a temporary
directory, and is stopped by the object that started it (never a system service,
never port 6379 or 80). Readiness is polled, bounded by ``timeout``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = [
    "NGINX",
    "NGINX_CONF",
    "REDIS_SERVER",
    "NginxProcess",
    "RedisProcess",
    "free_port",
    "wait_for_port",
]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


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


class _Process:
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

    def __enter__(self) -> _Process:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisProcess(_Process):
    """A ``redis-server`` on 127.0.0.1, without persistence unless ``appendonly``.

    Args:
        appendonly: Keep an append-only file (fsync every write) so that data
            survives :meth:`restart`.
        timeout: Seconds to wait for it to listen.
    """

    def __init__(self, *, appendonly: bool = False, timeout: float = 10.0) -> None:
        super().__init__("nexus-redis-")
        self.appendonly = appendonly
        self.timeout = timeout
        self.start()

    @property
    def url(self) -> str:
        """The ``redis://`` URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or start again) on the same port and directory."""
        argv = [
            REDIS_SERVER,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--protected-mode", "no",
        ]  # fmt: skip
        self._spawn(argv, timeout=self.timeout)

    def restart(self, *, kill: bool = True) -> None:
        """Stop (SIGKILL by default: no shutdown save) and start again on the same port."""
        self.stop(kill=kill)
        self.start()

    def __enter__(self) -> RedisProcess:
        return self


#: The nginx configuration the tests run: the reference's ``location /stream`` block.
NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream websocket_backend {{
{servers}
    }}

    server {{
        listen 127.0.0.1:{port};

        location /stream {{
            proxy_pass http://websocket_backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_read_timeout 3600s;
        }}

        location = /healthz {{
            proxy_pass http://websocket_backend;
        }}
    }}
}}
"""


class NginxProcess(_Process):
    """An ``nginx`` on 127.0.0.1 proxying ``/stream`` to ``backends`` (the reference block).

    Args:
        backends: ``host:port`` of each upstream server; round-robin, no ``ip_hash``.
        timeout: Seconds to wait for it to listen.
    """

    def __init__(self, backends: Sequence[str], *, timeout: float = 10.0) -> None:
        super().__init__("nexus-nginx-")
        servers = "\n".join(f"        server {b} max_fails=1 fail_timeout=5s;" for b in backends)
        self.config = NGINX_CONF.format(dir=self.dir, servers=servers, port=self.port)
        (self.dir / "nginx.conf").write_text(self.config)
        argv = [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-e", "stderr"]
        # As root, nginx workers switch to "nobody", who must read the temp dir.
        if os.geteuid() == 0:
            self.dir.chmod(0o755)
        self._spawn(argv, timeout=timeout)

    @property
    def url(self) -> str:
        """The ``ws://`` URL of the proxied ``/stream`` location."""
        return f"ws://127.0.0.1:{self.port}/stream"

    def __enter__(self) -> NginxProcess:
        return self
