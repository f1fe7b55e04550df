"""The one HTTP port: /metrics, /healthz, /readyz, served by waitress."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE

from streamgauge.exposition.collector import Exposition

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from waitress.server import BaseWSGIServer, MultiSocketServer

log = logging.getLogger(__name__)

Readiness = Callable[[], tuple[bool, str]]


class WebApp:
    """A small WSGI app; every answer is precomputed or trivial, so a scrape costs a copy."""

    def __init__(self, exposition: Exposition, readiness: Readiness) -> None:
        self.exposition = exposition
        self.readiness = readiness

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", "only GET here\n")
        if path == "/metrics":
            return self._metrics(environ, start_response)
        if path == "/healthz":
            return _plain(start_response, "200 OK", "ok\n")
        if path == "/readyz":
            ready, why = self.readiness()
            return _plain(
                start_response, "200 OK" if ready else "503 Service Unavailable", why + "\n"
            )
        if path == "/":
            return _plain(
                start_response, "200 OK", "streamgauge: see /metrics, /healthz, /readyz\n"
            )
        return _plain(start_response, "404 Not Found", "not found\n")

    def _metrics(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        rendered = self.exposition.rendered
        accept = environ.get("HTTP_ACCEPT", "")
        headers = [("Cache-Control", "no-store")]
        if "application/openmetrics-text" in accept:
            body = rendered.openmetrics
            headers.append(("Content-Type", OPENMETRICS_TYPE))
        elif "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = rendered.text_gzip
            headers += [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Encoding", "gzip")]
        else:
            body = rendered.text
            headers.append(("Content-Type", CONTENT_TYPE_LATEST))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [body]


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def make_server(
    app: WebApp, *, host: str, port: int, threads: int
) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server bound now (so a taken port fails at start), run by ``.run()``."""
    from waitress.server import create_server

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "threads": threads,
        "ident": "streamgauge",
    }
    return create_server(app, **options)


def stop_server(server: BaseWSGIServer | MultiSocketServer) -> None:
    """Stop serving, from a signal handler or another thread; ``run()`` then returns.

    The worker threads finish their responses and exit first, then the event loop closes its
    own sockets from inside its thread: closing them from outside races with the loop's
    ``select`` and with workers waking it, both of which fail with EBADF.
    """
    from waitress import wasyncore
    from waitress.server import MultiSocketServer

    # A scrape copies precomputed bytes: a second is plenty, and keeps the whole stop within 5 s.
    server.task_dispatcher.shutdown(cancel_pending=False, timeout=1)
    if isinstance(server, MultiSocketServer):
        server.close()
        return
    sockets = server._map  # type: ignore[attr-defined]  # the loop's own map of dispatchers
    trigger: Any = server.trigger  # a waitress trigger; the type stubs call it an int
    trigger.pull_trigger(lambda: wasyncore.close_all(sockets))
