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

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from streamgauge.linking import Links, is_production
from streamgauge.metrics.catalog import BY_NAME
from streamgauge.metrics.columns import count, distinct_days, histogram
from streamgauge.metrics.deployments import (
    CAUSED_INCIDENT,
    FAILED_RESULT,
    HOTFIXED,
    ROLLED_BACK,
)
from streamgauge.metrics.dimensions import all_groups
from streamgauge.metrics.dora import PARTS, DoraFacts, add_quantiles
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.metrics.stats import bucket_edges
from streamgauge.metrics.windows import Window
from streamgauge.model import Change, Deployment, DeploymentKind, Incident, RunResult

if TYPE_CHECKING:
    from streamgauge.metrics.frames import Frames

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
    snapshot: Snapshot, facts: DoraFacts, frames: Frames, windows: Sequence[Window]
) -> None:
    """Deployment days, lead-time parts, rework rate, the recovery history, failed deployments."""
    _add_history(snapshot, facts, frames)
    ended, leads = frames.outcomes, frames.leads
    deployment_groups = all_groups({o.group for o in facts.outcomes})
    none = np.empty(0, dtype=np.intp)
    for window in windows:
        in_window = ended.by_group(ended.within(window))
        for team, app in sorted(deployment_groups):
            rows = in_window.get((team, app), none)
            common = {"team": team, "app": app, "window": window.label}
            succeeded = rows[ended["result"][rows] == RunResult.SUCCESS.value]
            days = distinct_days(ended.at[succeeded])  # distinct UTC dates with a success
            snapshot.add(DAYS_WINDOW, days / window.days, **common)
            if len(rows):
                snapshot.add(REWORK_WINDOW, count(ended["unplanned"][rows]) / len(rows), **common)
                failed = count(ended["result"][rows] == RunResult.FAILURE.value)
                snapshot.add(ATTEMPTS_WINDOW, failed / len(rows), **common)
        deployed = leads.by_group(leads.within(window))
        for part in PARTS:
            add_quantiles(snapshot, PARTS_WINDOW, leads[part], deployed, window.label, part=part)


def _add_history(snapshot: Snapshot, facts: DoraFacts, frames: Frames) -> None:
    """Whole-history recovery histogram and failed-deployment counter at the (team, app) grain."""
    ended, recoveries = frames.outcomes, frames.recoveries
    recovered = recoveries.by_pair(recoveries.everything())
    by_pair = ended.by_pair(ended.everything())
    none = np.empty(0, dtype=np.intp)
    for team, app in sorted({o.group for o in facts.outcomes}):
        h = histogram(recoveries["seconds"][recovered.get((team, app), none)], RECOVERY_BUCKETS)
        snapshot.histograms.append(
            HistogramSample(
                RECOVERY_HISTOGRAM, labels(team=team, app=app), h.bounds, h.counts, h.count, h.sum
            )
        )
        rows = by_pair.get((team, app), none)
        failed = count(ended["result"][rows] == RunResult.FAILURE.value)
        snapshot.add(ATTEMPTS_COUNTER, failed, team=team, app=app)
        for reason in FAILURE_REASONS:
            snapshot.add(
                FAILED_COUNTER, count(ended[reason][rows]), team=team, app=app, reason=reason
            )
