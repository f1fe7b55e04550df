"""Data quality: the records that could not be linked or mapped, or whose times are impossible.

Each problem is a record and a reason, as seen at ``now``; the gauge
``streamgauge_data_quality_records{team,app,reason}`` counts them (a gauge: fixing the data
lowers it), ``report`` shows the totals and ``explain data_quality`` lists the records.

Reasons:

* ``deployment_without_commits``: a successful production deployment none of whose shas
  (``sha``, ``commit_shas``) is a known commit or a sha of a known change;
* ``change_never_deployed``: a merged change no successful production deployment shipped by
  ``now`` (recent merges waiting for their deployment count too);
* ``change_without_work_item``: a merged change naming no known work-item key (only counted
  when there are work items at all);
* ``incident_unattributed``: an incident blamed on no deployment (see :mod:`streamgauge.linking`);
* ``incident_non_production``: an incident whose ``deployment_id`` names a deployment that did
  not go to production, or a failed deployment attempt (unless
  ``metrics.failed_attempts_are_failures``): no DORA number counts it;
* ``incident_below_min_severity``: an incident whose severity is below
  ``metrics.incident_min_severity``: it counts for no failure, recovery or rework, and is not
  also counted as unattributed or non-production (those say why an incident that counts is
  missing from the numbers);
* ``negative_span``: a lead time, recovery time or incident whose end precedes its start, or a
  change whose milestones are out of order (its lead-time parts were clamped);
* ``lead_time_too_long``: a lead time above ``metrics.max_lead_time``, left out;
* ``incomplete_history``: a work item whose status history the tool could not give whole;
* ``unmapped_status``: a work item, not done or canceled, in a status with no value-stream stage
  while other statuses of its source have one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from operator import attrgetter

from streamgauge.linking import InRecordOrder, Links, is_production
from streamgauge.metrics.dimensions import Group, LabelFolder, all_groups
from streamgauge.metrics.dora import DoraFacts
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import (
    Change,
    ChangeState,
    Commit,
    Dataset,
    Deployment,
    Environment,
    FlowState,
    Incident,
    Record,
    RunResult,
    StatusChange,
    WorkItem,
)

DATA_QUALITY = "streamgauge_data_quality_records"
REASONS = (
    "deployment_without_commits",
    "change_never_deployed",
    "change_without_work_item",
    "incident_unattributed",
    "incident_non_production",
    "incident_below_min_severity",
    "negative_span",
    "lead_time_too_long",
    "incomplete_history",
    "unmapped_status",
)


@dataclass(frozen=True, slots=True)
class Problem:
    reason: str
    record: Record
    group: Group


# The problems kept per record, each list in the order of the records it is about.
_SLOTS = (
    "deployment_without_commits",
    "change_without_work_item",
    "incident_unattributed",
    "incident_non_production",
    "incident_below_min_severity",
    "incident_negative_span",
    "incomplete_history",
    "unmapped_status",
)
_DONE = (FlowState.DONE, FlowState.CANCELED)
_SHA = attrgetter("sha")
_MERGE_SHA = attrgetter("merge_sha")
_COMMIT_SHAS = attrgetter("commit_shas")


def problems(
    dataset: Dataset,
    links: Links,
    facts: DoraFacts,
    *,
    now: datetime,
    fold: LabelFolder,
    memo: QualityMemo | None = None,
    attempts_fail: bool = False,
) -> list[Problem]:
    """Every data-quality problem of ``dataset`` at ``now``, in a stable order.

    ``memo`` keeps the verdicts on each record between calls (see :class:`QualityMemo`); the
    result is the same. ``attempts_fail`` is ``metrics.failed_attempts_are_failures``.
    """
    if memo is not None:
        found = memo.refresh(dataset, links, now, fold, attempts_fail)

        def make(reason: str, record: Record) -> Problem:
            return memo.problem(reason, record, fold)

    else:
        found = _by_record(dataset, links, now, fold, attempts_fail)

        def make(reason: str, record: Record) -> Problem:
            return Problem(reason, record, fold.pair(record.team, record.app))

    out: list[Problem] = []

    def add(reason: str, records: Iterable[Record]) -> None:
        out.extend([make(reason, r) for r in records])

    out.extend(found["deployment_without_commits"])
    add("change_never_deployed", facts.never_deployed)
    out.extend(found["change_without_work_item"])
    out.extend(found["incident_unattributed"])
    out.extend(found["incident_non_production"])
    out.extend(found["incident_below_min_severity"])
    add("negative_span", facts.negative_lead_times)
    add("negative_span", facts.negative_recoveries)
    add("negative_span", facts.clamped_parts)
    out.extend(found["incident_negative_span"])
    add("lead_time_too_long", facts.too_long_lead_times)
    out.extend(found["incomplete_history"])
    out.extend(found["unmapped_status"])
    return out


def _by_record(
    dataset: Dataset, links: Links, now: datetime, fold: LabelFolder, attempts_fail: bool
) -> dict[str, list[Problem]]:
    """The problems found on the records themselves, by slot (see :data:`_SLOTS`)."""
    pair = fold.pair

    def made(reason: str, records: Iterable[Record]) -> list[Problem]:
        return [Problem(reason, r, pair(r.team, r.app)) for r in records]

    production, success = Environment.PRODUCTION, RunResult.SUCCESS
    shipped = [
        d
        for d in dataset.deployments
        if d.environment is production
        and d.result is success
        and d.finished_at is not None
        and d.finished_at <= now
    ]
    # the shas these list that no change or commit has: passes in C over the changes' merge
    # shas first, which most shipped shas are, then over the rest only while some are left
    unknown = {d.sha for d in shipped}
    unknown.update(chain.from_iterable(map(_COMMIT_SHAS, shipped)))
    unknown.difference_update(map(_MERGE_SHA, dataset.changes))
    if unknown:
        unknown.difference_update(chain.from_iterable(map(_COMMIT_SHAS, dataset.changes)))
    if unknown:
        unknown.difference_update(map(_SHA, dataset.commits))
    found = {
        "deployment_without_commits": made(
            "deployment_without_commits",
            [
                d
                for d in shipped
                if (not d.sha or d.sha in unknown) and unknown.issuperset(d.commit_shas)
            ],
        ),
        "change_without_work_item": [],
        "incident_unattributed": made(
            "incident_unattributed",
            [
                i
                for i in dataset.incidents
                if i.opened_at <= now and i.id not in links.blame and links.counts(i)
            ],
        ),
        "incident_non_production": made(
            "incident_non_production",
            [
                i
                for i in dataset.incidents
                if i.opened_at <= now
                and _off_production(i, links, attempts_fail)
                and links.counts(i)
            ],
        ),
        "incident_below_min_severity": made(
            "incident_below_min_severity",
            [i for i in dataset.incidents if i.opened_at <= now and not links.counts(i)],
        ),
        "incident_negative_span": made(
            "negative_span",
            [
                i
                for i in dataset.incidents
                if i.resolved_at is not None and i.resolved_at < i.opened_at and i.opened_at <= now
            ],
        ),
        "incomplete_history": made(
            "incomplete_history", [w for w in dataset.work_items if not w.history_complete]
        ),
    }
    keys = links.work_items.keys()
    if keys:
        found["change_without_work_item"] = made(
            "change_without_work_item",
            [
                c
                for c in dataset.changes
                if c.state is ChangeState.MERGED
                and c.merged_at is not None
                and c.merged_at <= now
                and keys.isdisjoint(c.work_item_keys)
            ],
        )
    open_unstaged = [
        w
        for w in dataset.work_items
        if w.stage is None and w.flow_state not in _DONE and w.created_at <= now
    ]
    staged: set[str] = set()
    wanted = {w.source for w in open_unstaged}
    for change in dataset.status_changes if wanted else ():
        if change.to_stage is not None and change.source in wanted:
            staged.add(change.source)
            wanted.discard(change.source)
            if not wanted:
                break
    found["unmapped_status"] = made(
        "unmapped_status", [w for w in open_unstaged if w.source in staged]
    )
    return found


class QualityMemo:
    """The data-quality verdicts on each record, kept from one computation to the next.

    The verdicts are kept with the joins of the records (:class:`~streamgauge.linking.Links`):
    after an extension of the same joins and at a ``now`` no earlier than last time, only the
    records it took in, those whose verdict it may move (a deployment whose sha a new commit or
    change makes known, a change naming the key of a new work item, an incident blamed anew)
    and those whose verdict waits for ``now`` to pass one of their times are judged again.
    Anything else, or a sha no longer known, a first work item, a source whose statuses gain or
    lose their stages, judges every record again.
    """

    __slots__ = (
        "_attempts_fail",
        "_commit_shas",
        "_found",
        "_generation",
        "_has_items",
        "_incidents",
        "_links",
        "_made",
        "_made_before",
        "_now",
        "_staged",
        "_unknown",
        "_waiting",
    )

    def __init__(self) -> None:
        self._links: Links | None = None
        self._generation = 0
        self._now: datetime | None = None
        self._attempts_fail = False
        self._commit_shas: dict[str, int] = {}  # sha -> how many commits have it
        self._staged: dict[str, int] = {}  # source -> how many of its status changes map a stage
        self._incidents: dict[str, Incident] = {}  # by id
        self._has_items = False
        self._found: dict[str, InRecordOrder[Problem]] = {}  # by slot
        self._waiting: dict[str, dict[str, Record]] = {}  # by slot: records judged again later
        # sha no commit or change has -> the successful deployments listing it
        self._unknown: dict[str, set[str]] = {}
        # the problems made from the facts' lists, by reason and record id: this computation's,
        # and the previous one's to take again while the record is the same
        self._made: dict[tuple[str, str], Problem] = {}
        self._made_before: dict[tuple[str, str], Problem] = {}

    def problem(self, reason: str, record: Record, fold: LabelFolder) -> Problem:
        """The problem ``reason`` of ``record``: the one made last time, while the same record."""
        key = (reason, record.id)
        found = self._made_before.get(key)
        if found is None or found.record is not record:
            found = Problem(reason, record, fold.pair(record.team, record.app))
        self._made[key] = found
        return found

    def refresh(
        self,
        dataset: Dataset,
        links: Links,
        now: datetime,
        fold: LabelFolder,
        attempts_fail: bool = False,
    ) -> dict[str, list[Problem]]:
        """The problems found on the records themselves at ``now``, by slot."""
        follows = links.follows(self._links, self._generation, self._now, now)
        follows = follows and attempts_fail == self._attempts_fail
        self._attempts_fail = attempts_fail
        self._made_before, self._made = self._made, {}
        if not follows or not self._update(links, now, fold):
            self._rebuild(dataset, links, now, fold)
        self._links, self._generation, self._now = links, links.generation, now
        return {slot: found.list() for slot, found in self._found.items()}

    def _rebuild(self, dataset: Dataset, links: Links, now: datetime, fold: LabelFolder) -> None:
        self._commit_shas = dict(Counter(map(_SHA, dataset.commits)))
        self._staged = dict(
            Counter([c.source for c in dataset.status_changes if c.to_stage is not None])
        )
        self._incidents = {i.id: i for i in dataset.incidents}
        self._has_items = bool(links.work_items)
        self._waiting = {slot: {} for slot in _SLOTS}
        self._unknown = {}
        # the problems at now as a computation from scratch finds them, then what waits for now
        found = _by_record(dataset, links, now, fold, self._attempts_fail)
        if links.changes_by_sha is None:  # joins never extended: no incremental update to come
            self._found = {
                slot: InRecordOrder(list(range(len(problems))), problems)
                for slot, problems in found.items()
            }
            return
        rank = links.rank
        self._found = {
            slot: InRecordOrder([rank[p.record.id] for p in problems], problems)
            for slot, problems in found.items()
        }
        for problem in found["deployment_without_commits"]:
            if isinstance(problem.record, Deployment):
                for sha in _deployed_shas(problem.record):
                    self._unknown.setdefault(sha, set()).add(problem.record.id)
        for deployment in [d for d in dataset.deployments if d.finished_at and d.finished_at > now]:
            self._judge_deployment(deployment, rank[deployment.id], links, now, fold)
        for change in [c for c in dataset.changes if c.merged_at and c.merged_at > now]:
            self._judge_change(change, rank[change.id], links, now, fold)
        for incident in [i for i in dataset.incidents if i.opened_at > now]:
            self._judge_incident(incident, rank[incident.id], links, now, fold)
        for item in [w for w in dataset.work_items if w.created_at > now]:
            self._judge_item(item, rank[item.id], links, now, fold)

    def _update(self, links: Links, now: datetime, fold: LabelFolder) -> bool:
        """Judge again what may have moved; False: judge every record instead."""
        deployments: dict[str, Deployment] = {}
        changes: dict[str, Change] = {}
        incidents: dict[str, Incident] = {}
        items: dict[str, WorkItem] = {}
        index = links.changes_by_sha or {}
        unknown = self._unknown
        changed = links.changed if links.generation != self._generation else []
        for old, record in changed:
            if isinstance(record, Commit):
                if isinstance(old, Commit):
                    if old.sha == record.sha:
                        continue
                    if not self._uncount(old.sha, links):
                        return False  # a sha no longer known
                self._commit_shas[record.sha] = self._commit_shas.get(record.sha, 0) + 1
                for deployment_id in unknown.pop(record.sha, ()):
                    deployments[deployment_id] = links.deployments[deployment_id]
            elif isinstance(record, Change):
                changes[record.id] = record
                for sha in _change_shas(record):
                    for deployment_id in unknown.pop(sha, ()):
                        deployments[deployment_id] = links.deployments[deployment_id]
                if isinstance(old, Change) and any(
                    sha not in index and sha not in self._commit_shas for sha in _change_shas(old)
                ):
                    return False  # a sha no longer known
            elif isinstance(record, Deployment):
                deployments[record.id] = record
            elif isinstance(record, Incident):
                incidents[record.id] = self._incidents[record.id] = record
            elif isinstance(record, WorkItem):
                items[record.id] = record
                if not self._has_items:
                    return False  # change_without_work_item counts from the first work item on
                if old is None:
                    changes.update((c.id, c) for c in links.changes_by_key.get(record.key, ()))
            elif isinstance(record, StatusChange):
                if isinstance(old, StatusChange) and old.to_stage is not None:
                    left = self._staged[old.source] - 1
                    self._staged[old.source] = left
                    if not left:
                        return False  # a source whose statuses no longer map a stage
                if record.to_stage is not None:
                    self._staged[record.source] = self._staged.get(record.source, 0) + 1
                    if self._staged[record.source] == 1:
                        return False  # a source whose statuses now map a stage
        for incident_id in links.reblamed:
            incidents[incident_id] = self._incidents[incident_id]
        for records in self._waiting.values():
            for record in list(records.values()):
                if isinstance(record, Deployment):
                    deployments.setdefault(record.id, record)
                elif isinstance(record, Change):
                    changes.setdefault(record.id, links.changes[record.id])
                elif isinstance(record, Incident):
                    incidents.setdefault(record.id, record)
                elif isinstance(record, WorkItem):
                    items.setdefault(record.id, record)
        rank = links.rank
        for deployment in deployments.values():
            self._judge_deployment(deployment, rank[deployment.id], links, now, fold)
        for change in changes.values():
            self._judge_change(change, rank[change.id], links, now, fold)
        for incident in incidents.values():
            self._judge_incident(incident, rank[incident.id], links, now, fold)
        for item in items.values():
            self._judge_item(item, rank[item.id], links, now, fold)
        return True

    def _uncount(self, sha: str, links: Links) -> bool:
        """One commit fewer has ``sha``; False when that leaves it unknown."""
        left = self._commit_shas.get(sha, 0) - 1
        if left > 0:
            self._commit_shas[sha] = left
            return True
        self._commit_shas.pop(sha, None)
        return sha in (links.changes_by_sha or {})

    def _judge(
        self,
        slot: str,
        reason: str,
        rank: int,
        record: Record,
        verdict: bool | None,
        fold: LabelFolder,
    ) -> None:
        """Record ``verdict`` on ``record``: a problem (True), none (False), not yet (None)."""
        found = self._found[slot]
        if verdict:
            kept = found.get(rank)
            if kept is None or kept.record is not record:
                found.put(rank, Problem(reason, record, fold.pair(record.team, record.app)))
        else:
            found.put(rank, None)
        if verdict is None:
            self._waiting[slot][record.id] = record
        else:
            self._waiting[slot].pop(record.id, None)

    def _judge_deployment(
        self, deployment: Deployment, rank: int, links: Links, now: datetime, fold: LabelFolder
    ) -> None:
        verdict: bool | None = False
        shas = _deployed_shas(deployment)
        index = links.changes_by_sha or {}
        finished = deployment.finished_at
        if (
            deployment.environment is Environment.PRODUCTION
            and deployment.result is RunResult.SUCCESS
            and finished is not None
            and not any(sha in self._commit_shas or sha in index for sha in shas)
        ):
            verdict = True if finished <= now else None
            for sha in shas:
                self._unknown.setdefault(sha, set()).add(deployment.id)
        slot = "deployment_without_commits"
        self._judge(slot, slot, rank, deployment, verdict, fold)

    def _judge_change(
        self, change: Change, rank: int, links: Links, now: datetime, fold: LabelFolder
    ) -> None:
        verdict: bool | None = False
        merged = change.merged_at
        if (
            self._has_items
            and change.state is ChangeState.MERGED
            and merged is not None
            and links.work_items.keys().isdisjoint(change.work_item_keys)
        ):
            verdict = True if merged <= now else None
        slot = "change_without_work_item"
        self._judge(slot, slot, rank, change, verdict, fold)

    def _judge_incident(
        self, incident: Incident, rank: int, links: Links, now: datetime, fold: LabelFolder
    ) -> None:
        opened = incident.opened_at <= now
        counts = links.counts(incident)
        verdict: bool | None = False
        if incident.id not in links.blame and counts:
            verdict = True if opened else None
        self._judge("incident_unattributed", "incident_unattributed", rank, incident, verdict, fold)
        verdict = False
        if _off_production(incident, links, self._attempts_fail) and counts:
            verdict = True if opened else None
        slot = "incident_non_production"
        self._judge(slot, slot, rank, incident, verdict, fold)
        verdict = False
        if not counts:
            verdict = True if opened else None
        slot = "incident_below_min_severity"
        self._judge(slot, slot, rank, incident, verdict, fold)
        verdict = False
        if incident.resolved_at is not None and incident.resolved_at < incident.opened_at:
            verdict = True if opened else None
        self._judge("incident_negative_span", "negative_span", rank, incident, verdict, fold)

    def _judge_item(
        self, item: WorkItem, rank: int, links: Links, now: datetime, fold: LabelFolder
    ) -> None:
        slot = "incomplete_history"
        self._judge(slot, slot, rank, item, not item.history_complete, fold)
        verdict: bool | None = False
        if item.stage is None and item.flow_state not in _DONE and self._staged.get(item.source):
            verdict = True if item.created_at <= now else None
        self._judge("unmapped_status", "unmapped_status", rank, item, verdict, fold)


def _change_shas(change: Change) -> tuple[str, ...]:
    return (change.merge_sha, *change.commit_shas) if change.merge_sha else change.commit_shas


def _deployed_shas(deployment: Deployment) -> tuple[str, ...]:
    return (deployment.sha, *deployment.commit_shas) if deployment.sha else deployment.commit_shas


def add_quality_metrics(snapshot: Snapshot, found: Iterable[Problem], pairs: set[Group]) -> None:
    """Counts by (team, app, reason) for every group of ``pairs`` and of the problems, zeros too."""
    counts: dict[tuple[Group, str], int] = defaultdict(int)
    groups = set(pairs)
    for problem in found:
        groups.add(problem.group)
        team, app = problem.group
        for group in ((team, app), (team, "all"), ("all", "all")):
            counts[group, problem.reason] += 1
    for team, app in sorted(all_groups(groups)):
        for reason in REASONS:
            snapshot.add(
                DATA_QUALITY, counts[(team, app), reason], team=team, app=app, reason=reason
            )


def _off_production(incident: Incident, links: Links, attempts_fail: bool) -> bool:
    """Whether ``incident`` is blamed on a deployment that did not go to production: another
    environment's, or a failed attempt that is no change failure (:mod:`.deployments`)."""
    blamed = links.blame.get(incident.id)
    if blamed is None:
        return False
    return not is_production(blamed) or (blamed.result is RunResult.FAILURE and not attempts_fail)
