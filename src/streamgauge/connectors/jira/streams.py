"""The issues stream: JQL search by `updated` with an overlap, each issue's status history made whole."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar

from streamgauge.connectors.base import FatalError, Page, Paginator, RawRecord, Stream, SyncContext
from streamgauge.connectors.jira.client import JiraClient
from streamgauge.connectors.jira.config import JiraConfig
from streamgauge.connectors.jira.normalize import META, parse_jira_time

log = logging.getLogger(__name__)

SEARCH_FIELDS = [
    "summary",
    "status",
    "issuetype",
    "created",
    "updated",
    "labels",
    "components",
    "priority",
    "project",
    "resolution",
    "resolutiondate",
    "parent",
]


def build_jql(config: JiraConfig, since: datetime | None, tz: tzinfo) -> str:
    """Bounded JQL, oldest update first so each page's cursor covers everything before it.

    JQL dates are minutes in the API user's time zone (Jira "Advanced searching - fields
    reference"): the bound is written in that zone and rounded down to the minute.
    """
    scope: list[str] = []
    if config.projects:
        scope.append("project in (" + ", ".join(f'"{p}"' for p in config.projects) + ")")
    if config.jql:
        scope.append(f"({config.jql})")
    if since is not None:
        scope.append(f'updated >= "{since.astimezone(tz):%Y-%m-%d %H:%M}"')
    return " AND ".join(scope) + " ORDER BY updated ASC, key ASC"


def status_histories(histories: list[Any]) -> list[dict[str, Any]]:
    """The histories that changed the status, with only their status items, oldest first."""
    kept = []
    for history in histories:
        if not isinstance(history, dict):
            continue
        items = [i for i in history.get("items") or [] if isinstance(i, dict) and _is_status(i)]
        if items:
            kept.append(
                {"id": str(history.get("id")), "created": history.get("created"), "items": items}
            )
    kept.sort(key=_history_order)
    return kept


def _history_order(history: Mapping[str, Any]) -> tuple[datetime, int]:
    # Data Center writes times in the server's offset, which changes with daylight saving.
    at = parse_jira_time(history["created"]) or datetime.min.replace(tzinfo=UTC)
    hid = str(history["id"])
    return at, int(hid) if hid.isdigit() else 0


def _is_status(item: Mapping[str, Any]) -> bool:
    return item.get("fieldId") == "status" or (
        item.get("field") == "status" and item.get("fieldtype") == "jira"
    )


class IssueStream(Stream):
    """Issues updated since the cursor, with complete status histories, one page at a time."""

    name: ClassVar[str] = "issues"

    def __init__(self, config: JiraConfig, client: JiraClient) -> None:
        self.config = config
        self.client = client

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        self.client.stats = ctx.stats
        previous = datetime.fromisoformat(cursor) if cursor else None
        since = previous - self.config.overlap if previous else None
        jql = build_jql(self.config, since, self.client.time_zone)
        categories = self._categories()
        high_water = previous
        for issues in self._search(jql):
            raws = []
            histories = self._complete_histories(issues)
            for issue in issues:
                native_id = str(issue.get("id") or "")
                if not native_id or not isinstance(issue.get("fields"), dict):
                    ctx.stats.skipped += 1
                    log.warning(
                        "Jira issue without id or fields skipped (key %r)", issue.get("key")
                    )
                    continue
                found, complete = histories[native_id]
                raws.append(
                    RawRecord(
                        stream=self.name,
                        native_id=native_id,
                        payload=_payload(issue, found, complete, categories),
                        fetched_at=ctx.started_at,
                        url=f"{self.config.url.rstrip('/')}/browse/{issue.get('key')}",
                    )
                )
                updated = parse_jira_time(issue["fields"].get("updated"))
                if updated is not None:
                    # Never past the sync's start: an update made during the sync is read next time.
                    updated = min(updated, ctx.started_at)
                    high_water = updated if high_water is None else max(high_water, updated)
            yield Page(raws, high_water.isoformat() if high_water else None)

    def _categories(self) -> dict[str, str]:
        """Status id and name -> status category key; historical entries carry only names and ids."""
        out: dict[str, str] = {}
        for status in self.client.statuses():
            key = (status.get("statusCategory") or {}).get("key")
            if isinstance(key, str):
                out[str(status.get("id"))] = key
                out[str(status.get("name", "")).casefold()] = key
        return out

    def _search(self, jql: str) -> Iterator[list[dict[str, Any]]]:
        pages = Paginator(what="Jira issue search")
        if self.client.cloud:
            token: str | None = None
            while True:
                answer = self.client.search_cloud(jql, token, SEARCH_FIELDS)
                yield [i for i in answer.get("issues") or [] if isinstance(i, dict)]
                token = answer.get("nextPageToken")
                if not token or answer.get("isLast"):
                    return
                pages.advance(token)
        else:
            start = 0
            while True:
                answer = self.client.search_datacenter(jql, start, SEARCH_FIELDS)
                issues = [i for i in answer.get("issues") or [] if isinstance(i, dict)]
                yield issues
                start += len(issues)
                if not issues or start >= int(answer.get("total") or 0):
                    return
                pages.advance(start)

    def _complete_histories(
        self, issues: list[dict[str, Any]]
    ) -> dict[str, tuple[list[dict[str, Any]], bool]]:
        """issue id -> (status histories, complete?). Inline when whole, else fetched."""
        out: dict[str, tuple[list[dict[str, Any]], bool]] = {}
        missing: dict[str, str] = {}  # id -> key
        for issue in issues:
            native_id = str(issue.get("id") or "")
            changelog = issue.get("changelog")
            if not isinstance(changelog, dict):
                changelog = {}
            inline = changelog.get("histories") or []
            total = changelog.get("total")
            out[native_id] = (status_histories(inline), True)
            if isinstance(total, int) and total > len(inline):
                missing[native_id] = str(issue.get("key"))
        if not missing:
            return out
        if self.client.cloud and self.config.changelog == "bulk":
            fetched = self._bulk(list(missing))
            for native_id, found in fetched.items():
                out[native_id] = (status_histories(found), True)
                missing.pop(native_id, None)
            # An issue the bulk answer left out may still be readable one by one.
        for native_id, key in missing.items():
            out[native_id] = self._one_by_one(key, out[native_id][0])
        return out

    def _bulk(self, ids: list[str]) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        for start in range(0, len(ids), 1000):  # the endpoint takes at most 1,000 issues
            pages = Paginator(what="Jira bulk changelog")
            token: str | None = None
            while True:
                answer = self.client.bulk_changelog(ids[start : start + 1000], token)
                for log_entry in answer.get("issueChangeLogs") or []:
                    issue_id = str(log_entry.get("issueId"))
                    found.setdefault(issue_id, []).extend(log_entry.get("changeHistories") or [])
                token = answer.get("nextPageToken")
                if not token:
                    break
                pages.advance(token)
        return found

    def _one_by_one(
        self, key: str, inline: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], bool]:
        try:
            if self.client.cloud:
                histories: list[Any] = []
                total = None
                while total is None or len(histories) < total:
                    answer = self.client.issue_changelog(key, len(histories))
                    values = answer.get("values") or []
                    total = int(answer.get("total") or 0)
                    histories.extend(values)
                    if not values:
                        break
                return status_histories(histories), len(histories) >= total
            issue = self.client.issue_with_changelog(key)
            changelog = issue.get("changelog") or {}
            inline_all = changelog.get("histories") or []
            return status_histories(inline_all), len(inline_all) >= int(changelog.get("total") or 0)
        except FatalError as exc:
            # Gone or hidden since the search: keep what the search gave, flagged incomplete.
            log.warning("history of Jira issue %s could not be completed: %s", key, exc)
            return inline, False


def _payload(
    issue: dict[str, Any],
    histories: list[dict[str, Any]],
    complete: bool,
    categories: Mapping[str, str],
) -> dict[str, Any]:
    """The issue as Jira sent it, its changelog replaced by the status histories, plus what we know."""
    payload = {k: v for k, v in issue.items() if k != "changelog"}
    payload["changelog"] = {
        "startAt": 0,
        "maxResults": len(histories),
        "total": len(histories),
        "histories": histories,
    }
    used: dict[str, str] = {}
    for history in histories:
        for item in history["items"]:
            for sid, name in (
                (item.get("from"), item.get("fromString")),
                (item.get("to"), item.get("toString")),
            ):
                category = categories.get(str(sid)) or categories.get(str(name or "").casefold())
                if name and category:
                    used[str(name)] = category
    payload[META] = {"historyComplete": complete, "statusCategories": dict(sorted(used.items()))}
    return payload
