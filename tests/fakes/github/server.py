"""A fake GitHub on loopback: REST under /api/v3 and GraphQL at /api/graphql, with faults."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from graphql import graphql_sync
from tests.fakes.github import payloads
from tests.fakes.github.graphql_api import Resolver, make_schema, query_cost
from tests.fakes.github.org import FakeOrg

TOKEN = "ghp_fake_token_for_tests"
LIMIT = 5000


@dataclass
class Fault:
    """One injected fault: ``kind`` for the next ``times`` requests whose path contains ``path``.

    kinds: ``5xx``, ``secondary`` (403), ``secondary429``, ``primary`` (budget spent until
    reset), ``slow`` (``delay`` seconds), ``truncate``, ``reset`` (the connection closed with no
    answer), ``graphql_rate_limited``.
    ``skip`` lets that many matching requests through first.
    """

    kind: str
    times: int = 1
    path: str = ""
    skip: int = 0
    delay: float = 0.0
    retry_after: int = 1


@dataclass
class Budget:
    remaining: int = LIMIT
    reset: int = field(default_factory=lambda: int(time.time()) + 3600)


class FakeGitHub:
    """The server and its state: the organisation, request counts, budgets and faults."""

    def __init__(self, org: FakeOrg, *, token: str = TOKEN) -> None:
        self.org = org
        self.token = token
        self.lock = threading.RLock()
        self.requests: Counter[str] = Counter()  # "GET /repos/{owner}/{repo}/events" -> n
        self.not_modified = 0
        self.cost: Counter[str] = Counter()  # resource -> rate-limit points spent
        self.budgets = {"core": Budget(), "graphql": Budget()}
        self.faults: list[Fault] = []
        self.schema = make_schema()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.web = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.web}/api/v3"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> FakeGitHub:
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
            self.cost.clear()
            self.not_modified = 0

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def spend_budget(self, resource: str = "core", *, reset_in: int = 3600) -> None:
        """The primary rate limit of ``resource`` is spent until ``reset_in`` seconds from now."""
        with self.lock:
            self.budgets[resource] = Budget(0, int(time.time()) + reset_in)

    def refill_budget(self) -> None:
        """Time passes: every budget is reset."""
        with self.lock:
            self.budgets = {"core": Budget(), "graphql": Budget()}

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


@contextmanager
def serve(org: FakeOrg) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(org).start()
    try:
        yield fake
    finally:
        fake.stop()


ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/orgs/(?P<org>[^/]+)/repos$"), "org_repos"),
    (re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)$"), "repo"),
    (re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/events$"), "events"),
    (re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions/runs$"), "runs"),
    (
        re.compile(
            r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/compare/(?P<base>\w+)\.\.\.(?P<head>\w+)$"
        ),
        "compare",
    ),
    (re.compile(r"^/rate_limit$"), "rate_limit"),
]
TEMPLATES = {
    "org_repos": "/orgs/{org}/repos",
    "repo": "/repos/{owner}/{repo}",
    "events": "/repos/{owner}/{repo}/events",
    "runs": "/repos/{owner}/{repo}/actions/runs",
    "compare": "/repos/{owner}/{repo}/compare/{basehead}",
    "rate_limit": "/rate_limit",
}


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    from tests.fakes.github.rest import RestApi

    rest = RestApi(fake)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # small answers must not wait for a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, verb: str) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if parts.path == "/api/graphql" and verb == "POST":
                resource, endpoint = "graphql", "POST /graphql"
            elif parts.path.startswith("/api/v3/") and verb == "GET":
                resource, endpoint = "core", "GET " + rest.template(parts.path[len("/api/v3") :])
            else:
                return self._send(404, payloads.NOT_FOUND, {})
            with fake.lock:
                fake.requests[endpoint] += 1
            if self.headers.get("Authorization") != f"token {fake.token}":
                return self._send(401, payloads.BAD_CREDENTIALS, {})
            fault = fake.take_fault(parts.path)
            if fault is not None and self._fault(fault, resource):
                return
            budget = fake.budgets[resource]
            if budget.remaining <= 0 and budget.reset > time.time():
                return self._send(403, payloads.primary("token"), self._limits(resource))
            if resource == "graphql":
                status, data, cost = self._graphql(json.loads(body or b"{}"))
                headers: dict[str, str] = {}
            else:
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                status, data, headers = rest.get(parts.path[len("/api/v3") :], query)
                cost = 1 if status < 400 and endpoint != "GET /rate_limit" else 0
            text = json.dumps(data).encode()
            etag = 'W/"' + hashlib.sha256(text).hexdigest()[:40] + '"'
            if verb == "GET" and status == 200:
                headers["ETag"] = etag
                if self.headers.get("If-None-Match") == etag:
                    # GitHub: a 304 to a conditional request does not count against the limit
                    with fake.lock:
                        fake.not_modified += 1
                    return self._send(304, None, {**headers, **self._limits(resource)})
            with fake.lock:
                fake.budgets[resource].remaining -= cost
                fake.cost[resource] += cost
            self._send(
                status,
                data,
                {**headers, **self._limits(resource)},
                truncate=fault is not None and fault.kind == "truncate",
            )

        def _graphql(self, request: dict[str, Any]) -> tuple[int, Any, int]:
            variables = request.get("variables") or {}
            cost = query_cost(request["query"], variables)
            resolver = Resolver(fake.org, fake.web)
            with fake.lock:
                budget = fake.budgets["graphql"]
                root = resolver.root()
                root["rateLimit"] = {
                    "cost": cost,
                    "limit": LIMIT,
                    "remaining": budget.remaining - cost,
                    "resetAt": datetime.fromtimestamp(budget.reset).astimezone().isoformat(),
                    "used": LIMIT - budget.remaining + cost,
                }
                result = graphql_sync(
                    fake.schema, request["query"], root, variable_values=variables
                )
            out: dict[str, Any] = {"data": result.data}
            if result.errors:
                out["errors"] = [
                    {"message": e.message, "locations": [], "path": e.path} for e in result.errors
                ]
            for alias, value in (result.data or {}).items():
                if value is None and alias != "rateLimit":
                    out.setdefault("errors", []).append(
                        {
                            "type": "NOT_FOUND",
                            "path": [alias],
                            "message": "Could not resolve to a Repository with the name "
                            f"'{_repo_arg(request['query'], alias)}'.",
                        }
                    )
            return 200, out, cost

        def _fault(self, fault: Fault, resource: str) -> bool:
            """Answer with the fault; False when the fault only changes the normal answer."""
            if fault.kind == "slow":
                time.sleep(fault.delay)
                return False
            if fault.kind == "truncate":
                return False
            if fault.kind == "5xx":
                self._send(502, {"message": "Server Error"}, {})
            elif fault.kind == "reset":
                self.close_connection = True
                self.connection.close()
            elif fault.kind == "secondary":
                self._send(
                    403,
                    payloads.SECONDARY,
                    {"Retry-After": str(fault.retry_after), **self._limits(resource)},
                )
            elif fault.kind == "secondary429":
                self._send(
                    429,
                    payloads.SECONDARY,
                    {"Retry-After": str(fault.retry_after), **self._limits(resource)},
                )
            elif fault.kind == "primary":
                fake.spend_budget(resource)
                self._send(403, payloads.primary("token"), self._limits(resource))
            elif fault.kind == "graphql_rate_limited":
                fake.spend_budget("graphql")
                self._send(
                    200,
                    {
                        "data": None,
                        "errors": [
                            {
                                "type": "RATE_LIMITED",
                                "message": "API rate limit exceeded for user ID 1.",
                            }
                        ],
                    },
                    self._limits("graphql"),
                )
            return True

        def _limits(self, resource: str) -> dict[str, str]:
            budget = fake.budgets[resource]
            return {
                "X-RateLimit-Limit": str(LIMIT),
                "X-RateLimit-Remaining": str(max(0, budget.remaining)),
                "X-RateLimit-Reset": str(budget.reset),
                "X-RateLimit-Used": str(LIMIT - budget.remaining),
                "X-RateLimit-Resource": resource,
            }

        def _send(
            self, status: int, data: Any, headers: dict[str, str], *, truncate: bool = False
        ) -> None:
            text = b"" if data is None else json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(text)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if truncate:
                self.wfile.write(text[: len(text) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(text)

    return Handler


def _repo_arg(query: str, alias: str) -> str:
    match = re.search(
        alias + r'\s*:\s*repository\(\s*owner:\s*"([^"]+)"\s*,\s*name:\s*"([^"]+)"', query
    )
    return f"{match.group(1)}/{match.group(2)}" if match else alias


def link_header(base: str, path: str, query: dict[str, str], page: int, last: int) -> str:
    links = []
    for rel, number in (("next", page + 1), ("last", last)) if page < last else ():
        links.append(f'<{base}{path}?{urlencode({**query, "page": number})}>; rel="{rel}"')
    if page > 1:
        links.append(f'<{base}{path}?{urlencode({**query, "page": page - 1})}>; rel="prev"')
    return ", ".join(links)
