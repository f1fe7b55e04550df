"""Simulated work with its whole future drawn, and how each record looks at a moment ``t``.

Times are whole seconds since the world's anchor. A plan is visible at ``t`` once its first
event is at or before ``t``; its record then shows only what had happened by ``t``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streamgauge.model import (
    Change,
    ChangeState,
    Commit,
    FlowState,
    FlowType,
    StatusChange,
    WorkItem,
    make_id,
)

DAY = 86_400

# Tracker status -> (flow state, value-stream stage). "In Review" counts as waiting: most of a
# review's elapsed time is a change queued for a reviewer, not someone working on it.
STATUSES: dict[str, tuple[FlowState, str | None]] = {
    "Backlog": (FlowState.NEW, "intake"),
    "Ready": (FlowState.WAITING, "planning"),
    "In Progress": (FlowState.ACTIVE, "development"),
    "In Review": (FlowState.WAITING, "review"),
    "Testing": (FlowState.ACTIVE, "testing"),
    "Done": (FlowState.DONE, None),
    "Canceled": (FlowState.CANCELED, None),
}
_STARTED = (FlowState.WAITING, FlowState.ACTIVE)
_FINISHED = (FlowState.DONE, FlowState.CANCELED)


class Frame:
    """Turns world offsets into timestamps and native ids into record ids of one source."""

    __slots__ = ("_base", "source")

    def __init__(self, source: str, anchor: datetime) -> None:
        self.source = source
        self._base = anchor.timestamp()

    def at(self, offset: int) -> datetime:
        return datetime.fromtimestamp(self._base + offset, UTC)

    def maybe(self, offset: int | None, t: int) -> datetime | None:
        """The timestamp of an event that may not have happened by ``t``."""
        return None if offset is None or offset > t else self.at(offset)

    def id(self, kind: str, native: str) -> str:
        return make_id(self.source, kind, native)


def last_event(events: list[int], t: int) -> int | None:
    """The last of a plan's sorted events at or before ``t``."""
    i = bisect_right(events, t)
    return events[i - 1] if i else None


@dataclass(slots=True, kw_only=True)
class ItemPlan:
    """A work item: its transitions, the first one its creation into Backlog."""

    key: str
    team: str
    app: str
    project: str
    type: FlowType
    original_type: str
    title: str
    events: list[int]  # when each transition happened, ascending
    statuses: list[str]  # the status each transition entered

    def build(self, f: Frame, t: int) -> WorkItem:
        n = bisect_right(self.events, t)
        status = self.statuses[n - 1]
        state, stage = STATUSES[status]
        started = next(
            (self.events[i] for i in range(n) if STATUSES[self.statuses[i]][0] in _STARTED), None
        )
        return WorkItem(
            id=f.id("work_item", self.key),
            source=f.source,
            team=self.team,
            app=self.app,
            key=self.key,
            title=self.title,
            type=self.type,
            original_type=self.original_type,
            status=status,
            flow_state=state,
            stage=stage,
            created_at=f.at(self.events[0]),
            started_at=None if started is None else f.at(started),
            done_at=f.at(self.events[n - 1]) if state in _FINISHED else None,
            updated_at=f.at(self.events[n - 1]),
            labels=(self.type.value,),
            project=self.project,
        )

    def status_change(self, f: Frame, i: int) -> StatusChange:
        before = self.statuses[i - 1] if i else None
        after = self.statuses[i]
        return StatusChange(
            id=f.id("status_change", f"{self.key}/{i}"),
            source=f.source,
            team=self.team,
            app=self.app,
            item_id=f.id("work_item", self.key),
            at=f.at(self.events[i]),
            from_status=before,
            to_status=after,
            from_state=None if before is None else STATUSES[before][0],
            to_state=STATUSES[after][0],
            from_stage=None if before is None else STATUSES[before][1],
            to_stage=STATUSES[after][1],
        )


@dataclass(slots=True, kw_only=True)
class ChangePlan:
    """A pull request; ``commits`` are (authored, sha), the first one before it was opened."""

    repo: str
    number: int
    team: str
    app: str
    title: str
    author: str
    keys: tuple[str, ...]
    head_branch: str
    created: int
    commits: list[tuple[int, str]]
    first_review: int
    bounces: list[int]  # reviews that sent the change back for more work
    approved: int
    merged: int
    merge_sha: str
    events: list[int] = field(init=False)

    def __post_init__(self) -> None:
        later = [at for at, _ in self.commits if at > self.created]
        moments = {self.created, self.first_review, self.approved, self.merged}
        self.events = sorted(moments.union(self.bounces, later))

    def build(self, f: Frame, t: int) -> Change:
        merged = self.merged <= t
        updated = last_event(self.events, t)
        return Change(
            id=f.id("change", f"{self.repo}#{self.number}"),
            source=f.source,
            team=self.team,
            app=self.app,
            repo=self.repo,
            number=self.number,
            title=self.title,
            author=self.author,
            state=ChangeState.MERGED if merged else ChangeState.OPEN,
            created_at=f.at(self.created),
            first_commit_at=f.at(self.commits[0][0]),
            first_review_at=f.maybe(self.first_review, t),
            approved_at=f.maybe(self.approved, t),
            merged_at=f.maybe(self.merged, t),
            merge_sha=self.merge_sha if merged else None,
            base_branch="main",
            head_branch=self.head_branch,
            work_item_keys=self.keys,
            review_rounds=sum(1 for b in self.bounces if b <= t),
            commit_shas=tuple(sha for at, sha in self.commits if at <= t),
            updated_at=None if updated is None else f.at(updated),
        )


@dataclass(slots=True, kw_only=True)
class CommitPlan:
    """A commit as the default branch shows it: visible from the merge that brought it."""

    repo: str
    sha: str
    team: str
    app: str
    authored: int
    visible: int
    message: str
    keys: tuple[str, ...]
    parents: tuple[str, ...]

    def build(self, f: Frame, t: int) -> Commit:
        return Commit(
            id=f.id("commit", f"{self.repo}@{self.sha}"),
            source=f.source,
            team=self.team,
            app=self.app,
            repo=self.repo,
            sha=self.sha,
            authored_at=f.at(self.authored),
            committed_at=f.at(self.authored),
            branch="main",
            message=self.message,
            work_item_keys=self.keys,
            parents=self.parents,
        )
