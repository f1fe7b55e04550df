"""The fake Jira's HTTP side: routing of Jira's REST paths, answers, and the faults injected."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.jira.payloads import all_statuses, errors, field_list
from tests.fakes.jira.server import Answer, FakeJira


class JiraHandler(BaseHTTPRequestHandler):
    jira: FakeJira
    protocol_version = "HTTP/1.1"  # keep-alive, as Jira; every answer carries Content-Length

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read counts, not access logs."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        jira = self.jira
        split = urlsplit(self.path)
        params = parse_qs(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        parts = split.path.strip("/").split("/")
        endpoint, answer = _route(
            jira, method, parts, params, body, self.headers.get("Authorization")
        )
        with jira._lock:
            jira.counts[endpoint] += 1
        fault = jira.take_fault(endpoint)
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "429":
                self._send(
                    429,
                    errors("Rate limit exceeded."),
                    {
                        "Retry-After": fault.retry_after,
                        "X-RateLimit-Limit": "100",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-NearLimit": "true",
                    },
                )
                return
            elif fault.kind == "reset":
                self.close_connection = True
                self.connection.close()
                return
            elif fault.kind in ("500", "503"):
                self._send(int(fault.kind), errors("Internal server error"))
                return
            elif fault.kind == "truncate" and answer.status == 200:
                data = json.dumps(answer.body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
        self._send(answer.status, answer.body, answer.headers)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _route(
    jira: FakeJira,
    method: str,
    parts: list[str],
    params: dict[str, list[str]],
    body: dict[str, Any],
    auth: str | None,
) -> tuple[str, Answer]:
    """(endpoint name, answer) for a request path split at '/'."""
    if parts[:2] != ["rest", "api"] or len(parts) < 4 or parts[2] not in ("2", "3", "latest"):
        return "other", Answer(404, errors("Not found"))
    api, rest = parts[2], parts[3:]
    if rest == ["serverInfo"]:
        return "serverInfo", Answer(200, jira.server_info())
    if not jira.authorized(auth):
        return "/".join(rest[:1]), Answer(
            401, errors("Client must be authenticated to access this resource.")
        )
    if rest == ["myself"]:
        return "myself", Answer(200, jira.myself())
    if rest == ["field"]:
        return "field", Answer(200, field_list())
    if rest == ["status"]:
        return "status", Answer(200, all_statuses(jira.url))
    if rest == ["search", "jql"] and jira.cloud:
        return "search/jql", jira.search_jql(params if method == "GET" else _as_params(body))
    if rest == ["search"]:
        return "search", jira.search(params if method == "GET" else _as_params(body))
    if rest == ["changelog", "bulkfetch"] and method == "POST" and jira.cloud:
        return "bulkfetch", jira.bulkfetch(body)
    if len(rest) == 3 and rest[0] == "issue" and rest[2] == "changelog":
        return "changelog", jira.changelog(rest[1], params, api)
    if len(rest) == 2 and rest[0] == "issue":
        return "issue", jira.issue(rest[1], params, api)
    return "other", Answer(404, errors("Not found"))


def _as_params(body: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in body.items():
        if isinstance(value, list):
            out[key] = [",".join(map(str, value))]
        elif value is not None:
            out[key] = [str(value)]
    return out
