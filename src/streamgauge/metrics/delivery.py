"""DORA beyond the first five families: deployment days, lead-time parts, rework, recovery history.

Definitions, as seen at ``now`` (outcomes and lead times come from :mod:`.dora`):

* **Deployment days per week** of a window: the distinct UTC dates on which a successful
  production deployment finished in the window, divided by the window's length in weeks.
* **Lead-time parts** of a window: quantiles of each part (coding, pickup, review, deploy, see
  :func:`.dora.lead_time_parts`) over the changes deployed in the window.
* **Deployment rework rate** of a window: unplanned over all production deployments that ended
  in the window. A deployment is unplanned (:func:`rework_reasons`) when it is a hotfix or a
  rollback, names an incident it was made to fix (``incident_keys``), or first shipped a change
  that names an incident key among its ``work_item_keys``.
* **Failed deployment recovery time** histogram: every recovery known at ``now``, whole history.
* **Failed deployments** counter: each failed production deployment that ended by ``now``,
  once under each reason it failed for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

from streamgauge.linking import Links
from streamgauge.metrics.catalog import BY_NAME, QUANTILES
from streamgauge.metrics.deployments import (
    CAUSED_INCIDENT,
    FAILED_RESULT,
    HOTFIXED,
    ROLLED_BACK,
    DeploymentOutcome,
)
from streamgauge.metrics.dimensions import Group, all_groups, groups_of, roll_up, roll_up_lists
from streamgauge.metrics.dora import PARTS, DoraFacts
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.metrics.stats import format_quantile, histogram, quantiles
from streamgauge.metrics.windows import Window, earliest_start
from streamgauge.model import Change, Deployment, DeploymentKind, Incident, RunResult

DAYS_WINDOW = "streamgauge_deployment_days_window_per_week"
PARTS_WINDOW = "streamgauge_change_lead_time_part_window_seconds"
REWORK_WINDOW = "streamgauge_deployment_rework_rate_window_ratio"
RECOVERY_HISTOGRAM = "streamgauge_failed_deployment_recovery_time_seconds"
FAILED_COUNTER = "streamgauge_failed_deployments_total"
FAILURE_REASONS = (FAILED_RESULT, ROLLED_BACK, HOTFIXED, CAUSED_INCIDENT)

# Why a deployment counts as rework; explain lists these next to each deployment.
HOTFIX = "hotfix"
ROLLBACK = "rollback"
FIXES_INCIDENT = "fixes_incident"
SHIPS_INCIDENT_FIX = "ships_incident_fix"


def incident_fix_deployments(
    changes: Iterable[Change], incidents: Iterable[Incident], links: Links
) -> set[str]:
    """Ids of deployments that first shipped a change naming an incident key."""
    keys = {i.key for i in incidents}
    out: set[str] = set()
    for change in changes:
        if keys and keys.intersection(change.work_item_keys):
            deployment = links.shipping_deployment(change)
            if deployment is not None:
                out.add(deployment.id)
    return out


def rework_reasons(deployment: Deployment, incident_fixes: set[str]) -> tuple[str, ...]:
    reasons: list[str] = []
    if deployment.deployment_kind is DeploymentKind.HOTFIX:
        reasons.append(HOTFIX)
    if deployment.deployment_kind is DeploymentKind.ROLLBACK:
        reasons.append(ROLLBACK)
    if deployment.incident_keys:
        reasons.append(FIXES_INCIDENT)
    if deployment.id in incident_fixes:
        reasons.append(SHIPS_INCIDENT_FIX)
    return tuple(reasons)


def add_delivery_metrics(
    snapshot: Snapshot,
    facts: DoraFacts,
    incident_fixes: set[str],
    windows: Sequence[Window],
) -> None:
    ended = [o for o in facts.outcomes if o.ended_at is not None]
    _add_history(snapshot, facts, ended)
    deployment_groups = all_groups({o.group for o in facts.outcomes})
    # Each deployment's part is worked out once: (pair, unplanned, day of a success or None).
    after = earliest_start(windows)
    by_end = facts.by_end(after).map(
        lambda o: (
            o.group,
            bool(rework_reasons(o.deployment, incident_fixes)),
            o.ended_at.date()
            if o.ended_at is not None and o.deployment.result is RunResult.SUCCESS
            else None,
        )
    )
    by_deploy = facts.by_deploy(after)
    for window in windows:
        pair_days: dict[Group, set[date]] = defaultdict(set)
        counted: dict[Group, float] = defaultdict(float)
        rework: dict[Group, float] = defaultdict(float)
        for pair, unplanned, day in by_end.within(window):
            counted[pair] += 1
            rework[pair] += unplanned
            if day is not None:
                pair_days[pair].add(day)
        days: dict[Group, set[date]] = defaultdict(set)
        for pair, found in pair_days.items():
            for group in groups_of(pair):
                days[group] |= found
        counted, rework = roll_up(counted), roll_up(rework)
        weeks = window.days / 7.0
        for team, app in sorted(deployment_groups):
            group = (team, app)
            snapshot.add(
                DAYS_WINDOW, len(days[group]) / weeks, team=team, app=app, window=window.label
            )
            if counted[group]:
                snapshot.add(
                    REWORK_WINDOW,
                    rework[group] / counted[group],
                    team=team,
                    app=app,
                    window=window.label,
                )
        pair_parts: dict[Group, list[list[float]]] = defaultdict(lambda: [[], [], [], []])
        for lt in by_deploy.within(window):
            lists = pair_parts[lt.group]
            for i, seconds in enumerate(lt.parts):
                lists[i].append(seconds)
        for i, part in enumerate(PARTS):
            grouped = roll_up_lists({pair: lists[i] for pair, lists in pair_parts.items()})
            for (team, app), values in sorted(grouped.items()):
                for p, value in quantiles(values, QUANTILES).items():
                    snapshot.add(
                        PARTS_WINDOW,
                        value,
                        team=team,
                        app=app,
                        window=window.label,
                        part=part,
                        quantile=format_quantile(p),
                    )


def _add_history(snapshot: Snapshot, facts: DoraFacts, ended: list[DeploymentOutcome]) -> None:
    """Whole-history recovery histogram and failed-deployment counter at the (team, app) grain."""
    pairs = {o.group for o in facts.outcomes}
    recoveries: dict[Group, list[float]] = defaultdict(list)
    reasons: dict[tuple[Group, str], int] = defaultdict(int)
    for o in ended:
        if o.recovery_seconds is not None:
            recoveries[o.group].append(o.recovery_seconds)
        for reason in o.failure_reasons:
            reasons[o.group, reason] += 1
    buckets = BY_NAME[RECOVERY_HISTOGRAM].buckets
    for team, app in sorted(pairs):
        h = histogram(recoveries[(team, app)], buckets)
        snapshot.histograms.append(
            HistogramSample(
                RECOVERY_HISTOGRAM, labels(team=team, app=app), h.bounds, h.counts, h.count, h.sum
            )
        )
        for reason in FAILURE_REASONS:
            snapshot.add(
                FAILED_COUNTER, reasons[(team, app), reason], team=team, app=app, reason=reason
            )
