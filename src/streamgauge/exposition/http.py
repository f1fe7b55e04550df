"""The one HTTP port: /metrics, /healthz, /readyz, /webhooks/<source>, the value-stream map page
(/, /streams/<team>/<app>) and /api/v1/snapshot, served by waitress."""

from __future__ import annotations

import gzip
import logging
import resource
from collections.abc import Callable, Iterable, Mapping
from io import BytesIO
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.registry import Collector

from streamgauge.config import ServerConfig
from streamgauge.exposition.collector import Exposition
from streamgauge.exposition.site import MapSite

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
        site: MapSite | None = None,
    ) -> None:
        self.exposition = exposition
        self.site = site or MapSite(exposition)
        self.readiness = readiness
        self.webhooks = dict(webhooks or {})
        # Counters that move with every request (the webhooks'): rendered at each scrape and
        # appended to the snapshot's bytes, which stay rendered once per change.
        self._live: CollectorRegistry | None = None
        if live is not None:
            self._live = CollectorRegistry(auto_describe=False)
            self._live.register(live)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = self._answer(environ, start_response)
        if environ.get("REQUEST_METHOD") == "HEAD":
            # The headers, Content-Length included, are those a GET gets; the body is not sent
            # (RFC 9110, section 9.3.2), and waitress would send whatever the app returns.
            return []
        return body

    def _answer(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
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
        if self.site.handles(path):
            answer = self.site.answer(
                _raw_path(environ), environ.get("QUERY_STRING", ""), _headers(environ)
            )
            start_response(
                answer.status,
                [
                    ("Content-Type", answer.content_type),
                    ("Content-Length", str(len(answer.body))),
                    *answer.headers,
                ],
            )
            return [answer.body]
        return _plain(start_response, "404 Not Found", "not found\n")

    def _metrics(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        rendered = self.exposition.rendered
        accept = environ.get("HTTP_ACCEPT", "")
        gzipped = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        headers = [("Cache-Control", "no-store"), ("Vary", "Accept, Accept-Encoding")]
        live = self._live
        if "application/openmetrics-text" in accept:
            if live is None:
                body = rendered.openmetrics_gzip if gzipped else rendered.openmetrics
            else:
                extra: bytes = openmetrics.generate_latest(live)  # type: ignore[no-untyped-call]
                body = rendered.openmetrics.removesuffix(b"# EOF\n") + extra
                if gzipped:
                    body = gzip.compress(body, compresslevel=5)
            headers.append(("Content-Type", OPENMETRICS_TYPE))
        else:
            body = rendered.text_gzip if gzipped else rendered.text
            if live is not None:
                more = generate_latest(live)
                # Two gzip members in a row are one valid gzip stream (RFC 1952, 2.2).
                body += gzip.compress(more, compresslevel=5) if gzipped else more
            headers.append(("Content-Type", CONTENT_TYPE_LATEST))
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
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


def _raw_path(environ: WSGIEnvironment) -> str:
    """The path as the client sent it, still percent-encoded (waitress's ``REQUEST_URI``), so
    an encoded ``/`` in a team's name stays inside its segment."""
    raw = environ.get("REQUEST_URI")
    if raw:
        return str(urlsplit(str(raw)).path)
    return quote(str(environ.get("PATH_INFO", "/")).encode("latin-1"), safe="/")


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
    app: WebApp, *, host: str, port: int, threads: int, limits: ServerConfig | None = None
) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server bound now (so a taken port fails at start), run by ``.run()``.

    The limits (``server.*`` settings; their defaults when not given) keep the port answering
    under load: ``connection_limit`` open connections, idle keep-alive ones included, each
    closed after ``idle_timeout`` without a byte, and request bodies capped at
    ``max_request_body``. ``poll()`` replaces ``select()``, whose descriptor limit
    (FD_SETSIZE, 1024) a thousand connections would pass.
    """
    from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

    config = limits or ServerConfig()
    idle = max(1, int(config.idle_timeout.total_seconds()))
    _raise_file_limit(config.connection_limit + _SPARE_FILES)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "threads": threads,
        "ident": "streamgauge",
        "connection_limit": config.connection_limit,
        "channel_timeout": idle,
        # how often idle connections are looked for: a quarter of the timeout, so one is
        # closed at most 25% late
        "cleanup_interval": max(1, min(30, idle // 4)),
        "max_request_body_size": config.max_request_body,
        "asyncore_use_poll": True,
    }
    server = create_server(app, **options)
    channel = _channel_class()
    listeners = (server.map or {}).values() if isinstance(server, MultiSocketServer) else [server]
    for listener in listeners:
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = channel
    return server


# Descriptors besides the connections: the store, the log, the listening sockets, the trigger.
_SPARE_FILES = 64


def _raise_file_limit(needed: int) -> None:
    """Raise the soft limit on open files towards ``needed``, within the hard limit.

    Containers often start with a soft limit of 1024; past it ``accept()`` fails with EMFILE
    and the listening socket stays readable, so the server would spin instead of serving.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        log.warning(
            "open-file limit %d is below server.connection_limit + %d; connections past it "
            "are refused",
            target,
            _SPARE_FILES,
        )


class _Dropped:
    """A request-body buffer that keeps nothing: a GET or HEAD body is read off the socket
    and dropped, so it costs neither memory nor a temporary file."""

    def __len__(self) -> int:
        return 0

    def append(self, data: bytes) -> None:
        pass

    def getfile(self) -> BytesIO:
        return BytesIO()

    def close(self) -> None:
        pass


def _parser_class() -> type[Any]:
    from waitress.parser import HTTPRequestParser

    class _Parser(HTTPRequestParser):
        """Waitress's parser, except that GET and HEAD bodies go to :class:`_Dropped`.

        Waitress buffers a body before the app runs and moves one over ``inbuf_overflow``
        (512 KiB) into a temporary file; no answer here reads a body, so none is kept.
        """

        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            receiver: Any = self.body_rcv
            command: Any = self.command  # a str since waitress 1.0; the stubs say bytes
            if receiver is not None and command in ("GET", "HEAD"):
                receiver.buf = _Dropped()

    return _Parser


def _channel_class() -> type[Any]:
    from waitress.channel import HTTPChannel

    class _Channel(HTTPChannel):
        parser_class = _parser_class()

    return _Channel


def stop_server(server: BaseWSGIServer | MultiSocketServer) -> None:
    """Stop serving, from a thread other than the one in ``run()``; ``run()`` then returns.

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
