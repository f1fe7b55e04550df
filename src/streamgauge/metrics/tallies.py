"""What each UTC day's facts add up to, per folded (team, app) pair: the stuff windows are made of.

:class:`Tallies` holds one :class:`~.days.DayTallies` per kind of fact, each keyed by the
instant that puts a fact in a window:

* production deployments by when they ended (frequency, failure rate, deployment days,
  rework, the deployments and failed-deployments counters);
* lead times by when they were deployed (lead time and its parts, the lead-time histogram);
* failed deployments by when they recovered (recovery time and its histogram);
* done work items by when they were done (:mod:`.flow`) and their value streams
  (:mod:`.stage_metrics`).

Each day's tallies are per group (see :mod:`.dimensions`): a pair's own, rolled up into its
team and the whole organisation when the day is tallied. A computation from scratch fills a
new :class:`Tallies`; the server keeps one between
computations, so only the days whose facts changed are tallied again. Tallies never depend on
the order of the facts (sums are :func:`math.fsum`, value lists sorted), which keeps the two
ways equal to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from streamgauge.metrics.days import (
    DayTallies,
    SortedValues,
    added_buckets,
    by_pair,
    joined,
    rolled,
)
from streamgauge.metrics.delivery import RECOVERY_BUCKETS, IncidentFixes, rework_reasons
from streamgauge.metrics.deployments import DeploymentOutcome
from streamgauge.metrics.dimensions import Group, groups_of
from streamgauge.metrics.dora import LEAD_TIME_BUCKETS
from streamgauge.metrics.flow import Cut, DoneTally, done_days
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.leadtime import DoraFacts, LeadTime
from streamgauge.metrics.stage_metrics import StreamTally, kept_names, stream_days
from streamgauge.metrics.stages import ItemStream
from streamgauge.metrics.stats import bucket_counts
from streamgauge.model import RunResult

_group = attrgetter("group")


@dataclass(slots=True, eq=False)
class OutcomeTally:
    """Ended production deployments of one group."""

    counted: int = 0  # every ended one: rework and attempt failure rate count over these
    reached: int = 0  # those the change failure rate counts over (not attempt_only)
    successes: int = 0
    failed: int = 0
    failed_attempts: int = 0  # result failure: the job failed
    unplanned: int = 0  # rework: see :func:`.delivery.rework_reasons`
    results: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # failure reasons


def tally_outcomes(
    outcomes: Sequence[DeploymentOutcome], incident_fixes: object
) -> dict[Group, OutcomeTally]:
    fixes: IncidentFixes = incident_fixes if isinstance(incident_fixes, Mapping) else {}
    out: dict[Group, OutcomeTally] = {}
    for pair, found in by_pair(outcomes, _group).items():
        tally = out[pair] = OutcomeTally(counted=len(found))
        for o in found:
            deployment = o.deployment
            result = deployment.result
            tally.results[result.value] = tally.results.get(result.value, 0) + 1
            if result is RunResult.SUCCESS:
                tally.successes += 1
            elif result is RunResult.FAILURE:
                tally.failed_attempts += 1
            if not o.attempt_only:
                tally.reached += 1
            if o.failure_reasons:
                tally.failed += 1
                for reason in o.failure_reasons:
                    tally.reasons[reason] = tally.reasons.get(reason, 0) + 1
            if rework_reasons(deployment, fixes):
                tally.unplanned += 1
    return rolled(out, groups_of, add_outcomes)


def add_outcomes(tallies: Sequence[OutcomeTally]) -> OutcomeTally:
    out = OutcomeTally()
    for t in tallies:
        out.counted += t.counted
        out.reached += t.reached
        out.successes += t.successes
        out.failed += t.failed
        out.failed_attempts += t.failed_attempts
        out.unplanned += t.unplanned
        for result, n in t.results.items():
            out.results[result] = out.results.get(result, 0) + n
        for reason, n in t.reasons.items():
            out.reasons[reason] = out.reasons.get(reason, 0) + n
    return out


@dataclass(slots=True, eq=False)
class LeadTally:
    """Lead times of one group: sorted seconds and parts, histogram buckets, exact sum."""

    seconds: list[float]
    parts: tuple[list[float], list[float], list[float], list[float]]
    buckets: list[int]
    total: float


def tally_leads(leads: Sequence[LeadTime], _: object = None) -> dict[Group, LeadTally]:
    out: dict[Group, LeadTally] = {}
    for pair, found in by_pair(leads, _group).items():
        seconds = sorted([lt.seconds for lt in found])
        parts = tuple(sorted(values) for values in zip(*[lt.parts for lt in found], strict=True))
        out[pair] = LeadTally(
            seconds,
            (parts[0], parts[1], parts[2], parts[3]),
            bucket_counts(seconds, LEAD_TIME_BUCKETS),
            math.fsum(seconds),
        )
    return rolled(out, groups_of, add_leads)


def add_leads(tallies: Sequence[LeadTally]) -> LeadTally:
    parts = [sorted(joined(t.parts[i] for t in tallies)) for i in range(4)]
    return LeadTally(
        sorted(joined(t.seconds for t in tallies)),
        (parts[0], parts[1], parts[2], parts[3]),
        added_buckets([t.buckets for t in tallies]),
        math.fsum([t.total for t in tallies]),
    )


@dataclass(slots=True, eq=False)
class RecoveryTally:
    """Recovery times of one group's failed deployments."""

    seconds: list[float]
    buckets: list[int]
    total: float


def tally_recoveries(
    outcomes: Sequence[DeploymentOutcome], _: object = None
) -> dict[Group, RecoveryTally]:
    out: dict[Group, RecoveryTally] = {}
    for pair, found in by_pair(outcomes, _group).items():
        seconds = sorted([o.recovery_seconds or 0.0 for o in found])
        out[pair] = RecoveryTally(
            seconds, bucket_counts(seconds, RECOVERY_BUCKETS), math.fsum(seconds)
        )
    return rolled(out, groups_of, add_recoveries)


def add_recoveries(tallies: Sequence[RecoveryTally]) -> RecoveryTally:
    return RecoveryTally(
        sorted(joined(t.seconds for t in tallies)),
        added_buckets([t.buckets for t in tallies]),
        math.fsum([t.total for t in tallies]),
    )


def _part(i: int) -> Callable[[LeadTally], list[float]]:
    def values(tally: LeadTally) -> list[float]:
        return tally.parts[i]

    return values


@dataclass(slots=True)
class Tallies:
    """Every kind of fact by day, kept between computations by whoever computes repeatedly."""

    outcomes: DayTallies[DeploymentOutcome, dict[Group, OutcomeTally]] = field(
        default_factory=lambda: DayTallies(attrgetter("ended_at"), tally_outcomes)
    )
    leads: DayTallies[LeadTime, dict[Group, LeadTally]] = field(
        default_factory=lambda: DayTallies(attrgetter("deployed_at"), tally_leads)
    )
    recoveries: DayTallies[DeploymentOutcome, dict[Group, RecoveryTally]] = field(
        default_factory=lambda: DayTallies(attrgetter("recovered_at"), tally_recoveries)
    )

    done: DayTallies[ItemFlow, dict[Cut, DoneTally]] = field(default_factory=done_days)
    streams: DayTallies[ItemStream, dict[Group, StreamTally]] = field(default_factory=stream_days)
    # each window's values for quantiles, the older days' kept sorted
    lead_values: SortedValues[Group, LeadTally] = field(
        default_factory=lambda: SortedValues(attrgetter("seconds"))
    )
    part_values: tuple[SortedValues[Group, LeadTally], ...] = field(
        default_factory=lambda: tuple(SortedValues(_part(i)) for i in range(4))
    )
    recovery_values: SortedValues[Group, RecoveryTally] = field(
        default_factory=lambda: SortedValues(attrgetter("seconds"))
    )
    done_values: SortedValues[Cut, DoneTally] = field(
        default_factory=lambda: SortedValues(attrgetter("times"))
    )
    stream_values: SortedValues[Group, StreamTally] = field(
        default_factory=lambda: SortedValues(attrgetter("leads"))
    )

    def refresh(
        self,
        dora: DoraFacts,
        incident_fixes: IncidentFixes,
        flows: Sequence[ItemFlow],
        streams: Sequence[ItemStream],
        *,
        stage_labels: int,
    ) -> None:
        """Take the facts of a new computation (see :meth:`.days.DayTallies.refresh`)."""
        # a copy: the context tells whether the days must be tallied again
        self.outcomes.refresh(dora.outcomes, dict(incident_fixes))
        self.leads.refresh(dora.lead_times)
        self.recoveries.refresh(dora.outcomes)
        self.done.refresh(flows)
        self.streams.refresh(streams, kept_names(streams, stage_labels))
