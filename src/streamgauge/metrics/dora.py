"""DORA: the first five families, from lead times (:mod:`.leadtime`) and deployment outcomes.

Definitions, as seen at ``now`` (:mod:`streamgauge.linking` says which deployment shipped a
change and which deployment an incident is blamed on; :mod:`.deployments` says when a
deployment failed and when it recovered; :mod:`.leadtime` says what a lead time is):

* **Deployment frequency** of a window: successful production deployments that finished in
  the window, divided by the window's length in days.
* **Change lead time** of a window: quantiles of the lead times of the changes whose first
  production deployment finished in the window.
* **Change failure rate** of a window: failed over the production deployments that ended in the
  window (running ones are not counted), failed attempts left out unless
  ``metrics.failed_attempts_are_failures`` (:mod:`.deployments`). An empty window has no rate
  (no sample), not 0/0.
* **Failed deployment recovery time** of a window: quantiles of the recovery times of the failed
  production deployments whose recovery instant falls in the window.
* **Deployments** counter: production deployments that ended by ``now``, by result; histogram of
  change lead time: every lead time deployed by ``now``. Both over the whole history.

Every gauge is cut by the groups of :mod:`.dimensions`; quantiles follow :mod:`.stats`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streamgauge.linking import Links
from streamgauge.metrics.catalog import BY_NAME, QUANTILES
from streamgauge.metrics.columns import count, histogram, type7
from streamgauge.metrics.deployments import OutcomeMemo, RecoveryRule, deployment_outcomes
from streamgauge.metrics.dimensions import (
    Group,
    LabelFolder,
    all_groups,
)
from streamgauge.metrics.leadtime import (
    PARTS,
    DoraFacts,
    LeadMemo,
    LeadTime,
    direct_pushes,
    lead_time_parts,
    lead_times,
)
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.metrics.stats import bucket_edges, format_percentile
from streamgauge.metrics.windows import Window
from streamgauge.model import Dataset, RunResult

if TYPE_CHECKING:
    from streamgauge.metrics.frames import Frames

__all__ = [
    "PARTS",
    "DoraFacts",
    "LeadMemo",
    "LeadTime",
    "add_dora_metrics",
    "dora_facts",
    "lead_time_parts",
    "lead_times",
]


def dora_facts(
    dataset: Dataset,
    links: Links,
    *,
    now: datetime,
    max_lead_time: timedelta,
    recovery: RecoveryRule,
    fold: LabelFolder,
    attempts_fail: bool = False,
    memo: LeadMemo | None = None,
    outcome_memo: OutcomeMemo | None = None,
) -> DoraFacts:
    """Every change's lead time and every production deployment's outcome, as seen at ``now``."""
    facts = DoraFacts()
    lead_times(
        dataset.changes,
        links,
        now=now,
        max_lead_time=max_lead_time,
        fold=fold,
        facts=facts,
        memo=memo,
    )
    direct_pushes(
        dataset.commits,
        dataset.changes,
        links,
        now=now,
        max_lead_time=max_lead_time,
        fold=fold,
        facts=facts,
    )
    facts.outcomes, facts.negative_recoveries = deployment_outcomes(
        dataset.deployments,
        links,
        now=now,
        recovery=recovery,
        fold=fold,
        attempts_fail=attempts_fail,
        memo=outcome_memo,
    )
    return facts


# --- metric families ---------------------------------------------------------------------------

DEPLOYMENTS = "streamgauge_deployments_total"
LEAD_TIME_HISTOGRAM = "streamgauge_change_lead_time_seconds"
LEAD_TIME_WINDOW = "streamgauge_change_lead_time_window_seconds"
FREQUENCY_WINDOW = "streamgauge_deployment_frequency_window_per_day"
FAILURE_RATE_WINDOW = "streamgauge_change_failure_rate_window_ratio"
RECOVERY_WINDOW = "streamgauge_failed_deployment_recovery_time_window_seconds"
COUNTED_RESULTS = (RunResult.SUCCESS, RunResult.FAILURE, RunResult.CANCELED)
LEAD_TIME_BUCKETS = bucket_edges(BY_NAME[LEAD_TIME_HISTOGRAM].buckets)


def add_dora_metrics(
    snapshot: Snapshot,
    facts: DoraFacts,
    frames: Frames,
    windows: Iterable[Window],
) -> None:
    """Add every DORA family of :data:`catalog.COMPUTED` to ``snapshot``."""
    pairs = {o.group for o in facts.outcomes} | {lt.group for lt in facts.lead_times}
    ended, leads, recoveries = frames.outcomes, frames.leads, frames.recoveries

    # Whole-history counter and histogram, (team, app) grain, with zero series for every pair
    # so that a result's first deployment shows up as an increase.
    ended_by_pair = ended.by_pair(ended.everything())
    leads_by_pair = leads.by_pair(leads.everything())
    none = np.empty(0, dtype=np.intp)
    for team, app in sorted(pairs):
        results = ended["result"][ended_by_pair.get((team, app), none)]
        for result in COUNTED_RESULTS:
            snapshot.add(
                DEPLOYMENTS, count(results == result.value), team=team, app=app, result=result.value
            )
        seconds = leads["seconds"][leads_by_pair.get((team, app), none)]
        h = histogram(seconds, LEAD_TIME_BUCKETS)
        snapshot.histograms.append(
            HistogramSample(
                LEAD_TIME_HISTOGRAM, labels(team=team, app=app), h.bounds, h.counts, h.count, h.sum
            )
        )

    deployment_groups = all_groups({o.group for o in facts.outcomes})
    for window in windows:
        in_window = ended.by_group(ended.within(window))
        for team, app in sorted(deployment_groups):
            rows = in_window.get((team, app), none)
            # Zero deployments is a frequency (0 per day); zero deployments is no failure rate.
            successes = count(ended["result"][rows] == RunResult.SUCCESS.value)
            common = {"team": team, "app": app, "window": window.label}
            snapshot.add(FREQUENCY_WINDOW, successes / window.days, **common)
            reached = count(ended["reached"][rows])
            if reached:
                snapshot.add(FAILURE_RATE_WINDOW, count(ended["failed"][rows]) / reached, **common)
        lead = leads.by_group(leads.within(window))
        add_quantiles(snapshot, LEAD_TIME_WINDOW, leads["seconds"], lead, window.label)
        recovered = recoveries.by_group(recoveries.within(window))
        add_quantiles(snapshot, RECOVERY_WINDOW, recoveries["seconds"], recovered, window.label)


def add_quantiles(
    snapshot: Snapshot,
    name: str,
    values: npt.NDArray[np.float64],
    grouped: Mapping[Group, npt.NDArray[np.intp]],
    window: str,
    **extra: str,
) -> None:
    """The quantiles of each group's ``values``, as ``name{team, app, window, percentile}``."""
    for (team, app), rows in sorted(grouped.items()):
        for p, value in type7(values[rows], QUANTILES).items():
            snapshot.add(
                name,
                value,
                team=team,
                app=app,
                window=window,
                **extra,
                percentile=format_percentile(p),
            )
