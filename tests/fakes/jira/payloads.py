"""JSON bodies shaped like Jira's REST answers (v2/v3 issue, status, field, changelog, errors)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from tests.fakes.jira.project import (
    CATEGORIES,
    ISSUE_TYPES,
    PRIORITIES,
    STATUSES,
    FakeHistory,
    FakeIssue,
    status_by_name,
)


def jira_time(value: datetime) -> str:
    """Jira's timestamp form: ``2024-01-05T10:00:00.000+0000``."""
    return (
        value.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{value.microsecond // 1000:03d}"
        + value.strftime("%z")
    )


def errors(*messages: str) -> dict[str, Any]:
    """Jira's error body: ``{"errorMessages": [...], "errors": {}}``."""
    return {"errorMessages": list(messages), "errors": {}}


def category_json(base: str, key: str) -> dict[str, Any]:
    cid, name, colour = CATEGORIES[key]
    return {
        "self": f"{base}/rest/api/2/statuscategory/{cid}",
        "id": cid,
        "key": key,
        "colorName": colour,
        "name": name,
    }


def status_json(base: str, name: str) -> dict[str, Any]:
    sid, sname, category = status_by_name(name)
    return {
        "self": f"{base}/rest/api/2/status/{sid}",
        "description": "",
        "iconUrl": f"{base}/images/icons/statuses/generic.png",
        "name": sname,
        "untranslatedName": sname,
        "id": sid,
        "statusCategory": category_json(base, category),
    }


def all_statuses(base: str) -> list[dict[str, Any]]:
    return [status_json(base, name) for _, name, _ in STATUSES]


FIELDS: tuple[tuple[str, str, list[str]], ...] = (
    ("summary", "Summary", ["summary"]),
    ("status", "Status", ["status"]),
    ("issuetype", "Issue Type", ["issuetype", "type"]),
    ("created", "Created", ["created", "createdDate"]),
    ("updated", "Updated", ["updated", "updatedDate"]),
    ("labels", "Labels", ["labels"]),
    ("components", "Component/s", ["component"]),
    ("priority", "Priority", ["priority"]),
    ("project", "Project", ["project"]),
    ("resolution", "Resolution", ["resolution"]),
    ("resolutiondate", "Resolved", ["resolutiondate", "resolved"]),
    ("parent", "Parent", ["parent"]),
    ("customfield_10020", "Sprint", ["Sprint", "cf[10020]"]),
)


def field_list() -> list[dict[str, Any]]:
    return [
        {
            "id": fid,
            "key": fid,
            "name": name,
            "custom": fid.startswith("customfield_"),
            "orderable": True,
            "navigable": True,
            "searchable": True,
            "clauseNames": clauses,
            "schema": {"type": "string", "system": fid},
        }
        for fid, name, clauses in FIELDS
    ]


def user_json(base: str, *, cloud: bool, n: int = 1) -> dict[str, Any]:
    if cloud:
        return {
            "self": f"{base}/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4e{n:03d}",
            "accountId": f"5b10ac8d82e05b22cc7d4e{n:03d}",
            "displayName": f"Person {n}",
            "active": True,
            "accountType": "atlassian",
        }
    return {
        "self": f"{base}/rest/api/2/user?username=person{n}",
        "name": f"person{n}",
        "key": f"JIRAUSER{10000 + n}",
        "displayName": f"Person {n}",
        "active": True,
    }


def history_json(
    base: str, history: FakeHistory, *, cloud: bool, only: Iterable[str] = ()
) -> dict[str, Any]:
    wanted = set(only)
    items = [i for i in history.items if not wanted or i["fieldId"] in wanted]
    return {
        "id": str(history.id),
        "author": user_json(base, cloud=cloud, n=history.id % 5),
        "created": jira_time(history.created),
        "items": items,
    }


def issue_fields(base: str, issue: FakeIssue) -> dict[str, Any]:
    project_id = 10000 + sum(ord(c) for c in issue.project)
    fields: dict[str, Any] = {
        "summary": issue.summary,
        "status": status_json(base, issue.status),
        "issuetype": {
            "self": f"{base}/rest/api/2/issuetype/{ISSUE_TYPES[issue.type]}",
            "id": ISSUE_TYPES[issue.type],
            "name": issue.type,
            "subtask": False,
        },
        "created": "yesterday-ish" if issue.malformed else jira_time(issue.created),
        "updated": jira_time(issue.updated),
        "labels": list(issue.labels),
        "components": [
            {"self": f"{base}/rest/api/2/component/{n}", "id": str(n), "name": name}
            for n, name in enumerate(issue.components, start=20000)
        ],
        "priority": {
            "self": f"{base}/rest/api/2/priority/{PRIORITIES[issue.priority]}",
            "id": PRIORITIES[issue.priority],
            "name": issue.priority,
        },
        "project": {
            "self": f"{base}/rest/api/2/project/{project_id}",
            "id": str(project_id),
            "key": issue.project,
            "name": f"Project {issue.project}",
        },
        "resolution": None
        if issue.resolution is None
        else {"self": f"{base}/rest/api/2/resolution/1", "id": "1", "name": issue.resolution},
        "resolutiondate": None if issue.resolutiondate is None else jira_time(issue.resolutiondate),
        "customfield_10020": None,
    }
    if issue.parent:
        fields["parent"] = {"key": issue.parent}
    return fields


def issue_json(
    base: str,
    issue: FakeIssue,
    *,
    fields: list[str] | None,
    changelog_limit: int | None,
    cloud: bool,
    api: str,
) -> dict[str, Any]:
    """An issue as search answers it: ``fields`` None means all, [] means none.

    ``changelog_limit`` None means no changelog expanded; otherwise at most that many histories
    are inlined (Cloud inlines the newest 100, newest first) and ``total`` tells the whole length.
    """
    body: dict[str, Any] = {
        "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
        "id": str(issue.id),
        "self": f"{base}/rest/api/{api}/issue/{issue.id}",
        "key": issue.key,
    }
    if fields is None or fields:
        every = issue_fields(base, issue)
        body["fields"] = every if fields is None else {k: every[k] for k in fields if k in every}
    if changelog_limit is not None:
        histories = sorted(issue.histories, key=lambda h: (h.created, h.id), reverse=cloud)
        shown = histories[:changelog_limit]
        body["changelog"] = {
            "startAt": 0,
            "maxResults": len(shown),
            "total": len(histories),
            "histories": [history_json(base, h, cloud=cloud) for h in shown],
        }
    return body
