"""A fake Jira on loopback that answers like Jira Cloud or Data Center, counts requests, injects faults."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any, Literal
from zoneinfo import ZoneInfo

from tests.fakes.jira import jql
from tests.fakes.jira.payloads import (
    errors,
    history_json,
    issue_json,
    jira_time,
    user_json,
)
from tests.fakes.jira.project import FakeIssue, FakeProjectData

Mode = Literal["cloud", "datacenter"]
FaultKind = Literal["429", "500", "503", "truncate", "slow", "reset"]  # reset: closed, no answer


@dataclass
class Fault:
    kind: FaultKind
    endpoint: str  # an endpoint name from FakeJira.counts, or "*"
    times: int
    after: int = 0
    retry_after: str = "1"
    delay: float = 0.2


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] | None = None


class FakeJira:
    """``with FakeJira(data, mode="cloud") as jira: jira.url`` - a server on 127.0.0.1, port 0."""

    def __init__(
        self,
        data: FakeProjectData,
        *,
        mode: Mode = "cloud",
        email: str = "bot@example.com",
        api_token: str = "cloud-api-token-123",  # noqa: S107 - a fake credential
        pat: str = "dc-personal-token-456",
        time_zone: str = "Europe/Berlin",
        inline_limit: int | None = None,
        max_results: int = 100,
        hidden_projects: tuple[str, ...] = (),
    ) -> None:
        self.data = data
        self.mode = mode
        self.email, self.api_token, self.pat = email, api_token, pat
        self.time_zone = time_zone
        # Cloud inlines at most 100 histories; Data Center inlines the whole changelog.
        self.inline_limit = (
            inline_limit if inline_limit is not None else (100 if mode == "cloud" else 10**9)
        )
        self.max_results = max_results
        self.hidden_projects = set(hidden_projects)
        # Histories the single-issue endpoint inlines; lower it to play a site that cuts them.
        self.issue_changelog_limit: int | None = None
        self.counts: Counter[str] = Counter()
        self.queries: list[str] = []  # every JQL searched, in order
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeJira:
        fake = self

        from tests.fakes.jira.handler import JiraHandler

        class Handler(JiraHandler):
            jira = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def cloud(self) -> bool:
        return self.mode == "cloud"

    @property
    def requests_total(self) -> int:
        return sum(self.counts.values())

    def inject(
        self,
        kind: FaultKind,
        *,
        endpoint: str = "*",
        times: int = 1,
        after: int = 0,
        retry_after: str = "1",
        delay: float = 0.2,
    ) -> None:
        """The next ``times`` requests to ``endpoint`` (after skipping ``after``) get ``kind``."""
        with self._lock:
            self.faults.append(Fault(kind, endpoint, times, after, retry_after, delay))

    def take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.endpoint in ("*", endpoint):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    return fault
        return None

    # --- answers -----------------------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        if self.cloud:
            raw = f"{self.email}:{self.api_token}".encode()
            return header == "Basic " + base64.b64encode(raw).decode()
        return header == f"Bearer {self.pat}"

    def server_info(self) -> dict[str, Any]:
        version = [1001, 0, 0] if self.cloud else [9, 12, 2]
        return {
            "baseUrl": self.url,
            "version": ".".join(map(str, version)) + ("-SNAPSHOT" if self.cloud else ""),
            "versionNumbers": version,
            "deploymentType": "Cloud" if self.cloud else "Server",
            "buildNumber": 100277 if self.cloud else 9120002,
            "buildDate": "2024-11-20T00:00:00.000+0000",
            "serverTime": jira_time(datetime.now(UTC)),
            "scmInfo": "8c8d2f9b3a",
            "serverTitle": "Jira",
        }

    def myself(self) -> dict[str, Any]:
        body = user_json(self.url, cloud=self.cloud)
        body.update({"emailAddress": self.email, "timeZone": self.time_zone, "locale": "en_US"})
        return body

    def find(self, key_or_id: str) -> FakeIssue | None:
        for issue in self.data.issues:
            if issue.key == key_or_id or str(issue.id) == key_or_id:
                return None if issue.project in self.hidden_projects else issue
        return None

    def select(self, query_jql: str) -> list[FakeIssue] | Answer:
        self.queries.append(query_jql)
        try:
            query = jql.parse(query_jql, tz=ZoneInfo(self.time_zone))
        except jql.JqlError as exc:
            return Answer(400, errors(str(exc)))
        known = {i.project for i in self.data.issues} - self.hidden_projects
        for project in query.projects or ():
            if project not in known:
                return Answer(
                    400, errors(f"The value '{project}' does not exist for the field 'project'.")
                )
        return jql.run(query, self.data.issues)

    def search_jql(self, params: dict[str, list[str]]) -> Answer:
        """Cloud ``/search/jql``: ``nextPageToken`` paging, only ``id`` unless fields are asked."""
        query = params.get("jql", [""])[0]
        found = self.select(query)
        if isinstance(found, Answer):
            return found
        offset = 0
        token = params.get("nextPageToken", [None])[0]
        if token:
            try:
                offset_s, digest = base64.urlsafe_b64decode(token.encode()).decode().split(":")
                offset = int(offset_s)
            except ValueError:
                return Answer(400, errors("The provided next page token is invalid or expired."))
            if digest != _digest(query):
                return Answer(400, errors("The provided next page token is invalid or expired."))
        size = min(int(params.get("maxResults", ["50"])[0]), self.max_results)
        page = found[offset : offset + size]
        body: dict[str, Any] = {
            "issues": self.issues_body(page, params, default_fields=[], api="3")
        }
        if offset + size < len(found):
            raw = f"{offset + size}:{_digest(query)}".encode()
            body["nextPageToken"] = base64.urlsafe_b64encode(raw).decode()
            body["isLast"] = False
        else:
            body["isLast"] = True
        return Answer(200, body)

    def search(self, params: dict[str, list[str]]) -> Answer:
        """Data Center ``/rest/api/2/search``: ``startAt`` paging with a ``total``."""
        if self.cloud:
            return Answer(
                410,
                errors(
                    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql "
                    "API. A full migration guideline is available at "
                    "https://developer.atlassian.com/changelog/#CHANGE-2046"
                ),
            )
        found = self.select(params.get("jql", [""])[0])
        if isinstance(found, Answer):
            return found
        start = int(params.get("startAt", ["0"])[0])
        size = min(int(params.get("maxResults", ["50"])[0]), self.max_results)
        page = found[start : start + size]
        return Answer(
            200,
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": size,
                "total": len(found),
                "issues": self.issues_body(page, params, default_fields=None, api="2"),
            },
        )

    def issues_body(
        self,
        page: list[FakeIssue],
        params: dict[str, list[str]],
        *,
        default_fields: list[str] | None,
        api: str,
        inline_limit: int | None = None,
    ) -> list[dict[str, Any]]:
        fields = _fields(params, default_fields)
        expand = {e for v in params.get("expand", []) for e in v.split(",")}
        limit = (inline_limit or self.inline_limit) if "changelog" in expand else None
        return [
            issue_json(self.url, i, fields=fields, changelog_limit=limit, cloud=self.cloud, api=api)
            for i in page
        ]

    def issue(self, key: str, params: dict[str, list[str]], api: str) -> Answer:
        found = self.find(key)
        if found is None:
            return Answer(
                404, errors("Issue does not exist or you do not have permission to see it.")
            )
        return Answer(
            200,
            self.issues_body(
                [found], params, default_fields=None, api=api, inline_limit=self._issue_limit()
            )[0],
        )

    def _issue_limit(self) -> int:
        # Cloud caps the changelog of one issue as it caps search; Data Center gives it whole.
        if self.issue_changelog_limit is not None:
            return self.issue_changelog_limit
        return self.inline_limit if self.cloud else 10**9

    def changelog(self, key: str, params: dict[str, list[str]], api: str) -> Answer:
        found = self.find(key)
        if found is None:
            return Answer(
                404, errors("Issue does not exist or you do not have permission to see it.")
            )
        start = int(params.get("startAt", ["0"])[0])
        size = min(int(params.get("maxResults", ["100"])[0]), 100)
        histories = sorted(found.histories, key=lambda h: (h.created, h.id))
        page = histories[start : start + size]
        return Answer(
            200,
            {
                "self": f"{self.url}/rest/api/{api}/issue/{key}/changelog?maxResults={size}&startAt={start}",
                "maxResults": size,
                "startAt": start,
                "total": len(histories),
                "isLast": start + size >= len(histories),
                "values": [history_json(self.url, h, cloud=self.cloud) for h in page],
            },
        )

    def bulkfetch(self, body: dict[str, Any]) -> Answer:
        """Cloud ``POST /changelog/bulkfetch``: histories of up to 1,000 issues, oldest first."""
        wanted = body.get("issueIdsOrKeys") or []
        if not wanted or len(wanted) > 1000:
            return Answer(
                400, errors("issueIdsOrKeys must hold between 1 and 1000 issue ids or keys.")
            )
        field_ids = list(body.get("fieldIds") or [])
        size = min(int(body.get("maxResults") or 1000), 10000)
        rows = []
        for key in wanted:
            issue = self.find(str(key))
            if issue is None:
                continue
            for history in issue.histories:
                if not field_ids or any(i["fieldId"] in field_ids for i in history.items):
                    rows.append((history.created, issue.id, history.id, history))
        rows.sort(key=lambda r: r[:3])
        offset = int(body.get("nextPageToken") or 0)
        page = rows[offset : offset + size]
        grouped: list[dict[str, Any]] = []
        for _, issue_id, _, history in page:
            if not grouped or grouped[-1]["issueId"] != str(issue_id):
                grouped.append({"issueId": str(issue_id), "changeHistories": []})
            grouped[-1]["changeHistories"].append(
                history_json(self.url, history, cloud=True, only=field_ids)
            )
        answer: dict[str, Any] = {"issueChangeLogs": grouped}
        if offset + size < len(rows):
            answer["nextPageToken"] = str(offset + size)
        return Answer(200, answer)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _fields(params: dict[str, list[str]], default: list[str] | None) -> list[str] | None:
    if "fields" not in params:
        return default
    names = [n.strip() for v in params["fields"] for n in v.split(",") if n.strip()]
    if any(n in ("*all", "*navigable") for n in names):
        return None
    return [n for n in names if n not in ("id", "key") and not n.startswith("-")]
