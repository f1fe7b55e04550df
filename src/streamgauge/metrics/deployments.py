"""What became of each production deployment: did it fail, why, and when did it recover.

* A production deployment whose result is ``failure`` is a **failed deployment attempt**: its
  own job failed, so it never reached production. Unless ``metrics.failed_attempts_are_failures``
  is true it is no change failure at all: it has no failure reasons and no recovery, and is left
  out of the change failure rate (:attr:`DeploymentOutcome.attempt_only`); it is still the
  "next" deployment of the one before it. When the rule is true, ``failure`` is a reason to fail.
* A production deployment **failed** when the next production deployment of the same app (in
  start order) is a rollback or a hotfix, or when an incident that counts is blamed on it
  (:mod:`streamgauge.linking`). Deployments without an app have no "next" one.
* **Recovery** of a failed deployment, by ``metrics.recovery``: ``first_restoration`` (default)
  is the first of the end of the next successful production deployment of the same app that
  did not fail itself (a rollback or a fix) and the resolution of the last incident blamed on
  it; ``incident_resolved`` is that resolution (none while an incident blamed on it is open),
  or, when no incident is blamed on it, that deployment; ``next_success`` is always that
  deployment. Until one of these happened by ``now``, the failure is not recovered. The
  recovery time runs from the failed deployment's end (``finished_at``, else ``started_at``)
  to the recovery; a negative one is left out and counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Literal

from streamgauge.linking import Links, is_production
from streamgauge.metrics.dimensions import Group, LabelFolder
from streamgauge.metrics.windows import ended_at, seconds_between
from streamgauge.model import (
    Deployment,
    DeploymentKind,
    Environment,
    Incident,
    RunResult,
    slot_setters,
)

# Why a deployment counts as failed; explain lists these next to each deployment.
FAILED_RESULT = "result_failure"
ROLLED_BACK = "rolled_back"
HOTFIXED = "followed_by_hotfix"
CAUSED_INCIDENT = "caused_incident"

RecoveryRule = Literal["first_restoration", "incident_resolved", "next_success"]


@dataclass(frozen=True, slots=True)
class DeploymentOutcome:
    """One production deployment as seen at ``now``: did it fail, why, and when it recovered."""

    deployment: Deployment
    group: Group
    ended_at: datetime | None  # None: still running at now
    failure_reasons: tuple[str, ...] = ()
    recovered_at: datetime | None = None
    # a failed attempt that is no change failure: out of the change failure rate
    attempt_only: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.failure_reasons)

    @property
    def recovery_seconds(self) -> float | None:
        if self.recovered_at is None or self.ended_at is None:
            return None
        return seconds_between(self.ended_at, self.recovered_at)


# A frozen dataclass's __init__ sets each field through object.__setattr__; setting the slots
# through their descriptors makes the same outcome in half the time (as the store's codec makes
# records), and a computation makes one for every production deployment.
_OUTCOME_SLOTS = slot_setters(DeploymentOutcome)


def _new_outcome(
    deployment: Deployment,
    group: Group,
    ended_at: datetime | None,
    failure_reasons: tuple[str, ...] = (),
    recovered_at: datetime | None = None,
    attempt_only: bool = False,
) -> DeploymentOutcome:
    """``DeploymentOutcome(deployment, group, ...)``: the same outcome."""
    outcome = object.__new__(DeploymentOutcome)
    put = _OUTCOME_SLOTS
    put[0](outcome, deployment)
    put[1](outcome, group)
    put[2](outcome, ended_at)
    put[3](outcome, failure_reasons)
    put[4](outcome, recovered_at)
    put[5](outcome, attempt_only)
    return outcome


def _sequence_order(deployment: Deployment) -> tuple[datetime, datetime, str]:
    # "Next deployment" follows start order, which running deployments also have.
    finish = deployment.finished_at or deployment.started_at
    return deployment.started_at, finish, deployment.id


class OutcomeMemo:
    """Each app's deployment outcomes, kept from one computation to the next.

    The outcomes are kept with the joins they were worked out from: after an extension of the
    same joins (:meth:`.Links.extend`) and at a ``now`` no earlier than last time, only the apps
    of the production deployments it took in, of the deployments whose blamed incidents moved,
    and those whose outcomes still depend on ``now`` are worked out again. Anything else works
    every app out. An outcome worked out again equal to the kept one is the kept object.
    """

    __slots__ = (
        "_apps",
        "_generation",
        "_links",
        "_negatives",
        "_now",
        "_outcomes",
        "_unsettled",
        "failed",
        "flipped",
    )

    def __init__(self) -> None:
        self._links: Links | None = None
        self._generation = 0
        self._now: datetime | None = None
        # app -> its production deployments in record order (apps in the order they appear)
        self._apps: dict[str | None, list[Deployment]] = {}
        self._outcomes: dict[str | None, list[DeploymentOutcome]] = {}
        self._negatives: dict[str | None, list[Deployment]] = {}
        self._unsettled: set[str | None] = set()  # apps whose outcomes depend on now
        self.failed: set[str] = set()  # ids of the deployments that failed
        self.flipped: set[str] = set()  # ids of those the latest computation failed or cleared

    def refresh(
        self,
        deployments: Iterable[Deployment],
        links: Links,
        now: datetime,
        recovery: RecoveryRule,
        fold: LabelFolder,
        attempts_fail: bool = False,
    ) -> None:
        """Bring the outcomes to ``now`` over ``deployments`` (every one) and their joins."""
        self.flipped = set()
        dirty = self._dirty(links, now)
        if dirty is None:
            before = self._outcomes
            self._apps = {}
            for deployment in deployments:
                if is_production(deployment):
                    self._apps.setdefault(deployment.app, []).append(deployment)
            self._outcomes, self._negatives, self._unsettled = {}, {}, set()
            failed, self.failed = self.failed, set()
            for app in self._apps:
                self._work_out(
                    app, links, now, (recovery, attempts_fail), fold, before.get(app, ())
                )
            self.flipped = failed ^ self.failed
        else:
            for app in dirty:
                self._work_out(
                    app, links, now, (recovery, attempts_fail), fold, self._outcomes.get(app, ())
                )
        self._links, self._generation, self._now = links, links.generation, now

    def _dirty(self, links: Links, now: datetime) -> set[str | None] | None:
        """The apps to work out again; None: all of them."""
        if not links.follows(self._links, self._generation, self._now, now):
            return None
        dirty = set(self._unsettled)
        if links.generation == self._generation:
            return dirty
        for old, record in links.changed:
            if not isinstance(record, Deployment):
                continue
            if isinstance(old, Deployment):
                if old.app != record.app or is_production(old) != is_production(record):
                    return None  # the apps' order could move
                if not is_production(record):
                    continue
                every = self._apps[record.app]
                every[next(i for i, d in enumerate(every) if d.id == record.id)] = record
            elif is_production(record):
                self._apps.setdefault(record.app, []).append(record)
            else:
                continue
            dirty.add(record.app)
        for deployment_id in links.touched:
            touched = links.deployments.get(deployment_id)
            if touched is not None and is_production(touched):
                dirty.add(touched.app)
        return dirty

    def _work_out(
        self,
        app: str | None,
        links: Links,
        now: datetime,
        rules: tuple[RecoveryRule, bool],
        fold: LabelFolder,
        before: Iterable[DeploymentOutcome],
    ) -> None:
        every = self._apps[app]
        sequence = [d for d in every if d.started_at <= now]
        outcomes, negatives = _app_outcomes(app, sequence, links, now, rules, fold)
        kept = {o.deployment.id: o for o in before}
        for o in kept.values():
            if o.failure_reasons:
                self.failed.discard(o.deployment.id)
                self.flipped.symmetric_difference_update((o.deployment.id,))
        for i, o in enumerate(outcomes):
            old = kept.get(o.deployment.id)
            if old is not None and old == o:
                outcomes[i] = old
            if o.failure_reasons:
                self.failed.add(o.deployment.id)
                self.flipped.symmetric_difference_update((o.deployment.id,))
        self._outcomes[app] = outcomes
        self._negatives[app] = negatives
        blamed = [links.incidents_of.get(d.id, ()) for d in every]
        if _settled_at(every, blamed) > now:
            self._unsettled.add(app)
        else:
            self._unsettled.discard(app)

    def outcomes(self) -> list[DeploymentOutcome]:
        """Every app's outcomes, apps in the order their deployments first appear."""
        return list(chain.from_iterable(self._outcomes.values()))

    def negatives(self) -> list[Deployment]:
        return list(chain.from_iterable(self._negatives.values()))


def deployment_outcomes(
    deployments: Iterable[Deployment],
    links: Links,
    *,
    now: datetime,
    recovery: RecoveryRule,
    fold: LabelFolder,
    attempts_fail: bool = False,
    memo: OutcomeMemo | None = None,
) -> tuple[list[DeploymentOutcome], list[Deployment]]:
    """Every production deployment started by ``now``, and those whose recovery was negative.

    ``attempts_fail`` is ``metrics.failed_attempts_are_failures``.
    """
    if memo is not None:
        memo.refresh(deployments, links, now, recovery, fold, attempts_fail)
        return memo.outcomes(), memo.negatives()
    result: list[DeploymentOutcome] = []
    negative: list[Deployment] = []
    by_app: dict[str | None, list[Deployment]] = defaultdict(list)
    for deployment in deployments:
        if deployment.environment is Environment.PRODUCTION:
            by_app[deployment.app].append(deployment)
    for app, every in by_app.items():
        sequence = [d for d in every if d.started_at <= now]
        outcomes, negatives = _app_outcomes(
            app, sequence, links, now, (recovery, attempts_fail), fold
        )
        result.extend(outcomes)
        negative.extend(negatives)
    return result, negative


def _settled_at(
    deployments: Sequence[Deployment], blamed: Iterable[Iterable[Incident]]
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
    rules: tuple[RecoveryRule, bool],
    fold: LabelFolder,
) -> tuple[list[DeploymentOutcome], list[Deployment]]:
    negative: list[Deployment] = []
    sequence.sort(key=_sequence_order)
    outcomes: list[DeploymentOutcome] = []
    following: Deployment | None = None
    next_good: DeploymentOutcome | None = None
    # Walk each app backwards so "the next deployment" and "the next successful deployment
    # that did not fail" are known in one pass. Deployments without an app have no sequence.
    success = RunResult.SUCCESS
    for deployment in reversed(sequence):
        nxt = following if app is not None else None
        outcome = _outcome(deployment, nxt, next_good, links, now, rules, fold)
        # only a recovered failure has a recovery time: look at the fields before the property
        recovered, ended = outcome.recovered_at, outcome.ended_at
        if recovered is not None and ended is not None and recovered < ended:
            negative.append(deployment)
            outcome = _new_outcome(deployment, outcome.group, ended, outcome.failure_reasons)
        outcomes.append(outcome)
        if (
            app is not None
            and deployment.result is success
            and ended is not None
            and not outcome.failure_reasons
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
    rules: tuple[RecoveryRule, bool],
    fold: LabelFolder,
) -> DeploymentOutcome:
    recovery, attempts_fail = rules
    group = fold.pair(deployment.team, deployment.app)
    end = ended_at(deployment, now)
    if end is None:
        return _new_outcome(deployment, group, None)
    if deployment.result is RunResult.FAILURE and not attempts_fail:
        # it never reached production: the pipeline's rework, not a failure of the change
        return _new_outcome(deployment, group, end, attempt_only=True)
    blamed = links.incidents_of.get(deployment.id)
    incidents = [i for i in blamed if i.opened_at <= now] if blamed else ()
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
        return _new_outcome(deployment, group, end)
    recovered_at = next_good.ended_at if next_good is not None else None
    if recovery != "next_success" and incidents:
        resolved = [i.resolved_at for i in incidents if i.resolved_at and i.resolved_at <= now]
        # Resolved once every incident it caused is resolved; one still open means not yet.
        all_resolved = max(resolved) if len(resolved) == len(incidents) else None
        if recovery == "incident_resolved" or recovered_at is None:
            recovered_at = all_resolved
        elif all_resolved is not None and all_resolved < recovered_at:
            # first_restoration: a rollback or fix that restored service before the incidents
            # were closed ends the recovery there, and the other way round
            recovered_at = all_resolved
    return _new_outcome(deployment, group, end, tuple(reasons), recovered_at)
