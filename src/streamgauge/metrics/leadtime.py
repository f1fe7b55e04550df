"""Each change's lead time and its parts: the changes (and direct pushes) production received.

Definitions, as seen at ``now`` (:mod:`streamgauge.linking` says which deployment shipped a
change):

* **Change lead time** of a merged change: ``deployed_at - first_commit_at`` (``created_at`` when
  the first commit is unknown), where ``deployed_at`` is when the first successful production
  deployment that shipped it finished. It belongs to the team and app of that deployment (the
  change's own when the deployment has none). Lead times above ``metrics.max_lead_time`` and
  negative ones are left out and listed for data quality.
* Its **parts**: coding, pickup, review and deploy (:func:`lead_time_parts`).
* A **direct push** (:func:`direct_pushes`) counts as a change of one commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from streamgauge.linking import Links
from streamgauge.metrics.deployments import DeploymentOutcome
from streamgauge.metrics.dimensions import Group, LabelFolder
from streamgauge.metrics.windows import TimeIndex, seconds_between
from streamgauge.model import Change, ChangeState, Commit, Deployment

PARTS = ("coding", "pickup", "review", "deploy")


@dataclass(frozen=True, slots=True)
class LeadTime:
    """One change that reached production, with the deployment that shipped it.

    A direct push (a commit shipped to production that no change lists) has ``change`` None and
    its ``commit``; all of its lead time is the deploy part.
    """

    change: Change | None
    deployment: Deployment
    started_at: datetime  # first commit, or the change's creation when that is unknown
    deployed_at: datetime
    seconds: float
    group: Group
    parts: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # as in PARTS
    commit: Commit | None = None

    @property
    def reference(self) -> str:
        if self.change is not None:
            return f"{self.change.repo}#{self.change.number}"
        return self.commit.sha[:12] if self.commit is not None else ""


def lead_time_parts(
    change: Change, started_at: datetime, deployed_at: datetime
) -> tuple[tuple[float, float, float, float], bool]:
    """Coding, pickup, review and deploy seconds of a change, and whether a clamp was needed.

    The milestones first commit <= opened <= first review <= merged <= deployed are made
    monotone (each at least the one before), so the parts are never negative and always add up
    to the lead time; a change without a review has pickup up to its merge and no review part.
    """
    opened = max(started_at, change.created_at)
    merged = max(opened, change.merged_at or opened)
    reviewed = merged if change.first_review_at is None else change.first_review_at
    reviewed = min(max(opened, reviewed), merged)
    end = max(merged, deployed_at)
    clamped = (
        change.created_at < started_at
        or (change.merged_at is not None and change.merged_at < opened)
        or (change.first_review_at is not None and change.first_review_at != reviewed)
        or end != deployed_at
    )
    return (
        seconds_between(started_at, opened),
        seconds_between(opened, reviewed),
        seconds_between(reviewed, merged),
        seconds_between(merged, end),
    ), clamped


@dataclass(slots=True)
class DoraFacts:
    """The records behind every DORA number, plus what had to be left out and why."""

    lead_times: list[LeadTime] = field(default_factory=list)
    outcomes: list[DeploymentOutcome] = field(default_factory=list)
    never_deployed: list[Change] = field(default_factory=list)  # merged, not shipped by now
    clamped_parts: list[Change] = field(default_factory=list)  # milestones out of order
    negative_lead_times: list[Change | Commit] = field(default_factory=list)
    too_long_lead_times: list[Change | Commit] = field(default_factory=list)
    negative_recoveries: list[Deployment] = field(default_factory=list)
    # window indexes DORA and delivery metrics share, by the start of the longest window
    _indexes: dict[tuple[str, datetime | None], TimeIndex[Any]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def by_deploy(self, after: datetime | None) -> TimeIndex[LeadTime]:
        """The lead times by when they were deployed, after ``after`` (built once)."""
        index = self._indexes.get(("deploy", after))
        if index is None:
            index = TimeIndex(((lt.deployed_at, lt) for lt in self.lead_times), after)
            self._indexes["deploy", after] = index
        return index

    def by_end(self, after: datetime | None) -> TimeIndex[DeploymentOutcome]:
        """The ended outcomes by when they ended, after ``after`` (built once)."""
        index = self._indexes.get(("end", after))
        if index is None:
            index = TimeIndex(
                (o.ended_at, o)
                for o in self.outcomes
                if o.ended_at is not None and (after is None or o.ended_at > after)
            )
            self._indexes["end", after] = index
        return index


# change id -> (the change, its shipping deployment, what became of it): a change deployed by
# now keeps its lead time while both records are the very same objects.
LeadMemo = dict[str, tuple[Change, Deployment, str, "LeadTime | None", bool]]
COUNTED, NEGATIVE, TOO_LONG = "counted", "negative", "too_long"


def lead_times(
    changes: Iterable[Change],
    links: Links,
    *,
    now: datetime,
    max_lead_time: timedelta,
    fold: LabelFolder,
    facts: DoraFacts,
    memo: LeadMemo | None = None,
) -> None:
    """Fill ``facts.lead_times`` (and the lists of left-out changes)."""
    limit = max_lead_time.total_seconds()
    for change in changes:
        if change.state is not ChangeState.MERGED:
            continue
        deployment = links.shipping_deployment(change)
        deployed_at = deployment.finished_at if deployment is not None else None
        if deployment is None or deployed_at is None or deployed_at > now:
            facts.never_deployed.append(change)
            continue
        cached = memo.get(change.id) if memo is not None else None
        if cached is None or cached[0] is not change or cached[1] is not deployment:
            cached = _lead_time(change, deployment, deployed_at, limit, fold)
            if memo is not None:
                memo[change.id] = cached
        _, _, outcome, lead, clamped = cached
        if outcome == NEGATIVE:
            facts.negative_lead_times.append(change)
        elif outcome == TOO_LONG:
            facts.too_long_lead_times.append(change)
        elif lead is not None:
            if clamped:
                facts.clamped_parts.append(change)
            facts.lead_times.append(lead)


def _lead_time(
    change: Change, deployment: Deployment, deployed_at: datetime, limit: float, fold: LabelFolder
) -> tuple[Change, Deployment, str, LeadTime | None, bool]:
    started_at = change.first_commit_at or change.created_at
    seconds = seconds_between(started_at, deployed_at)
    if seconds < 0:
        return change, deployment, NEGATIVE, None, False
    if seconds > limit:
        return change, deployment, TOO_LONG, None, False
    group = fold.pair(deployment.team or change.team, deployment.app or change.app)
    parts, clamped = lead_time_parts(change, started_at, deployed_at)
    lead = LeadTime(change, deployment, started_at, deployed_at, seconds, group, parts)
    return change, deployment, COUNTED, lead, clamped


def direct_pushes(
    commits: Iterable[Commit],
    changes: Iterable[Change],
    links: Links,
    *,
    now: datetime,
    max_lead_time: timedelta,
    fold: LabelFolder,
    facts: DoraFacts,
) -> None:
    """Add the lead time of each commit shipped to production that no change lists.

    Such a commit was pushed straight to the deployed branch: it counts as a change of one
    commit, from ``authored_at`` to its deployment, all of it the deploy part. Merge commits
    (two parents or more) are how changes land, not changes of their own.
    """
    in_changes: set[str] = set()
    for change in changes:
        if change.merge_sha:
            in_changes.add(change.merge_sha)
        in_changes.update(change.commit_shas)
    # shipped shas no change lists: few, so most commits are passed over with one lookup
    candidates = links.shipped_by.keys() - in_changes
    if not candidates:
        return
    limit = max_lead_time.total_seconds()
    for commit in commits:
        if commit.sha not in candidates or len(commit.parents) > 1:
            continue
        deployment = links.shipping_deployment_of_commit(commit.sha)
        deployed_at = deployment.finished_at if deployment is not None else None
        if deployment is None or deployed_at is None or deployed_at > now:
            continue
        seconds = seconds_between(commit.authored_at, deployed_at)
        if seconds < 0:
            facts.negative_lead_times.append(commit)
            continue
        if seconds > limit:
            facts.too_long_lead_times.append(commit)
            continue
        group = fold.pair(deployment.team or commit.team, deployment.app or commit.app)
        facts.lead_times.append(
            LeadTime(
                None,
                deployment,
                commit.authored_at,
                deployed_at,
                seconds,
                group,
                (0.0, 0.0, 0.0, seconds),
                commit,
            )
        )
