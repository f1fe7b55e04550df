"""A fake PagerDuty on loopback answering ``GET /incidents`` and ``GET /incidents/{id}``.

It answers as PagerDuty's REST API v2 does: ``Token token=`` auth, classic paging (``limit``
at most 100, ``offset``, ``more``, ``total`` only when asked) that refuses ``offset + limit``
past 10,000, ``since``/``until`` of at most six months, error objects
``{"error": {"message", "code", "errors"}}`` and ``ratelimit-*`` headers; faults are injected.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.pagerduty.account import FakeAccount

TOKEN = "u+fakePagerDutyKey_123"  # a fake credential
RATE_LIMIT = 960
MAX_RANGE = timedelta(days=183)  # "six months"


@dataclass
class Fault:
    """``kind`` for the next ``times`` requests whose path contains ``path``, after ``skip``.

    kinds: ``5xx`` (500), ``reset`` (connection closed unanswered), ``slow`` (``delay``
    seconds, then the answer), ``truncate`` (half the body), ``429`` (``reset`` seconds in
    ``ratelimit-reset``, or no such header when ``reset`` is None).
    """

    kind: str
    times: int = 1
    path: str = ""
    skip: int = 0
    delay: float = 0.0
    reset: int | None = 1


def error(message: str, code: int | None = None, *details: str) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if code is not None:
        body["code"] = code
    if details:
        body["errors"] = list(details)
    return {"error": body}


class FakePagerDuty:
    """``with FakePagerDuty(account) as pd: pd.url`` - a server on 127.0.0.1, port 0."""

    def __init__(
        self,
        account: FakeAccount,
        *,
        token: str = TOKEN,
        offset_cap: int = 10_000,
        hidden_services: tuple[str, ...] = (),
        honour_total: bool = True,
    ) -> None:
        self.account = account
        self.token = token
        self.offset_cap = offset_cap
        self.hidden_services = set(hidden_services)
        # False plays an API that leaves `total` null even when asked (it is documented as
        # best effort): paging must then stop at the cap by itself
        self.honour_total = honour_total
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict[str, list[str]]]] = []  # (path, query) answered
        self.accept: set[str] = set()  # every Accept header seen
        self.cap_refusals = 0  # requests refused for paging past the offset cap
        self.faults: list[Fault] = []
        self._httpd: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakePagerDuty:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakePagerDuty:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def inject(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.path in path:
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.times -= 1
                    return fault
        return None

    def list_requests(self) -> list[dict[str, list[str]]]:
        with self.lock:
            return [query for path, query in self.requests if path == "/incidents"]

    # --- answers -----------------------------------------------------------------------------

    def answer(self, path: str, query: dict[str, list[str]], auth: str | None) -> tuple[int, Any]:
        if auth != f"Token token={self.token}":
            return 401, error("Authentication failed", 2006)
        if path == "/incidents":
            return self.list_incidents(query)
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "incidents":
            found = self.account.find(parts[1])
            if found is None or found.service in self.hidden_services:
                return 404, error("Not Found", 2100)
            return 200, {"incident": self.account.incident_json(self.url, found)}
        return 404, error("Not Found", 2100)

    def list_incidents(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        services = query.get("service_ids[]", [])
        refused = [s for s in services if s in self.hidden_services]
        if refused:
            return 403, error(
                "Access Denied", 2010, f"You do not have access to service {refused[0]}"
            )
        try:
            until = _time(query["until"][0]) if "until" in query else datetime.now(UTC)
            since = _time(query["since"][0]) if "since" in query else until - timedelta(days=30)
            limit = min(int(query.get("limit", ["25"])[0]), 100)
            offset = int(query.get("offset", ["0"])[0])
        except ValueError as exc:
            return 400, error("Invalid Input Provided", 2001, str(exc))
        if until - since > MAX_RANGE:
            return 400, error(
                "Invalid Input Provided", 2001, "The maximum range for since and until is 6 months"
            )
        if offset + limit > self.offset_cap:
            with self.lock:
                self.cap_refusals += 1
            return 400, error(
                "Invalid Input Provided",
                2001,
                f"Offset + limit must not exceed {self.offset_cap}; narrow the date range",
            )
        statuses = set(query.get("statuses[]", []))
        urgencies = set(query.get("urgencies[]", []))
        found = [
            i
            for i in self.account.incidents
            if (not services or i.service in services)
            and since <= i.created_at < until
            and (not statuses or i.status in statuses)
            and (not urgencies or i.urgency in urgencies)
        ]
        found.sort(key=lambda i: (i.created_at, i.number))
        page = found[offset : offset + limit]
        return 200, {
            "incidents": [self.account.incident_json(self.url, i) for i in page],
            "limit": limit,
            "offset": offset,
            "total": len(found) if self.honour_total and query.get("total") == ["true"] else None,
            "more": offset + limit < len(found),
        }

    def limit_headers(self) -> dict[str, str]:
        with self.lock:
            used = len(self.requests)
        return {
            "ratelimit-limit": str(RATE_LIMIT),
            "ratelimit-remaining": str(max(0, RATE_LIMIT - used)),
            "ratelimit-reset": "60",
        }


def _time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


def _handler(fake: FakePagerDuty) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read the fake's own records."""

        def do_GET(self) -> None:
            split = urlsplit(self.path)
            query = parse_qs(split.query)
            with fake.lock:
                fake.accept.add(self.headers.get("Accept") or "")
            fault = fake.take_fault(split.path)
            if fault is not None and fault.kind == "reset":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if fault is not None and fault.kind == "slow":
                time.sleep(fault.delay)
            if fault is not None and fault.kind == "5xx":
                self._send(500, error("Internal Server Error", 2000))
                return
            if fault is not None and fault.kind == "429":
                headers = {"ratelimit-limit": str(RATE_LIMIT), "ratelimit-remaining": "0"}
                if fault.reset is not None:
                    headers["ratelimit-reset"] = str(fault.reset)
                self._send(429, error("Rate Limit Exceeded", 2020), headers)
                return
            status, body = fake.answer(split.path, query, self.headers.get("Authorization"))
            with fake.lock:
                fake.requests.append((split.path, query))
            self._send(
                status,
                body,
                fake.limit_headers(),
                truncate=fault is not None and fault.kind == "truncate",
            )

        def _send(
            self,
            status: int,
            body: Any,
            headers: dict[str, str] | None = None,
            *,
            truncate: bool = False,
        ) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if truncate else data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a slow answer past its time-out)
            if truncate:
                self.close_connection = True

    return Handler
