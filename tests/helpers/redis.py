"""A real ``redis-server`` for tests and benchmarks (no pytest), on 127.0.0.1 and a free port."""

from __future__ import annotations

import shutil

from tests.helpers.process import ServiceProcess

__all__ = ["REDIS_SERVER", "RedisProcess"]

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess(ServiceProcess):
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
