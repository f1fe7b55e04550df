"""What became of each production deployment: did it fail, why, and when did it recover.

* A production deployment **failed** when its result is ``failure``, when the next production
  deployment of the same app (in start order) is a rollback or a hotfix, or when an incident is
  blamed on it (:mod:`streamgauge.linking`). Deployments without an app have no "next" one.
* **Recovery** of a failed deployment, by ``metrics.recovery``: ``incident_resolved`` (default)
  is when the last incident blamed on it was resolved, or, when none is blamed on it, the end of
  the next successful production deployment of the same app that did not fail itself;
  ``next_success`` is always that deployment. While an incident blamed on it is open, or no such
  deployment has ended by ``now``, the failure is not recovered. The recovery time runs from the
  failed deployment's end (``finished_at``, else ``started_at``) to the recovery; a negative one
  is left out and counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from streamgauge.linking import Links, is_production
from streamgauge.metrics.dimensions import Group, LabelFolder
from streamgauge.metrics.windows import ended_at, seconds_between
from streamgauge.model import Deployment, DeploymentKind, Incident, RunResult

# Why a deployment counts as failed; explain lists these next to each deployment.
FAILED_RESULT = "result_failure"
ROLLED_BACK = "rolled_back"
HOTFIXED = "followed_by_hotfix"
CAUSED_INCIDENT = "caused_incident"

RecoveryRule = Literal["incident_resolved", "next_success"]


@dataclass(frozen=True, slots=True)
class DeploymentOutcome:
    """One production deployment as seen at ``now``: did it fail, why, and when it recovered."""

    deployment: Deployment
    group: Group
    ended_at: datetime | None  # None: still running at now
    failure_reasons: tuple[str, ...] = ()
    recovered_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return bool(self.failure_reasons)

    @property
    def recovery_seconds(self) -> float | None:
        if self.recovered_at is None or self.ended_at is None:
            return None
        return seconds_between(self.ended_at, self.recovered_at)


def _sequence_order(deployment: Deployment) -> tuple[datetime, datetime, str]:
    # "Next deployment" follows start order, which running deployments also have.
    finish = deployment.finished_at or deployment.started_at
    return deployment.started_at, finish, deployment.id


# app -> (its production deployments, the incidents blamed on each, the moment from which its
# outcomes no longer depend on now, the outcomes, the negative recoveries): kept while the
# records are the very same objects, for any now from that moment on.
OutcomeMemo = dict[
    str | None,
    tuple[
        tuple[Deployment, ...],
        tuple[tuple[Incident, ...], ...],
        datetime,
        list[DeploymentOutcome],
        list[Deployment],
    ],
]


def deployment_outcomes(
    deployments: Iterable[Deployment],
    links: Links,
    *,
    now: datetime,
    recovery: RecoveryRule,
    fold: LabelFolder,
    memo: OutcomeMemo | None = None,
) -> tuple[list[DeploymentOutcome], list[Deployment]]:
    """Every production deployment started by ``now``, and those whose recovery was negative."""
    result: list[DeploymentOutcome] = []
    negative: list[Deployment] = []
    by_app: dict[str | None, list[Deployment]] = defaultdict(list)
    for deployment in deployments:
        if is_production(deployment):
            by_app[deployment.app].append(deployment)
    for app, every in by_app.items():
        if memo is not None:
            key = tuple(every)
            blamed = tuple([tuple(links.incidents_of.get(d.id, ())) for d in every])
            cached = memo.get(app)
            if cached is not None and cached[2] <= now and cached[0] == key and cached[1] == blamed:
                result.extend(cached[3])
                negative.extend(cached[4])
                continue
        sequence = [d for d in every if d.started_at <= now]
        outcomes, negatives = _app_outcomes(app, sequence, links, now, recovery, fold)
        result.extend(outcomes)
        negative.extend(negatives)
        if memo is not None:
            settled = _settled_at(every, blamed)
            if settled <= now:
                memo[app] = (key, blamed, settled, outcomes, negatives)
    return result, negative


def _settled_at(
    deployments: Iterable[Deployment], blamed: Iterable[tuple[Incident, ...]]
) -> datetime:
    """The latest instant the outcomes look at: from then on ``now`` changes none of them."""
    instants = [d.finished_at or d.started_at for d in deployments]
    instants.extend(d.started_at for d in deployments)
    for incidents in blamed:
        for incident in incidents:
            instants.append(incident.resolved_at or incident.opened_at)
            instants.append(incident.opened_at)
    return max(instants)


def _app_outcomes(
    app: str | None,
    sequence: list[Deployment],
    links: Links,
    now: datetime,
    recovery: RecoveryRule,
    fold: LabelFolder,
) -> tuple[list[DeploymentOutcome], list[Deployment]]:
    negative: list[Deployment] = []
    sequence.sort(key=_sequence_order)
    outcomes: list[DeploymentOutcome] = []
    following: Deployment | None = None
    next_good: DeploymentOutcome | None = None
    # Walk each app backwards so "the next deployment" and "the next successful deployment
    # that did not fail" are known in one pass. Deployments without an app have no sequence.
    for deployment in reversed(sequence):
        nxt = following if app is not None else None
        outcome = _outcome(deployment, nxt, next_good, links, now, recovery, fold)
        if outcome.recovery_seconds is not None and outcome.recovery_seconds < 0:
            negative.append(deployment)
            outcome = DeploymentOutcome(
                deployment, outcome.group, outcome.ended_at, outcome.failure_reasons
            )
        outcomes.append(outcome)
        if (
            app is not None
            and deployment.result is RunResult.SUCCESS
            and outcome.ended_at is not None
            and not outcome.failed
        ):
            next_good = outcome
        following = deployment
    outcomes.reverse()
    return outcomes, negative


def _outcome(
    deployment: Deployment,
    following: Deployment | None,
    next_good: DeploymentOutcome | None,
    links: Links,
    now: datetime,
    recovery: RecoveryRule,
    fold: LabelFolder,
) -> DeploymentOutcome:
    group = fold.pair(deployment.team, deployment.app)
    end = ended_at(deployment, now)
    if end is None:
        return DeploymentOutcome(deployment, group, None)
    incidents = [i for i in links.incidents_of.get(deployment.id, ()) if i.opened_at <= now]
    reasons: list[str] = []
    if deployment.result is RunResult.FAILURE:
        reasons.append(FAILED_RESULT)
    if following is not None and following.deployment_kind is DeploymentKind.ROLLBACK:
        reasons.append(ROLLED_BACK)
    if following is not None and following.deployment_kind is DeploymentKind.HOTFIX:
        reasons.append(HOTFIXED)
    if incidents:
        reasons.append(CAUSED_INCIDENT)
    if not reasons:
        return DeploymentOutcome(deployment, group, end)
    recovered_at = next_good.ended_at if next_good is not None else None
    if recovery == "incident_resolved" and incidents:
        resolved = [i.resolved_at for i in incidents if i.resolved_at and i.resolved_at <= now]
        # Recovered once every incident it caused is resolved; one still open means not yet.
        recovered_at = max(resolved) if len(resolved) == len(incidents) else None
    return DeploymentOutcome(deployment, group, end, tuple(reasons), recovered_at)
