"""The one HTTP port: /metrics, /healthz, /readyz and /webhooks/<source>, served by waitress."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.registry import Collector

from streamgauge.exposition.collector import Exposition

if TYPE_CHECKING:
    from streamgauge.connectors.webhook.intake import Intake

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from waitress.server import BaseWSGIServer, MultiSocketServer

log = logging.getLogger(__name__)

Readiness = Callable[[], tuple[bool, str]]


class WebApp:
    """A small WSGI app; every answer is precomputed or trivial, so a scrape costs a copy."""

    def __init__(
        self,
        exposition: Exposition,
        readiness: Readiness,
        *,
        webhooks: Mapping[str, Intake] | None = None,
        live: Collector | None = None,
    ) -> None:
        self.exposition = exposition
        self.readiness = readiness
        self.webhooks = dict(webhooks or {})
        # Counters that move with every request (the webhooks'): rendered at each scrape and
        # appended to the snapshot's bytes, which stay rendered once per change.
        self._live: CollectorRegistry | None = None
        if live is not None:
            self._live = CollectorRegistry(auto_describe=False)
            self._live.register(live)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/webhooks/"):
            return self._webhook(path.removeprefix("/webhooks/"), environ, start_response)
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
        live = self._live
        if "application/openmetrics-text" in accept:
            body = rendered.openmetrics
            if live is not None:
                extra: bytes = openmetrics.generate_latest(live)  # type: ignore[no-untyped-call]
                body = body.removesuffix(b"# EOF\n") + extra
            headers.append(("Content-Type", OPENMETRICS_TYPE))
        elif "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
            body = rendered.text_gzip
            if live is not None:
                # Two gzip members in a row are one valid gzip stream (RFC 1952, 2.2).
                body += gzip.compress(generate_latest(live), compresslevel=5)
            headers += [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Encoding", "gzip")]
        else:
            body = rendered.text
            if live is not None:
                body += generate_latest(live)
            headers.append(("Content-Type", CONTENT_TYPE_LATEST))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [body]

    def _webhook(
        self, name: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        intake = self.webhooks.get(name)
        if intake is None:
            return _plain(start_response, "404 Not Found", "no webhook source of that name\n")
        if environ.get("REQUEST_METHOD") != "POST":
            return _plain(start_response, "405 Method Not Allowed", "only POST here\n")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > intake.max_body:
            answer = intake.too_large()
        else:
            body = environ["wsgi.input"].read(intake.max_body + 1)
            if len(body) > intake.max_body:
                answer = intake.too_large()
            else:
                answer = intake.receive(
                    environ.get("CONTENT_TYPE", ""), _headers(environ), bytes(body)
                )
        return _plain(start_response, _STATUS[answer.status], answer.text, list(answer.headers))


_STATUS = {
    202: "202 Accepted",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    413: "413 Content Too Large",
    415: "415 Unsupported Media Type",
    503: "503 Service Unavailable",
}


def _headers(environ: WSGIEnvironment) -> dict[str, str]:
    """A request's headers by lower-case name (``HTTP_WEBHOOK_ID`` -> ``webhook-id``)."""
    out = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        out["content-type"] = str(environ["CONTENT_TYPE"])
    return out


def _plain(
    start_response: StartResponse,
    status: str,
    text: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = text.encode()
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        + (extra or []),
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

    server.task_dispatcher.shutdown(cancel_pending=False, timeout=5)
    if isinstance(server, MultiSocketServer):
        server.close()
        return
    sockets = server._map  # type: ignore[attr-defined]  # the loop's own map of dispatchers
    trigger: Any = server.trigger  # a waitress trigger; the type stubs call it an int
    trigger.pull_trigger(lambda: wasyncore.close_all(sockets))
