"""DORA: each change's lead time, and the deployment metrics built from it and from outcomes.

Definitions, as seen at ``now`` (:mod:`streamgauge.linking` says which deployment shipped a
change and which deployment an incident is blamed on; :mod:`.deployments` says when a
deployment failed and when it recovered):

* **Deployment frequency** of a window: successful production deployments that finished in
  the window, divided by the window's length in days.
* **Change lead time** of a merged change: ``deployed_at - first_commit_at`` (``created_at`` when
  the first commit is unknown), where ``deployed_at`` is when the first successful production
  deployment that shipped it finished. A change belongs to the window its ``deployed_at`` falls
  in, and to the team and app of that deployment (the change's own when the deployment has
  none). Lead times above ``metrics.max_lead_time`` (a first deployment shipping years of old
  commits) and negative ones are left out and counted for data quality.
* **Change failure rate** of a window: failed over all production deployments that ended in the
  window (running ones are not counted). An empty window has no rate (no sample), not 0/0.
* **Failed deployment recovery time** of a window: quantiles of the recovery times of the failed
  production deployments whose recovery instant falls in the window.
* **Deployments** counter: production deployments that ended by ``now``, by result; histogram of
  change lead time: every lead time deployed by ``now``. Both over the whole history.

Every gauge is cut by the groups of :mod:`.dimensions`; quantiles follow :mod:`.stats`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from streamgauge.linking import Links
from streamgauge.metrics.catalog import BY_NAME, QUANTILES
from streamgauge.metrics.deployments import DeploymentOutcome, RecoveryRule, deployment_outcomes
from streamgauge.metrics.dimensions import (
    Group,
    LabelFolder,
    all_groups,
    roll_up,
    roll_up_lists,
)
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.metrics.stats import format_quantile, histogram, quantiles
from streamgauge.metrics.windows import TimeIndex, Window, seconds_between
from streamgauge.model import Change, ChangeState, Commit, Dataset, Deployment, RunResult

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
    limit = max_lead_time.total_seconds()
    for commit in commits:
        if commit.sha in in_changes or len(commit.parents) > 1:
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


def dora_facts(
    dataset: Dataset,
    links: Links,
    *,
    now: datetime,
    max_lead_time: timedelta,
    recovery: RecoveryRule,
    fold: LabelFolder,
    memo: LeadMemo | None = None,
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
        dataset.deployments, links, now=now, recovery=recovery, fold=fold
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


def add_dora_metrics(snapshot: Snapshot, facts: DoraFacts, windows: Iterable[Window]) -> None:
    """Add every DORA family of :data:`catalog.COMPUTED` to ``snapshot``."""
    ended = [o for o in facts.outcomes if o.ended_at is not None]
    pairs = {o.group for o in facts.outcomes} | {lt.group for lt in facts.lead_times}

    # Whole-history counter and histogram, (team, app) grain, with zero series for every pair
    # so that a result's first deployment shows up as an increase.
    results: dict[tuple[Group, str], int] = defaultdict(int)
    for o in ended:
        results[o.group, o.deployment.result.value] += 1
    observed: dict[Group, list[float]] = defaultdict(list)
    for lt in facts.lead_times:
        observed[lt.group].append(lt.seconds)
    buckets = BY_NAME[LEAD_TIME_HISTOGRAM].buckets
    for team, app in sorted(pairs):
        for result in COUNTED_RESULTS:
            snapshot.add(
                DEPLOYMENTS,
                results[(team, app), result.value],
                team=team,
                app=app,
                result=result.value,
            )
        h = histogram(observed[(team, app)], buckets)
        snapshot.histograms.append(
            HistogramSample(
                LEAD_TIME_HISTOGRAM, labels(team=team, app=app), h.bounds, h.counts, h.count, h.sum
            )
        )

    deployment_groups = all_groups({o.group for o in facts.outcomes})
    by_end = TimeIndex((o.ended_at, o) for o in ended if o.ended_at is not None)
    by_deploy = TimeIndex((lt.deployed_at, lt) for lt in facts.lead_times)
    by_recovery = TimeIndex(
        (o.recovered_at, o)
        for o in ended
        if o.recovery_seconds is not None and o.recovered_at is not None
    )
    for window in windows:
        # Tallied per pair, then added up into teams and the organisation.
        successes: dict[Group, float] = defaultdict(float)
        counted: dict[Group, float] = defaultdict(float)
        failed: dict[Group, float] = defaultdict(float)
        for o in by_end.within(window):
            counted[o.group] += 1
            failed[o.group] += o.failed
            successes[o.group] += o.deployment.result is RunResult.SUCCESS
        successes, counted, failed = roll_up(successes), roll_up(counted), roll_up(failed)
        for team, app in sorted(deployment_groups):
            # Zero deployments is a frequency (0 per day); zero deployments is no failure rate.
            snapshot.add(
                FREQUENCY_WINDOW,
                successes[(team, app)] / window.days,
                team=team,
                app=app,
                window=window.label,
            )
            if counted[(team, app)]:
                snapshot.add(
                    FAILURE_RATE_WINDOW,
                    failed[(team, app)] / counted[(team, app)],
                    team=team,
                    app=app,
                    window=window.label,
                )
        lead = _by_group((lt.group, lt.seconds) for lt in by_deploy.within(window))
        _add_quantiles(snapshot, LEAD_TIME_WINDOW, lead, window)
        recovered = _by_group(
            (o.group, o.recovery_seconds or 0.0) for o in by_recovery.within(window)
        )
        _add_quantiles(snapshot, RECOVERY_WINDOW, recovered, window)


def _by_group(observations: Iterable[tuple[Group, float]]) -> dict[Group, list[float]]:
    per_pair: dict[Group, list[float]] = defaultdict(list)
    for pair, value in observations:
        per_pair[pair].append(value)
    return roll_up_lists(per_pair)


def _add_quantiles(
    snapshot: Snapshot, name: str, grouped: dict[Group, list[float]], window: Window
) -> None:
    for (team, app), values in sorted(grouped.items()):
        for p, value in quantiles(values, QUANTILES).items():
            snapshot.add(
                name, value, team=team, app=app, window=window.label, quantile=format_quantile(p)
            )
