"""Plain HTTP on the WebSocket port: ``/healthz``, ``/metrics`` and handshake admission.

``GET /healthz`` is open (load balancers probe it without credentials); it answers
503 while a shared event log (Redis) is unreachable, so that probes steer new
clients to healthy instances.
``GET /metrics`` answers JSON, or Prometheus text for ``?format=prometheus`` or an
``Accept: text/plain`` header (what Prometheus sends). It needs the same
credentials as a WebSocket (``Authorization: Bearer`` or ``?token=``), answering
401 otherwise: unlike the reference's open endpoint, its per-channel counts
reveal who publishes what and how much.
"""

from __future__ import annotations

import http
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers, MultipleValuesError
from websockets.http11 import Request, Response

from nexus_nb.exceptions import AuthError
from nexus_nb.server import prometheus
from nexus_nb.server.auth import Authenticator
from nexus_nb.server.origin import check_origin

__all__ = ["Admission", "query_token"]


def query_token(path: str) -> str | None:
    """The ``token`` query parameter of a request path, or ``None``."""
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def _json(status: http.HTTPStatus, body: object) -> Response:
    return _response(status, orjson.dumps(body) + b"\n", "application/json")


def _response(status: http.HTTPStatus, content: bytes, content_type: str) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(content))),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, content)


class Admission:
    """The ``process_request`` hook: HTTP endpoints, origin allow-list, connection cap.

    Args:
        auth: Checks credentials for ``/metrics``.
        metrics: Returns the ``/metrics`` document.
        active: Returns the number of open WebSocket clients.
        max_connections: More concurrent clients than this are refused with 503.
        origins: Allowed ``Origin`` values (403 otherwise), or ``None`` for any.
        on_reject: Called for each handshake refused with 403 or 503.
        health: Returns whether the server is healthy and the ``/healthz`` body;
            always healthy when ``None``.
    """

    def __init__(
        self,
        auth: Authenticator,
        metrics: Callable[[], dict[str, Any]],
        active: Callable[[], int],
        *,
        max_connections: int,
        origins: Collection[str] | None,
        on_reject: Callable[[], None],
        health: Callable[[], tuple[bool, dict[str, Any]]] | None = None,
    ) -> None:
        self._auth = auth
        self._metrics = metrics
        self._active = active
        self._max_connections = max_connections
        self._origins = origins
        self._on_reject = on_reject
        self._health = health

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer ``/healthz`` and ``/metrics``; refuse or admit WebSocket handshakes."""
        path = urlsplit(request.path).path
        if path == "/healthz":
            if self._health is None:
                return _json(http.HTTPStatus.OK, {"status": "ok"})
            healthy, body = self._health()
            status = http.HTTPStatus.OK if healthy else http.HTTPStatus.SERVICE_UNAVAILABLE
            return _json(status, body)
        if path == "/metrics":
            try:
                self._auth.authenticate(request.headers, query_token(request.path))
            except AuthError as exc:
                return _json(http.HTTPStatus.UNAUTHORIZED, {"error": str(exc)})
            query = urlsplit(request.path).query
            accept = ", ".join(request.headers.get_all("Accept"))
            if prometheus.wants_prometheus(query, accept):
                text = prometheus.render(self._metrics())
                return _response(http.HTTPStatus.OK, text, prometheus.CONTENT_TYPE)
            return _json(http.HTTPStatus.OK, self._metrics())
        try:
            origin = request.headers.get("Origin")
        except MultipleValuesError:
            # A repeated Origin is never a browser's: refuse unless "null" is allowed.
            origin = "null"
        if not check_origin(origin, self._origins):
            self._on_reject()
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Origin not allowed\n")
        if self._active() >= self._max_connections:
            self._on_reject()
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Too many connections\n")
        return None
