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
* ``negative_span``: a lead time, recovery time or incident whose end precedes its start, or a
  change whose milestones are out of order (its lead-time parts were clamped);
* ``lead_time_too_long``: a lead time above ``metrics.max_lead_time``, left out;
* ``incomplete_history``: a work item whose status history the tool could not give whole;
* ``unmapped_status``: a work item, not done or canceled, in a status with no value-stream stage
  while other statuses of its source have one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from streamgauge.linking import Links, is_production
from streamgauge.metrics.dimensions import Group, LabelFolder, all_groups
from streamgauge.metrics.dora import DoraFacts
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import ChangeState, Dataset, FlowState, Record, RunResult

DATA_QUALITY = "streamgauge_data_quality_records"
REASONS = (
    "deployment_without_commits",
    "change_never_deployed",
    "change_without_work_item",
    "incident_unattributed",
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


def problems(
    dataset: Dataset, links: Links, facts: DoraFacts, *, now: datetime, fold: LabelFolder
) -> list[Problem]:
    """Every data-quality problem of ``dataset`` at ``now``, in a stable order."""
    out: list[Problem] = []

    def add(reason: str, records: Iterable[Record]) -> None:
        out.extend(Problem(reason, r, fold.pair(r.team, r.app)) for r in records)

    known: set[str] = {c.sha for c in dataset.commits}
    for change in dataset.changes:
        if change.merge_sha:
            known.add(change.merge_sha)
        known.update(change.commit_shas)
    add(
        "deployment_without_commits",
        (
            d
            for d in dataset.deployments
            if is_production(d)
            and d.result is RunResult.SUCCESS
            and d.finished_at is not None
            and d.finished_at <= now
            and known.isdisjoint(d.commit_shas)
            and (not d.sha or d.sha not in known)
        ),
    )
    add("change_never_deployed", facts.never_deployed)
    keys = links.work_items.keys()
    if keys:
        add(
            "change_without_work_item",
            (
                c
                for c in dataset.changes
                if c.state is ChangeState.MERGED
                and c.merged_at is not None
                and c.merged_at <= now
                and keys.isdisjoint(c.work_item_keys)
            ),
        )
    add(
        "incident_unattributed",
        (i for i in dataset.incidents if i.opened_at <= now and i.id not in links.blame),
    )
    add("negative_span", facts.negative_lead_times)
    add("negative_span", facts.negative_recoveries)
    add("negative_span", facts.clamped_parts)
    add(
        "negative_span",
        (
            i
            for i in dataset.incidents
            if i.resolved_at is not None and i.resolved_at < i.opened_at and i.opened_at <= now
        ),
    )
    add("lead_time_too_long", facts.too_long_lead_times)
    add("incomplete_history", (w for w in dataset.work_items if not w.history_complete))
    staged_sources = {c.source for c in dataset.status_changes if c.to_stage is not None}
    add(
        "unmapped_status",
        (
            w
            for w in dataset.work_items
            if w.stage is None
            and w.source in staged_sources
            and w.flow_state not in (FlowState.DONE, FlowState.CANCELED)
            and w.created_at <= now
        ),
    )
    return out


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
