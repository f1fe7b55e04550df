"""DORA beyond the first five families: deployment days, lead-time parts, rework, recovery history.

Definitions, as seen at ``now`` (outcomes and lead times come from :mod:`.dora`):

* **Deployment days per week** of a window: the distinct UTC dates on which a successful
  production deployment finished in the window, divided by the window's length in weeks.
* **Lead-time parts** of a window: quantiles of each part (coding, pickup, review, deploy, see
  :func:`.dora.lead_time_parts`) over the changes deployed in the window.
* **Deployment rework rate** of a window: unplanned over all production deployments that ended
  in the window. A deployment is unplanned (:func:`rework_reasons`) when it is a hotfix or a
  rollback, names an incident it was made to fix (``incident_keys``), or first shipped a change
  that names an incident key among its ``work_item_keys``; in both cases only an incident that
  counts (``metrics.incident_min_severity``, :meth:`.Links.counts_key`).
* **Failed deployment recovery time** histogram: every recovery known at ``now``, whole history.
* **Failed deployments** counter: each failed production deployment that ended by ``now``,
  once under each reason it failed for.
* **Failed deployment attempts** counter: each production deployment whose result is
  ``failure`` that ended by ``now``, whole history; its **failure rate** of a window: those over
  every production deployment that ended in the window (see :mod:`.deployments`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from streamgauge.linking import Links, is_production
from streamgauge.metrics.catalog import BY_NAME
from streamgauge.metrics.days import histogram_of, merged
from streamgauge.metrics.deployments import (
    CAUSED_INCIDENT,
    FAILED_RESULT,
    HOTFIXED,
    ROLLED_BACK,
)
from streamgauge.metrics.dimensions import Group, all_groups
from streamgauge.metrics.dora import PARTS, DoraFacts, add_quantiles
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.metrics.stats import bucket_edges
from streamgauge.metrics.windows import Window
from streamgauge.model import Change, Deployment, DeploymentKind, Incident

if TYPE_CHECKING:
    from streamgauge.metrics.tallies import Tallies

DAYS_WINDOW = "streamgauge_deployment_day_window_ratio"
PARTS_WINDOW = "streamgauge_change_lead_time_part_window_seconds"
REWORK_WINDOW = "streamgauge_deployment_rework_rate_window_ratio"
RECOVERY_HISTOGRAM = "streamgauge_failed_deployment_recovery_time_seconds"
RECOVERY_BUCKETS = bucket_edges(BY_NAME[RECOVERY_HISTOGRAM].buckets)
FAILED_COUNTER = "streamgauge_failed_deployments_total"
ATTEMPTS_COUNTER = "streamgauge_failed_deployment_attempts_total"
ATTEMPTS_WINDOW = "streamgauge_deployment_attempt_failure_rate_window_ratio"
FAILURE_REASONS = (FAILED_RESULT, ROLLED_BACK, HOTFIXED, CAUSED_INCIDENT)

# Why a deployment counts as rework; explain lists these next to each deployment.
HOTFIX = "hotfix"
ROLLBACK = "rollback"
FIXES_INCIDENT = "fixes_incident"
SHIPS_INCIDENT_FIX = "ships_incident_fix"


# deployment id -> why it is an incident fix: fixes_incident, ships_incident_fix (in that order)
IncidentFixes = Mapping[str, tuple[str, ...]]


def incident_fix_deployments(
    deployments: Iterable[Deployment],
    changes: Iterable[Change],
    incidents: Iterable[Incident],
    links: Links,
) -> dict[str, tuple[str, ...]]:
    """The production deployments made to fix an incident that counts, with how.

    ``fixes_incident``: it names such an incident in ``incident_keys``; ``ships_incident_fix``:
    it first shipped a change naming the key of a known incident that counts.
    """
    out: dict[str, tuple[str, ...]] = {}
    for deployment in deployments:
        if (
            deployment.incident_keys
            and is_production(deployment)
            and any(links.counts_key(key) for key in deployment.incident_keys)
        ):
            out[deployment.id] = (FIXES_INCIDENT,)
    keys = {i.key for i in incidents if links.counts(i)}
    for change in changes:
        if keys and not keys.isdisjoint(change.work_item_keys):
            shipping = links.shipping_deployment(change)
            if shipping is not None:
                found = out.get(shipping.id, ())
                if SHIPS_INCIDENT_FIX not in found:
                    out[shipping.id] = (*found, SHIPS_INCIDENT_FIX)
    return out


def rework_reasons(deployment: Deployment, incident_fixes: IncidentFixes) -> tuple[str, ...]:
    reasons: list[str] = []
    if deployment.deployment_kind is DeploymentKind.HOTFIX:
        reasons.append(HOTFIX)
    if deployment.deployment_kind is DeploymentKind.ROLLBACK:
        reasons.append(ROLLBACK)
    reasons.extend(incident_fixes.get(deployment.id, ()))
    return tuple(reasons)


def add_delivery_metrics(
    snapshot: Snapshot, facts: DoraFacts, tallies: Tallies, windows: Sequence[Window]
) -> None:
    """Deployment days, lead-time parts, rework rate, the recovery histogram, failed deployments.

    ``tallies`` holds ``facts`` by day, its deployments tallied with the same incident fixes.
    """
    _add_history(snapshot, facts, tallies)
    deployment_groups = all_groups({o.group for o in facts.outcomes})
    for window in windows:
        days: dict[Group, int] = defaultdict(int)  # distinct UTC dates with a success
        counted: dict[Group, float] = defaultdict(float)
        rework: dict[Group, float] = defaultdict(float)
        attempts_failed: dict[Group, float] = defaultdict(float)
        for day in tallies.outcomes.within(window):  # per group already
            for group, tally in day.items():
                counted[group] += tally.counted
                rework[group] += tally.unplanned
                attempts_failed[group] += tally.failed_attempts
                days[group] += tally.successes > 0
        for team, app in sorted(deployment_groups):
            group = (team, app)
            share = days[group] / window.days
            snapshot.add(DAYS_WINDOW, share, team=team, app=app, window=window.label)
            if counted[group]:
                snapshot.add(
                    REWORK_WINDOW,
                    rework[group] / counted[group],
                    team=team,
                    app=app,
                    window=window.label,
                )
                snapshot.add(
                    ATTEMPTS_WINDOW,
                    attempts_failed[group] / counted[group],
                    team=team,
                    app=app,
                    window=window.label,
                )
        for part, values in zip(PARTS, tallies.part_values, strict=True):
            grouped = values.of(tallies.leads, window)
            add_quantiles(snapshot, PARTS_WINDOW, grouped, window.label, part=part)


def _add_history(snapshot: Snapshot, facts: DoraFacts, tallies: Tallies) -> None:
    """Whole-history recovery histogram and failed-deployment counter at the (team, app) grain."""
    pairs = {o.group for o in facts.outcomes}
    recoveries = merged(tallies.recoveries.whole())
    outcomes = merged(tallies.outcomes.whole())
    for team, app in sorted(pairs):
        found = recoveries.get((team, app), [])
        h = histogram_of(found, RECOVERY_BUCKETS)
        snapshot.histograms.append(
            HistogramSample(
                RECOVERY_HISTOGRAM, labels(team=team, app=app), h.bounds, h.counts, h.count, h.sum
            )
        )
        ended = outcomes.get((team, app), [])
        snapshot.add(ATTEMPTS_COUNTER, sum(t.failed_attempts for t in ended), team=team, app=app)
        for reason in FAILURE_REASONS:
            snapshot.add(
                FAILED_COUNTER,
                sum(t.reasons.get(reason, 0) for t in ended),
                team=team,
                app=app,
                reason=reason,
            )
