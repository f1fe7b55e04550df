"""The small part of JQL the fake Jira understands: project, updated bound, ORDER BY updated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

from tests.fakes.jira.project import FakeIssue


class JqlError(ValueError):
    """The query cannot be run; the message reads like Jira's own."""


_PROJECT_IN = re.compile(r"project\s+in\s*\(([^)]*)\)", re.IGNORECASE)
_PROJECT_EQ = re.compile(r"project\s*=\s*\"?([A-Za-z0-9_]+)\"?", re.IGNORECASE)
_UPDATED = re.compile(r"updated\s*>=\s*\"([^\"]+)\"", re.IGNORECASE)
_ORDER = re.compile(r"\s+ORDER\s+BY\s+(.+)$", re.IGNORECASE)


@dataclass
class Query:
    projects: list[str] | None
    updated_from: datetime | None
    order: str


def parse(jql: str, *, tz: tzinfo) -> Query:
    """Parse what the connector sends; JQL dates are minutes in the API user's time zone."""
    text = jql.strip()
    order = "key"
    match = _ORDER.search(text)
    if match:
        order = match.group(1).strip().lower()
        text = text[: match.start()]
    if not text:
        # Jira Cloud refuses unbounded queries on /search/jql.
        raise JqlError(
            "Unbounded JQL queries are not allowed here. Please add a search restriction."
        )
    projects: list[str] | None = None
    match_in = _PROJECT_IN.search(text)
    match_eq = _PROJECT_EQ.search(text)
    if match_in:
        projects = [p.strip().strip('"') for p in match_in.group(1).split(",") if p.strip()]
    elif match_eq:
        projects = [match_eq.group(1)]
    updated_from = None
    match_up = _UPDATED.search(text)
    if match_up:
        raw = match_up.group(1)
        try:
            naive = datetime.strptime(raw, "%Y-%m-%d %H:%M")
        except ValueError:
            raise JqlError(
                f"Date value '{raw}' for field 'updated' is invalid. Valid formats include: "
                "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
                "format e.g. '-5d', '4w 2d'."
            ) from None
        updated_from = naive.replace(tzinfo=tz)
    if projects is None and updated_from is None:
        raise JqlError(f"Error in the JQL Query: the fake cannot run '{jql}'.")
    return Query(projects, updated_from, order)


def run(query: Query, issues: list[FakeIssue]) -> list[FakeIssue]:
    found = [
        issue
        for issue in issues
        if (query.projects is None or issue.project in query.projects)
        and (query.updated_from is None or issue.updated >= query.updated_from)
    ]
    if query.order.startswith("updated"):
        found.sort(key=lambda i: (i.updated, i.id))
    else:
        found.sort(key=lambda i: i.id)
    return found
