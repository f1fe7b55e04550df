"""A fake GitLab on loopback: REST under /api/v4 and GraphQL at /api/graphql, with faults."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from graphql import graphql_sync
from tests.fakes.gitlab import payloads
from tests.fakes.gitlab.graphql_api import MAX_COMPLEXITY, Resolver, complexity, make_schema
from tests.fakes.gitlab.project import FakeGroup, FakeProject

TOKEN = "glpat-fake-token-for-tests"
LIMIT = 2000  # GitLab.com: authenticated API requests a minute
TOTALS_CAP = 10_000  # above this GitLab leaves out x-total, x-total-pages and rel="last"


@dataclass
class Fault:
    """One injected fault: ``kind`` for the next ``times`` requests whose path contains ``path``.

    kinds: ``5xx`` (502), ``reset`` (connection closed unanswered), ``slow`` (``delay``
    seconds, then the answer), ``truncate`` (half a body), ``429`` (with ``Retry-After`` and
    ``RateLimit-*`` when ``retry_after`` is not None, with neither when it is), ``malformed``
    (the first record of the answer loses its ``created_at`` and ``status``), ``loop`` (the
    next page named is always page 1). ``skip`` lets
    that many matching requests through first.
    """

    kind: str
    times: int = 1
    path: str = ""
    skip: int = 0
    delay: float = 0.0
    retry_after: int | None = 1


class FakeGitLab:
    """The server and its state: the group, request counts, the rate limit and faults."""

    def __init__(self, group: FakeGroup, *, token: str = TOKEN) -> None:
        self.group = group
        self.token = token
        self.lock = threading.RLock()
        self.requests: Counter[str] = Counter()  # "GET /projects/:id/deployments" -> n
        self.faults: list[Fault] = []
        self.forbidden: set[str] = set()  # project paths this token's user may not read
        self.links = True  # False: paging headers without `Link`, as some proxies leave them
        self.remaining = LIMIT
        self.reset = int(time.time()) + 60
        self.schema = make_schema()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> FakeGitLab:
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


ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/groups/(?P<id>[^/]+)/projects$"), "group_projects"),
    (re.compile(r"^/projects/(?P<id>[^/]+)$"), "project"),
    (re.compile(r"^/projects/(?P<id>[^/]+)/repository/commits$"), "commits"),
    (re.compile(r"^/projects/(?P<id>[^/]+)/deployments$"), "deployments"),
    (re.compile(r"^/projects/(?P<id>[^/]+)/issues$"), "issues"),
]
# GitLab's projects, groups and users limiters send no RateLimit-* headers
SILENT = {"group_projects", "project"}


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass
class Listing:
    """A whole listing, rendered to JSON one page at a time."""

    items: list[Any]
    render: Callable[[Any], dict[str, Any]]


class RestApi:
    def __init__(self, fake: FakeGitLab) -> None:
        self.fake = fake

    def route(self, path: str) -> tuple[str, dict[str, str]] | None:
        for pattern, name in ROUTES:
            match = pattern.match(path)
            if match:
                return name, {k: unquote(v) for k, v in match.groupdict().items()}
        return None

    def get(
        self, name: str, ids: dict[str, str], query: dict[str, str]
    ) -> tuple[int, Any, Listing | None]:
        """(status, body, the whole listing when the body is a page of it)."""
        web = self.fake.url
        group = self.fake.group
        if name == "group_projects":
            if ids["id"] not in (group.path, "1"):
                return 404, payloads.GROUP_NOT_FOUND, None
            items = [
                p
                for p in sorted(group.projects.values(), key=lambda p: p.id)
                if not (query.get("archived") == "false" and p.archived)
            ]
            return 200, None, Listing(items, lambda p: payloads.project(p, web))
        project = group.find(ids["id"])
        if project is None:
            return 404, payloads.PROJECT_NOT_FOUND, None
        if project.path in self.fake.forbidden:
            return 403, payloads.FORBIDDEN, None
        if name == "project":
            return 200, payloads.project(project, web), None
        return 200, None, getattr(self, f"_{name}")(project, query)

    def _commits(self, p: FakeProject, query: dict[str, str]) -> Listing:
        ref = query.get("ref_name") or p.default_branch
        head = p.head if ref == p.default_branch else ref
        since = _time(query.get("since"))
        out = []
        seen: set[str] = set()
        todo = [head] if head in p.commits else []
        first_parent = query.get("first_parent") == "true"
        while todo:  # newest first, like git log
            todo.sort(key=lambda s: p.commits[s].committed, reverse=True)
            sha = todo.pop(0)
            if sha in seen:
                continue
            seen.add(sha)
            commit = p.commits[sha]
            if since is None or commit.committed >= since:
                out.append(commit)
            parents = commit.parents[:1] if first_parent else commit.parents
            todo += [s for s in parents if s not in seen]
        return Listing(out, lambda c: payloads.commit(c, p, self.fake.url))

    def _deployments(self, p: FakeProject, query: dict[str, str]) -> Listing:
        since = _time(query.get("updated_after"))
        items = [d for d in p.deployments if since is None or d.updated > since]
        key = query.get("order_by") or "id"
        items.sort(key=lambda d: (d.updated, d.id) if key == "updated_at" else (d.id,))
        if query.get("sort") == "desc":
            items.reverse()
        return Listing(items, lambda d: payloads.deployment(d, p, self.fake.url))

    def _issues(self, p: FakeProject, query: dict[str, str]) -> Listing:
        since = _time(query.get("updated_after"))
        items = [i for i in p.issues if since is None or i.updated > since]
        if query.get("issue_type"):
            items = [i for i in items if i.issue_type == query["issue_type"]]
        items.sort(key=lambda i: (i.updated, i.id), reverse=query.get("sort") != "asc")
        return Listing(items, lambda i: payloads.issue(i, p, self.fake.url))


def page_headers(
    url: str, path: str, query: dict[str, str], page: int, per_page: int, total: int
) -> dict[str, str]:
    """GitLab's offset-paging headers; totals and the last link vanish above 10,000."""
    pages = max(1, -(-total // per_page))
    headers = {
        "x-page": str(page),
        "x-per-page": str(per_page),
        "x-next-page": str(page + 1) if page < pages else "",
        "x-prev-page": str(page - 1) if page > 1 else "",
    }
    base = f"{url}/api/v4{path}"

    def link(number: int, rel: str) -> str:
        return f'<{base}?{urlencode({**query, "page": number, "per_page": per_page})}>; rel="{rel}"'

    links = []
    if page > 1:
        links.append(link(page - 1, "prev"))
    if page < pages:
        links.append(link(page + 1, "next"))
    links.append(link(1, "first"))
    if total <= TOTALS_CAP:
        headers["x-total"] = str(total)
        headers["x-total-pages"] = str(pages)
        links.append(link(pages, "last"))
    headers["Link"] = ", ".join(links)
    return headers


def _handler(fake: FakeGitLab) -> type[BaseHTTPRequestHandler]:
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
            route: tuple[str, dict[str, str]] | None = None
            if parts.path == "/api/graphql" and verb == "POST":
                endpoint = "POST /graphql"
            elif parts.path.startswith("/api/v4/") and verb == "GET":
                route = rest.route(parts.path[len("/api/v4") :])
                if route is None:
                    return self._send(404, payloads.NOT_FOUND, {})
                endpoint = f"GET {route[0]}"
            else:
                return self._send(404, payloads.NOT_FOUND, {})
            with fake.lock:
                fake.requests[endpoint] += 1
            if self.headers.get("PRIVATE-TOKEN") != fake.token:
                return self._send(401, payloads.UNAUTHORIZED, {})
            fault = fake.take_fault(parts.path)
            if fault is not None and self._fault(fault):
                return
            limits = {} if route and route[0] in SILENT else self._limits()
            with fake.lock:
                fake.remaining -= 1
            if route is None:
                status, data = self._graphql(json.loads(body or b"{}"))
                headers: dict[str, str] = {}
            else:
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                status, data, listing = rest.get(route[0], route[1], query)
                headers = {}
                if listing is not None:
                    page = int(query.pop("page", "1"))
                    per_page = min(int(query.pop("per_page", "20")), 100)
                    chunk = listing.items[(page - 1) * per_page : page * per_page]
                    data = [listing.render(item) for item in chunk]
                    headers = page_headers(
                        fake.url,
                        parts.path[len("/api/v4") :],
                        query,
                        page,
                        per_page,
                        len(listing.items),
                    )
                    if not fake.links:
                        del headers["Link"]
                    if fault is not None and fault.kind == "loop" and headers["x-next-page"]:
                        # a broken proxy or cache: the next page is always the first again
                        headers = page_headers(
                            fake.url,
                            parts.path[len("/api/v4") :],
                            query,
                            0,
                            per_page,
                            len(listing.items),
                        )
                        headers["x-page"] = str(page)
            if fault is not None and fault.kind == "malformed" and isinstance(data, list) and data:
                data = [
                    {k: v for k, v in data[0].items() if "created" not in k and k != "status"},
                    *data[1:],
                ]
            self._send(
                status,
                data,
                {**headers, **limits},
                truncate=fault is not None and fault.kind == "truncate",
            )

        def _graphql(self, request: dict[str, Any]) -> tuple[int, Any]:
            variables = request.get("variables") or {}
            score = complexity(request["query"], variables)
            if score > MAX_COMPLEXITY:
                return 200, {
                    "errors": [
                        {
                            "message": f"Query has complexity of {score}, which exceeds max "
                            f"complexity of {MAX_COMPLEXITY}"
                        }
                    ]
                }
            resolver = Resolver(fake.group, fake.url, fake.forbidden)
            with fake.lock:
                result = graphql_sync(
                    fake.schema, request["query"], resolver.root(), variable_values=variables
                )
            out: dict[str, Any] = {"data": result.data}
            if result.errors:
                out["errors"] = [
                    {"message": e.message, "locations": [], "path": e.path} for e in result.errors
                ]
            return 200, out

        def _fault(self, fault: Fault) -> bool:
            """Answer with the fault; False when the fault only changes the normal answer."""
            if fault.kind == "slow":
                time.sleep(fault.delay)
                return False
            if fault.kind in {"truncate", "malformed", "loop"}:
                return False
            if fault.kind == "5xx":
                self._send(502, {"message": "502 Bad Gateway"}, {})
            elif fault.kind == "reset":
                self.close_connection = True
                self.connection.close()
            elif fault.kind == "429":
                # with retry_after None: a limiter that sends neither Retry-After nor RateLimit-*
                headers = {}
                if fault.retry_after is not None:
                    headers = {**self._limits(spent=True), "Retry-After": str(fault.retry_after)}
                self._send(429, payloads.RETRY_LATER, headers)
            return True

        def _limits(self, *, spent: bool = False) -> dict[str, str]:
            with fake.lock:
                if fake.reset <= time.time():
                    fake.remaining, fake.reset = LIMIT, int(time.time()) + 60
                remaining = 0 if spent else max(0, fake.remaining)
                return {
                    "RateLimit-Name": "throttle_authenticated_api",
                    "RateLimit-Limit": str(LIMIT),
                    "RateLimit-Observed": str(LIMIT - remaining),
                    "RateLimit-Remaining": str(remaining),
                    "RateLimit-Reset": str(fake.reset),
                    "RateLimit-ResetTime": time.strftime(
                        "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(fake.reset)
                    ),
                }

        def _send(
            self, status: int, data: Any, headers: dict[str, str], *, truncate: bool = False
        ) -> None:
            if isinstance(data, str):
                text, kind = data.encode(), "text/plain"
            else:
                text, kind = b"" if data is None else json.dumps(data).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
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
