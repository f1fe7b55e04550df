"""The data a fake Jira holds: statuses, issues and their change histories, hand-made or generated."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# (id, name, status category key). Category ids and names are Jira's own: 1 "No Category"
# (key "undefined"), 2 "To Do" (new), 3 "Done" (done), 4 "In Progress" (indeterminate).
STATUSES: tuple[tuple[str, str, str], ...] = (
    ("10000", "Backlog", "new"),
    ("10001", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10002", "Blocked", "indeterminate"),
    ("10003", "In Review", "indeterminate"),
    ("10004", "Ready for review", "indeterminate"),
    ("10005", "Waiting for QA", "indeterminate"),
    ("10006", "In QA", "indeterminate"),
    ("10007", "Done", "done"),
    ("10008", "Canceled", "done"),
    ("10009", "Parked", "undefined"),
)
CATEGORIES: dict[str, tuple[int, str, str]] = {
    "undefined": (1, "No Category", "medium-gray"),
    "new": (2, "To Do", "blue-gray"),
    "done": (3, "Done", "green"),
    "indeterminate": (4, "In Progress", "yellow"),
}
ISSUE_TYPES: dict[str, str] = {
    "Story": "10001",
    "Bug": "10002",
    "Task": "10003",
    "Incident": "10004",
    "Spike": "10005",
}
PRIORITIES: dict[str, str] = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}


def status_by_name(name: str) -> tuple[str, str, str]:
    for status in STATUSES:
        if status[1] == name:
            return status
    raise KeyError(name)


@dataclass
class FakeHistory:
    """One changelog entry: who changed what, when. ``items`` are Jira's changelog items."""

    id: int
    created: datetime
    items: list[dict[str, Any]]


@dataclass
class FakeIssue:
    id: int
    key: str
    project: str
    type: str
    summary: str
    status: str
    created: datetime
    updated: datetime
    labels: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    priority: str = "Medium"
    resolution: str | None = None
    resolutiondate: datetime | None = None
    parent: str | None = None
    histories: list[FakeHistory] = field(default_factory=list)
    malformed: bool = False  # answers with a `created` Jira would never send


class FakeProjectData:
    """Issues of one or more projects with ids, keys and history ids handed out in order."""

    def __init__(self) -> None:
        self.issues: list[FakeIssue] = []
        self._next_issue_id = 10001
        self._next_history_id = 50001
        self._next_number: dict[str, int] = {}

    def add_issue(
        self,
        project: str,
        *,
        type: str = "Story",
        created: datetime,
        path: Sequence[tuple[datetime, str]] = (),
        initial_status: str = "To Do",
        labels: list[str] | None = None,
        components: list[str] | None = None,
        priority: str = "Medium",
        resolution: str | None = None,
        summary: str | None = None,
        other_changes: int = 0,
        malformed: bool = False,
    ) -> FakeIssue:
        """An issue created in ``initial_status`` that then moves along ``path`` (at, status)."""
        number = self._next_number.get(project, 0) + 1
        self._next_number[project] = number
        key = f"{project}-{number}"
        issue = FakeIssue(
            id=self._next_issue_id,
            key=key,
            project=project,
            type=type,
            summary=summary or f"{type} {key}",
            status=initial_status,
            created=created,
            updated=created,
            labels=list(labels or []),
            components=list(components or []),
            priority=priority,
            malformed=malformed,
        )
        self._next_issue_id += 1
        for at, to_status in path:
            self.transition(issue, at, to_status)
        # Changes of other fields (assignee here) make the changelog longer than its status part,
        # which is what the bulk fetch's field filter saves.
        last = issue.updated
        for n in range(other_changes):
            at = created + (last - created) * (n + 1) / (other_changes + 1) + timedelta(seconds=1)
            self._add_history(issue, at, [_assignee_item(n)])
        issue.histories.sort(key=lambda h: (h.created, h.id))
        if resolution is not None:
            issue.resolution = resolution
            issue.resolutiondate = issue.updated
        self.issues.append(issue)
        return issue

    def transition(self, issue: FakeIssue, at: datetime, to_status: str) -> None:
        before, after = status_by_name(issue.status), status_by_name(to_status)
        item = {
            "field": "status",
            "fieldtype": "jira",
            "fieldId": "status",
            "from": before[0],
            "fromString": before[1],
            "to": after[0],
            "toString": after[1],
        }
        self._add_history(issue, at, [item])
        issue.status = to_status
        if after[2] == "done" and issue.resolution is None:
            issue.resolution = "Done"
            issue.resolutiondate = at

    def _add_history(self, issue: FakeIssue, at: datetime, items: list[dict[str, Any]]) -> None:
        issue.histories.append(FakeHistory(self._next_history_id, at, items))
        self._next_history_id += 1
        issue.updated = max(issue.updated, at)


def _assignee_item(n: int) -> dict[str, Any]:
    return {
        "field": "assignee",
        "fieldtype": "jira",
        "fieldId": "assignee",
        "from": None,
        "fromString": None,
        "to": f"user-{n % 7}",
        "toString": f"Person {n % 7}",
    }


_FORWARD = ["To Do", "In Progress", "In Review", "Waiting for QA", "In QA", "Done"]
_DETOURS = ["Blocked", "Ready for review", "In Progress", "In Review"]


def generate_project(
    *,
    seed: int,
    issues: int,
    projects: tuple[str, ...] = ("PAY",),
    long_share: float = 0.1,
    long_transitions: int = 55,
    short_transitions: tuple[int, int] = (3, 12),
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
) -> FakeProjectData:
    """A project whose histories average ~12 transitions, ``long_share`` of them over 100 entries.

    A long issue has ``long_transitions`` status changes and as many other changes, so its whole
    changelog (about 110 entries) is longer than the 100 the search inlines.
    """
    rng = random.Random(seed)
    data = FakeProjectData()
    step = timedelta(minutes=7)
    created = start
    for n in range(issues):
        project = projects[n % len(projects)]
        long = rng.random() < long_share
        count = long_transitions if long else rng.randint(*short_transitions)
        at = created
        status = "To Do"
        path: list[tuple[datetime, str]] = []
        for i in range(count):
            at += timedelta(hours=rng.randint(1, 30))
            if i == count - 1:
                nxt = rng.choice(["Done", "Done", "Canceled", "In Progress", "Blocked"])
            elif rng.random() < 0.3:
                nxt = rng.choice(_DETOURS)
            else:
                idx = _FORWARD.index(status) if status in _FORWARD else 1
                nxt = _FORWARD[min(idx + 1, len(_FORWARD) - 2)]
            if nxt == status:
                nxt = "Blocked" if status != "Blocked" else "In Progress"
            path.append((at, nxt))
            status = nxt
        kind = rng.choices(list(ISSUE_TYPES), weights=[5, 3, 2, 1, 1])[0]
        data.add_issue(
            project,
            type=kind,
            created=created,
            path=path,
            labels=rng.sample(["backend", "frontend", "tech-debt", "security", "customer"], k=2),
            components=[rng.choice(["api", "web", "billing"])],
            priority=rng.choice(list(PRIORITIES)),
            other_changes=long_transitions if long else rng.randint(0, 3),
        )
        created += step
    return data
