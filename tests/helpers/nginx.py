"""A real ``nginx`` with the reference's ``location /stream`` block, on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from tests.helpers.process import ServiceProcess

__all__ = ["NGINX", "NGINX_CONF", "NginxProcess"]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


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


class NginxProcess(ServiceProcess):
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
