"""A fake Jenkins on loopback: ``/job/<a>/job/<b>/api/json?tree=...``, ``wfapi``, errors, faults."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.jenkins.instance import (
    FakeBuild,
    FakeFolder,
    FakeJob,
    Instance,
    describe,
    render_item,
)
from tests.fakes.jenkins.tree import TreeError, parse, select

USER = "ci-reader"
TOKEN = "11d2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7"  # Jenkins API tokens: 34 hex digits

# Jetty's error page, as Jenkins sends for a bad token and for an unknown URL
_JETTY = (
    '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
    "<title>Error {status} {reason}</title>\n</head>\n<body><h2>HTTP ERROR {status} {reason}</h2>\n"
    "<table>\n<tr><th>URI:</th><td>{uri}</td></tr>\n<tr><th>STATUS:</th><td>{status}</td></tr>\n"
    "<tr><th>MESSAGE:</th><td>{reason}</td></tr>\n</table>\n</body>\n</html>\n"
)
# Jenkins' own access-denied page (hudson.security.AccessDeniedException3)
_DENIED = (
    "<!DOCTYPE html><html><head><title>Access Denied [Jenkins]</title></head><body>"
    '<div id="main-panel"><h1>Access Denied</h1><p>{user} is missing the Job/Read permission</p>'
    "</div></body></html>"
)
_OOPS = (
    "<!DOCTYPE html><html><head><title>Jenkins [Jenkins]</title></head><body><h1>Oops!</h1>"
    "<p>A problem occurred while processing the request.</p></body></html>"
)


@dataclass
class Fault:
    """``kind`` for the next ``times`` requests whose path contains ``path``, after ``skip``.

    kinds: ``5xx`` (503), ``500``, ``429`` (with ``Retry-After`` when ``retry_after`` is not
    None), ``reset`` (connection closed with no answer), ``slow`` (``delay`` seconds, then the
    answer), ``truncate`` (half the body).
    """

    kind: str
    times: int = 1
    path: str = ""
    skip: int = 0
    delay: float = 0.0
    retry_after: int | None = 1


class FakeJenkins:
    def __init__(self, instance: Instance, *, user: str = USER, token: str = TOKEN) -> None:
        self.instance = instance
        self.user = user
        self.token = token
        self.lock = threading.RLock()
        self.requests: Counter[str] = Counter()  # "listing" | "builds" | "stages" -> n
        self.paths: list[str] = []
        self.faults: list[Fault] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> FakeJenkins:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()
            self.paths.clear()

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path in path and fault.times > 0:
                    if fault.skip:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    return fault
            return None


def _split(path: str) -> tuple[list[str], int | None, str] | None:
    """``/job/a/job/b/7/wfapi/describe`` -> (["a", "b"], 7, "wfapi/describe")."""
    parts = [p for p in path.split("/") if p]
    names: list[str] = []
    while len(parts) >= 2 and parts[0] == "job":
        names.append(unquote(parts[1]))
        parts = parts[2:]
    number = None
    if parts and parts[0].isdigit():
        number, parts = int(parts[0]), parts[1:]
    rest = "/".join(parts)
    if rest not in ("api/json", "wfapi/describe"):
        return None
    return names, number, rest


def _handler(fake: FakeJenkins) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{fake.user}:{fake.token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            split = _split(parts.path)
            kind = "other"
            if split is not None:
                kind = "stages" if split[2] == "wfapi/describe" else "listing"
                if "allBuilds" in (parse_qs(parts.query).get("tree") or [""])[0]:
                    kind = "builds"
            with fake.lock:
                fake.requests[kind] += 1
                fake.paths.append(self.path)
            if self.headers.get("Authorization") != expected:
                reason = f"Invalid password/token for user: {fake.user}"
                return self._html(401, _JETTY.format(status=401, reason=reason, uri=parts.path))
            fault = fake.take_fault(parts.path)
            if fault is not None and self._fault(fault):
                return
            if split is None:
                return self._html(
                    404, _JETTY.format(status=404, reason="Not Found", uri=parts.path)
                )
            names, number, rest = split
            with fake.lock:
                item = fake.instance.find(names)
                if item is None:
                    return self._html(
                        404, _JETTY.format(status=404, reason="Not Found", uri=parts.path)
                    )
                if getattr(item, "forbidden", False):
                    return self._html(403, _DENIED.format(user=fake.user))
                status, data = self._answer(item, "/".join(names), number, rest, parts.query)
            self._send(status, data, truncate=fault is not None and fault.kind == "truncate")

        def _answer(
            self, item: FakeFolder | FakeJob, path: str, number: int | None, rest: str, query: str
        ) -> tuple[int, Any]:
            if number is not None:
                build = next((b for b in getattr(item, "builds", []) if b.number == number), None)
                if build is None or rest != "wfapi/describe" or not isinstance(item, FakeJob):
                    return 404, None
                return 200, describe(fake.url, path, build)
            if rest != "api/json":
                return 404, None
            tree = (parse_qs(query).get("tree") or [""])[0]
            if isinstance(item, Instance):
                obj: dict[str, Any] = {
                    "_class": "hudson.model.Hudson",
                    "mode": "NORMAL",
                    "nodeDescription": "the Jenkins controller's built-in node",
                    "url": f"{fake.url}/",
                    "jobs": render_item(fake.url, "", item)["jobs"],
                }
            else:
                obj = render_item(fake.url, path, item)
            try:
                nodes = parse(tree or "_class,name,url,jobs[name,url],lastBuild[number]")
            except TreeError:
                return 400, None
            return 200, select(obj, nodes)

        def _fault(self, fault: Fault) -> bool:
            if fault.kind == "slow":
                time.sleep(fault.delay)
                return False
            if fault.kind == "truncate":
                return False
            if fault.kind == "reset":
                self.close_connection = True
                self.connection.shutdown(2)
                return True
            if fault.kind == "429":
                headers = (
                    {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                )
                self._html(429, "<html><body><h1>429 Too Many Requests</h1></body></html>", headers)
            elif fault.kind == "500":
                self._html(500, _OOPS)
            else:
                self._html(503, _JETTY.format(status=503, reason="Service Unavailable", uri=""))
            return True

        def _html(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Jenkins", "2.479.1")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _send(self, status: int, data: Any, *, truncate: bool = False) -> None:
            if status != 200:
                return self._html(status, _JETTY.format(status=status, reason="Not Found", uri=""))
            text = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(text)))
            self.send_header("X-Jenkins", "2.479.1")
            self.end_headers()
            if truncate:
                self.wfile.write(text[: len(text) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(text)

    return Handler


__all__ = ["TOKEN", "USER", "FakeBuild", "FakeJenkins", "Fault"]
