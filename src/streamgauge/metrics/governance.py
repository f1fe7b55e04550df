"""Governance evidence: production deployments that shipped unreviewed or unlinked work.

Definitions, as seen at ``now`` (which deployment shipped what comes from the lead times of
:mod:`.leadtime`: a change, or a direct push, belongs to the first successful production
deployment that shipped one of its commits):

* A deployment is **unreviewed** when it shipped a change merged without an approving review:
  ``approved_at`` empty, or later than ``merged_at``.
* It is **unlinked** when it shipped a change whose ``work_item_keys`` name no stored work item.
* It is a **direct push** when it shipped a commit that no change lists (:func:`.leadtime.
  direct_pushes`: pushed straight to the deployed branch, so never reviewed either).
* The **ratio** of a kind in a window: the successful production deployments that finished in
  the window and are of that kind, over every successful production deployment that finished in
  it (the deployments deployment frequency counts); absent for a group with none.
* The **counter** of a kind: such deployments over the whole history, per team and app.

A deployment may be of several kinds at once; each kind counts it once however many of its
changes are at fault.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from streamgauge.linking import Links, is_success
from streamgauge.metrics.dimensions import Group, all_groups, groups_of
from streamgauge.metrics.leadtime import DoraFacts, LeadTime
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.windows import Window
from streamgauge.model import Change

UNREVIEWED, UNLINKED, DIRECT_PUSH = "unreviewed", "unlinked", "direct_push"
KINDS = (UNREVIEWED, UNLINKED, DIRECT_PUSH)
RATIO = "streamgauge_governance_deployments_window_ratio"
COUNTER = "streamgauge_governance_deployments_total"


@dataclass(frozen=True, slots=True)
class ShippedEvidence:
    """One successful production deployment and what it shipped, with what is at fault."""

    deployment_id: str
    group: Group
    finished_at: datetime
    shipped: tuple[str, ...]  # change references (repo#number) and direct-push commits (sha)
    offenders: tuple[tuple[str, tuple[str, ...]], ...]  # (kind, the references at fault)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, refs in self.offenders if refs)


def unreviewed(change: Change) -> bool:
    """Merged without an approving review: no approval, or one given only after the merge."""
    if change.approved_at is None:
        return True
    return change.merged_at is not None and change.approved_at > change.merged_at


def deployment_evidence(facts: DoraFacts, links: Links, now: datetime) -> list[ShippedEvidence]:
    """Every successful production deployment finished by ``now``, in finish order, with what
    it shipped and which of its changes and commits are at fault."""
    shipped: dict[str, list[LeadTime]] = {}
    for lead in facts.lead_times:
        shipped.setdefault(lead.deployment.id, []).append(lead)
    out: list[ShippedEvidence] = []
    for outcome in facts.outcomes:
        deployment = outcome.deployment
        finished = deployment.finished_at
        if not is_success(deployment) or finished is None or finished > now:
            continue
        leads = sorted(shipped.get(deployment.id, ()), key=lambda lead: lead.reference)
        changes = [(lead.reference, lead.change) for lead in leads if lead.change is not None]
        found = {
            UNREVIEWED: tuple(ref for ref, c in changes if unreviewed(c)),
            UNLINKED: tuple(
                ref for ref, c in changes if not links.work_items_for(c.work_item_keys)
            ),
            DIRECT_PUSH: tuple(lead.reference for lead in leads if lead.change is None),
        }
        out.append(
            ShippedEvidence(
                deployment.id,
                outcome.group,
                finished,
                tuple(lead.reference for lead in leads),
                tuple((kind, found[kind]) for kind in KINDS),
            )
        )
    out.sort(key=lambda e: (e.finished_at, e.deployment_id))
    return out


def add_governance_metrics(
    snapshot: Snapshot, evidence: Sequence[ShippedEvidence], windows: Sequence[Window]
) -> None:
    """The counters per (team, app) and the window ratios per group; ``evidence`` in finish
    order, as :func:`deployment_evidence` gives it."""
    pairs = sorted({e.group for e in evidence})
    ever: dict[tuple[Group, str], int] = {}
    for e in evidence:
        for kind in e.kinds:
            ever[e.group, kind] = ever.get((e.group, kind), 0) + 1
    for team, app in pairs:
        for kind in KINDS:
            snapshot.add(COUNTER, ever.get(((team, app), kind), 0), team=team, app=app, kind=kind)
    groups = sorted(all_groups(pairs))
    ends = [e.finished_at for e in evidence]  # in finish order (deployment_evidence)
    for window in windows:
        total: dict[Group, int] = dict.fromkeys(groups, 0)
        by_kind: dict[tuple[Group, str], int] = {}
        # (start, end]: the deployments after the start, up to and including the end
        first, last = bisect_right(ends, window.start), bisect_right(ends, window.end)
        for e in evidence[first:last]:
            for group in groups_of(e.group):
                total[group] += 1
                for kind in e.kinds:
                    by_kind[group, kind] = by_kind.get((group, kind), 0) + 1
        for group in groups:
            if not total[group]:
                continue
            for kind in KINDS:
                snapshot.add(
                    RATIO,
                    by_kind.get((group, kind), 0) / total[group],
                    team=group[0],
                    app=group[1],
                    window=window.label,
                    kind=kind,
                )
