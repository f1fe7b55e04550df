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

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from streamgauge.linking import InRecordOrder, Links
from streamgauge.metrics.deployments import DeploymentOutcome
from streamgauge.metrics.dimensions import Group, LabelFolder
from streamgauge.model import Change, ChangeState, Commit, Deployment, slot_setters

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


# A frozen dataclass's __init__ sets each field through object.__setattr__; setting the slots
# through their descriptors makes the same lead time in half the time (as the store's codec
# makes records), and a computation makes one for every change deployed.
_LEAD_SLOTS = slot_setters(LeadTime)


def _new_lead_time(
    change: Change | None,
    deployment: Deployment,
    started_at: datetime,
    deployed_at: datetime,
    seconds: float,
    group: Group,
    parts: tuple[float, float, float, float],
    commit: Commit | None = None,
) -> LeadTime:
    """``LeadTime(change, deployment, ...)``: the same lead time."""
    lead = object.__new__(LeadTime)
    put = _LEAD_SLOTS
    put[0](lead, change)
    put[1](lead, deployment)
    put[2](lead, started_at)
    put[3](lead, deployed_at)
    put[4](lead, seconds)
    put[5](lead, group)
    put[6](lead, parts)
    put[7](lead, commit)
    return lead


def milestones(change: Change, started_at: datetime) -> tuple[datetime, datetime, datetime]:
    """When ``change`` was opened, first reviewed and merged, made monotone from ``started_at``
    (its first commit): each at least the one before, the review at most the merge, and a
    change without a review reviewed at its merge."""
    # comparisons rather than min and max: this runs for every change deployed
    created = change.created_at
    opened = created if created > started_at else started_at
    merged_at = change.merged_at
    merged = merged_at if merged_at is not None and merged_at > opened else opened
    review = change.first_review_at
    if review is None:
        return opened, merged, merged
    reviewed = review if review > opened else opened
    return opened, (merged if merged < reviewed else reviewed), merged


def lead_time_parts(
    change: Change, started_at: datetime, deployed_at: datetime
) -> tuple[tuple[float, float, float, float], bool]:
    """Coding, pickup, review and deploy seconds of a change, and whether a clamp was needed.

    The milestones first commit <= opened <= first review <= merged <= deployed are made
    monotone (each at least the one before) and none later than the deployment, so the parts
    are never negative and always add up to the lead time; a change without a review has pickup
    up to its merge and no review part. A change merged after the deployment that shipped its
    commit (a branch deployment) has what came after the deployment cut off and is flagged.
    """
    opened, reviewed, merged = milestones(change, started_at)
    created, merged_at, review = change.created_at, change.merged_at, change.first_review_at
    clamped = (
        created < started_at
        or (merged_at is not None and merged_at < opened)
        or (review is not None and review != reviewed)
        or merged > deployed_at
    )
    if merged > deployed_at:
        merged = deployed_at
        reviewed = reviewed if reviewed < deployed_at else deployed_at
        opened = opened if opened < deployed_at else deployed_at
    return (
        (opened - started_at).total_seconds(),
        (reviewed - opened).total_seconds(),
        (merged - reviewed).total_seconds(),
        (deployed_at - merged).total_seconds(),
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


# What became of a merged change as seen at now (or of a direct push).
COUNTED, NEGATIVE, TOO_LONG, NOT_DEPLOYED = "counted", "negative", "too_long", "not_deployed"
# (the change, its shipping deployment, what became of it, its lead time when counted, whether
# its parts were clamped)
Verdict = tuple[Change, Deployment | None, str, LeadTime | None, bool]


class LeadMemo:
    """Each merged change's lead time, kept from one computation to the next.

    The verdicts are kept with the joins they were worked out from: after an extension of the
    same joins (:meth:`.Links.extend`) and at a ``now`` no earlier than last time, only the
    changes the extension names (replaced, or shipped otherwise) and those whose deployment
    finishes after the last ``now`` are looked at again. Anything else (joins built anew, an
    earlier ``now``) looks at every change, keeping the lead time of each whose change and
    deployment are the very same objects. A lead time worked out again equal to the kept one
    is the kept object. A memo serves one set of settings.
    """

    __slots__ = (
        "_clamped",
        "_generation",
        "_leads",
        "_links",
        "_negative",
        "_never",
        "_now",
        "_too_long",
        "_verdicts",
        "_waiting",
    )

    def __init__(self) -> None:
        self._links: Links | None = None
        self._generation = 0
        self._now: datetime | None = None
        self._verdicts: dict[str, Verdict] = {}  # by change id, merged changes only
        self._waiting: set[str] = set()  # ids of changes shipped by a deployment after now
        self._leads: InRecordOrder[LeadTime] = InRecordOrder()
        self._never: InRecordOrder[Change] = InRecordOrder()
        self._negative: InRecordOrder[Change] = InRecordOrder()
        self._too_long: InRecordOrder[Change] = InRecordOrder()
        self._clamped: InRecordOrder[Change] = InRecordOrder()

    def _follows(self, links: Links, now: datetime) -> bool:
        """Whether only what the latest extension of the joins names can have moved."""
        return links.follows(self._links, self._generation, self._now, now)

    def refresh(
        self,
        changes: Iterable[Change],
        links: Links,
        now: datetime,
        limit: float,
        fold: LabelFolder,
    ) -> None:
        """Bring the verdicts to ``now`` over ``changes`` (every change) and their joins."""
        if self._follows(links, now):
            ids = set(self._waiting)
            if links.generation != self._generation:
                ids.update(links.moved)  # every change taken in is there too
            for change_id in ids:
                self._update(links.changes[change_id], links, now, limit, fold)
        else:
            self._rebuild(changes, links, now, limit, fold)
        self._links, self._generation, self._now = links, links.generation, now

    def _rebuild(
        self,
        changes: Iterable[Change],
        links: Links,
        now: datetime,
        limit: float,
        fold: LabelFolder,
    ) -> None:
        verdicts: dict[str, Verdict] = {}
        ranked: dict[str, tuple[list[int], list[Any]]] = {
            kind: ([], []) for kind in (COUNTED, NOT_DEPLOYED, NEGATIVE, TOO_LONG, "clamped")
        }
        ranks = links.rank if links.changes_by_sha is not None else None
        self._waiting = set()
        for position, change in enumerate(changes):
            verdict = self._verdict(change, links, now, limit, fold)
            if verdict is None:
                continue
            verdicts[change.id] = verdict
            rank = ranks[change.id] if ranks is not None else position
            kind = verdict[2]
            found = ranked[kind]
            found[0].append(rank)
            found[1].append(verdict[3] if kind == COUNTED else change)
            if verdict[4]:
                ranked["clamped"][0].append(rank)
                ranked["clamped"][1].append(change)
        self._verdicts = verdicts
        self._leads = InRecordOrder(*ranked[COUNTED])
        self._never = InRecordOrder(*ranked[NOT_DEPLOYED])
        self._negative = InRecordOrder(*ranked[NEGATIVE])
        self._too_long = InRecordOrder(*ranked[TOO_LONG])
        self._clamped = InRecordOrder(*ranked["clamped"])

    def _update(
        self, change: Change, links: Links, now: datetime, limit: float, fold: LabelFolder
    ) -> None:
        verdict = self._verdict(change, links, now, limit, fold)
        kind = verdict[2] if verdict is not None else None
        if verdict is None:
            self._verdicts.pop(change.id, None)
        else:
            self._verdicts[change.id] = verdict
        rank = links.rank[change.id]
        self._leads.put(rank, verdict[3] if verdict is not None and kind == COUNTED else None)
        self._never.put(rank, change if kind == NOT_DEPLOYED else None)
        self._negative.put(rank, change if kind == NEGATIVE else None)
        self._too_long.put(rank, change if kind == TOO_LONG else None)
        self._clamped.put(rank, change if verdict is not None and verdict[4] else None)

    def _verdict(
        self, change: Change, links: Links, now: datetime, limit: float, fold: LabelFolder
    ) -> Verdict | None:
        self._waiting.discard(change.id)
        if change.state is not ChangeState.MERGED:
            return None
        deployment = links.shipping_deployment(change)
        deployed_at = deployment.finished_at if deployment is not None else None
        if deployed_at is None or deployed_at > now:
            if deployed_at is not None:
                self._waiting.add(change.id)
            return change, deployment, NOT_DEPLOYED, None, False
        assert deployment is not None
        kept = self._verdicts.get(change.id)
        if (
            kept is not None
            and kept[0] is change
            and kept[1] is deployment
            and kept[2] != NOT_DEPLOYED
        ):
            return kept
        verdict = _lead_time(change, deployment, deployed_at, limit, fold)
        if kept is not None and verdict[3] is not None and verdict[3] == kept[3]:
            verdict = (change, deployment, verdict[2], kept[3], verdict[4])
        return verdict

    def fill(self, facts: DoraFacts) -> None:
        """Put the verdicts into ``facts``, in the order of the changes."""
        facts.lead_times.extend(self._leads)
        facts.never_deployed.extend(self._never)
        facts.negative_lead_times.extend(self._negative)
        facts.too_long_lead_times.extend(self._too_long)
        facts.clamped_parts.extend(self._clamped)


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
    if memo is not None:
        memo.refresh(changes, links, now, limit, fold)
        memo.fill(facts)
        return
    # _lead_time's work inline, as this runs for every change deployed
    ship, pair, merged = links.shipping_deployment, fold.pair, ChangeState.MERGED
    for change in changes:
        if change.state is not merged:
            continue
        deployment = ship(change)
        deployed_at = deployment.finished_at if deployment is not None else None
        if deployment is None or deployed_at is None or deployed_at > now:
            facts.never_deployed.append(change)
            continue
        started_at = change.first_commit_at or change.created_at
        seconds = (deployed_at - started_at).total_seconds()
        if seconds < 0:
            facts.negative_lead_times.append(change)
        elif seconds > limit:
            facts.too_long_lead_times.append(change)
        else:
            group = pair(deployment.team or change.team, deployment.app or change.app)
            parts, clamped = lead_time_parts(change, started_at, deployed_at)
            if clamped:
                facts.clamped_parts.append(change)
            facts.lead_times.append(
                _new_lead_time(change, deployment, started_at, deployed_at, seconds, group, parts)
            )


def _lead_time(
    change: Change, deployment: Deployment, deployed_at: datetime, limit: float, fold: LabelFolder
) -> Verdict:
    started_at = change.first_commit_at or change.created_at
    seconds = (deployed_at - started_at).total_seconds()
    if seconds < 0:
        return change, deployment, NEGATIVE, None, False
    if seconds > limit:
        return change, deployment, TOO_LONG, None, False
    group = fold.pair(deployment.team or change.team, deployment.app or change.app)
    parts, clamped = lead_time_parts(change, started_at, deployed_at)
    lead = _new_lead_time(change, deployment, started_at, deployed_at, seconds, group, parts)
    return change, deployment, COUNTED, lead, clamped


def direct_pushes(
    commits: Iterable[Commit],
    changes: Collection[Change],
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
    (two parents or more) are how changes land, not changes of their own. A lead time worked
    out before for the very same commit and deployment is that object again.
    """
    pushed = links.unlisted_commits(commits, changes)
    if not pushed:
        return
    limit = max_lead_time.total_seconds()
    memo = links.push_memo
    for commit in pushed:
        if len(commit.parents) > 1:
            continue
        deployment = links.shipping_deployment_of_commit(commit.sha)
        deployed_at = deployment.finished_at if deployment is not None else None
        if deployment is None or deployed_at is None or deployed_at > now:
            continue
        kept = memo.get(commit.id)
        if kept is None or kept[0] is not commit or kept[1] is not deployment:
            outcome, lead = _push(commit, deployment, deployed_at, limit, fold)
            if kept is not None and lead is not None and lead == kept[3]:
                lead = kept[3]
            kept = (commit, deployment, outcome, lead)
            memo[commit.id] = kept
        outcome, lead = kept[2], kept[3]
        if lead is not None:
            facts.lead_times.append(lead)
        elif outcome == NEGATIVE:
            facts.negative_lead_times.append(commit)
        else:
            facts.too_long_lead_times.append(commit)


def _push(
    commit: Commit, deployment: Deployment, deployed_at: datetime, limit: float, fold: LabelFolder
) -> tuple[str, LeadTime | None]:
    seconds = (deployed_at - commit.authored_at).total_seconds()
    if seconds < 0:
        return NEGATIVE, None
    if seconds > limit:
        return TOO_LONG, None
    group = fold.pair(deployment.team or commit.team, deployment.app or commit.app)
    lead = _new_lead_time(
        None,
        deployment,
        commit.authored_at,
        deployed_at,
        seconds,
        group,
        (0.0, 0.0, 0.0, seconds),
        commit,
    )
    return COUNTED, lead
