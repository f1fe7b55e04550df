"""Change failure rate and failed deployment recovery time on worked examples.

Every expected number is computed by hand in the comment beside it.
"""

from __future__ import annotations

import pytest
from tests.builders import at, deployment, incident
from tests.metrics.helpers import (
    ATTEMPT_FAILURE_RATE,
    ATTEMPTS,
    DAY,
    FAILURE_RATE,
    NOW,
    RECOVERY,
    checkout,
    gauge,
    settings,
)

from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import labels
from streamgauge.model import Dataset, DeploymentKind, RunResult

FAILED = "streamgauge_failed_deployments_total"


def failure_story() -> Dataset:
    """Eight production deployments of checkout in the 7d window, four of which failed."""
    d1 = deployment(finished_at=at(days=24), native_id="d1")
    d2 = deployment(finished_at=at(days=25), native_id="d2")  # rolled back by d3
    d3 = deployment(finished_at=at(days=25, hours=1), kind=DeploymentKind.ROLLBACK, native_id="d3")
    d4 = deployment(finished_at=at(days=26), native_id="d4")  # followed by hotfix d5
    d5 = deployment(finished_at=at(days=26, hours=2), kind=DeploymentKind.HOTFIX, native_id="d5")
    d6 = deployment(finished_at=at(days=27), native_id="d6")  # incident names it
    d7 = deployment(finished_at=at(days=28), native_id="d7")  # incident inferred 2 h later
    d8 = deployment(finished_at=at(days=29, hours=12), native_id="d8")
    incidents = [
        incident(opened_at=at(days=29), resolved_at=at(days=29, hours=3), deployment_id=d6.id),
        incident(opened_at=at(days=28, hours=2), resolved_at=at(days=28, hours=5)),
        # day 23: no deployment in the 24 h before it -> unattributed, blames nothing
        incident(opened_at=at(days=23), resolved_at=at(days=23, hours=1)),
    ]
    return Dataset(deployments=[d8, d7, d6, d5, d4, d3, d2, d1], incidents=incidents)


def test_change_failure_rate_with_rollback_hotfix_and_incidents() -> None:
    snap = compute_all(failure_story(), now=NOW, settings=settings())
    # failed: d2 (next is a rollback), d4 (next is a hotfix), d6 (explicit incident),
    # d7 (incident inferred within 24 h); d1, d3, d5, d8 did not -> 4 / 8 = 0.5
    assert checkout(FAILURE_RATE, snap, "7d") == pytest.approx(0.5)
    assert gauge(snap, FAILURE_RATE, team="all", app="all", window="7d") == pytest.approx(0.5)


def test_recovery_time_by_incident_resolution() -> None:
    snap = compute_all(failure_story(), now=NOW, settings=settings())
    # d2 -> next good success d3 at day 25 01:00: 1 h = 3600
    # d4 -> next good success d5 at day 26 02:00: 2 h = 7200
    # d6 -> its incident resolved day 29 03:00: 2 d 3 h = 183600
    # d7 -> its incident resolved day 28 05:00: 5 h = 18000
    # sorted 3600, 7200, 18000, 183600 (h = 3p)
    #   p 0.5  -> h 1.5  -> 7200 + 0.5 * 10800    = 12600
    #   p 0.85 -> h 2.55 -> 18000 + 0.55 * 165600 = 109080
    #   p 0.95 -> h 2.85 -> 18000 + 0.85 * 165600 = 158760
    assert checkout(RECOVERY, snap, "7d", percentile="50") == pytest.approx(12600)
    assert checkout(RECOVERY, snap, "7d", percentile="85") == pytest.approx(109080)
    assert checkout(RECOVERY, snap, "7d", percentile="95") == pytest.approx(158760)


def test_recovery_time_by_next_success() -> None:
    snap = compute_all(
        failure_story(), now=NOW, settings=settings(metrics={"recovery": "next_success"})
    )
    # d2 -> d3: 3600; d4 -> d5: 7200
    # d6 -> d7 failed itself, so the next good one is d8 at day 29 12:00: 2.5 d = 216000
    # d7 -> d8: 1.5 d = 129600
    # sorted 3600, 7200, 129600, 216000 (h = 3p)
    #   p 0.5  -> h 1.5  -> 7200 + 0.5 * 122400   = 68400
    #   p 0.85 -> h 2.55 -> 129600 + 0.55 * 86400 = 177120
    #   p 0.95 -> h 2.85 -> 129600 + 0.85 * 86400 = 203040
    assert checkout(RECOVERY, snap, "7d", percentile="50") == pytest.approx(68400)
    assert checkout(RECOVERY, snap, "7d", percentile="85") == pytest.approx(177120)
    assert checkout(RECOVERY, snap, "7d", percentile="95") == pytest.approx(203040)


def test_failure_not_yet_recovered_has_no_recovery_time() -> None:
    failed = deployment(finished_at=at(days=29), result=RunResult.FAILURE)
    attempts_fail = settings(metrics={"failed_attempts_are_failures": True})
    snap = compute_all(Dataset(deployments=[failed]), now=NOW, settings=attempts_fail)
    # its failed job counts as a change failure here: 1 failed of 1 -> 1.0; nothing after it,
    # so no recovery and no recovery sample
    assert checkout(FAILURE_RATE, snap, "7d") == pytest.approx(1.0)
    assert snap.values(RECOVERY) == {}


def test_open_incident_keeps_a_failure_unrecovered_despite_a_later_success() -> None:
    # under metrics.recovery = incident_resolved; first_restoration is the next test
    blamed = deployment(finished_at=at(days=28))
    later = deployment(finished_at=at(days=29))
    still_open = incident(opened_at=at(days=28, hours=1), deployment_id=blamed.id)
    resolved_later = incident(
        opened_at=at(days=28, hours=2), resolved_at=at(days=31), deployment_id=blamed.id
    )  # resolved after now: still open now
    data = Dataset(deployments=[blamed, later], incidents=[still_open, resolved_later])
    resolved_rule = settings(metrics={"recovery": "incident_resolved"})
    assert compute_all(data, now=NOW, settings=resolved_rule).values(RECOVERY) == {}
    # under next_success the later deployment recovers it: day 28 -> day 29 = 86400
    snap = compute_all(data, now=NOW, settings=settings(metrics={"recovery": "next_success"}))
    assert checkout(RECOVERY, snap, "7d", percentile="50") == pytest.approx(DAY)


def test_first_restoration_ends_at_a_rollback_or_a_resolution_whichever_comes_first() -> None:
    # A deployment at day 28 00:00 causes an incident opened at 00:10.
    # Case 1: a rollback succeeds at 00:20 and the incident is closed at day 29 00:00.
    #   first_restoration: min(00:20, day 29) -> 20 min = 1200 s; incident_resolved: 86400 s.
    blamed = deployment(finished_at=at(days=28))
    rollback = deployment(finished_at=at(days=28, minutes=20), kind=DeploymentKind.ROLLBACK)
    inc = incident(
        opened_at=at(days=28, minutes=10), resolved_at=at(days=29), deployment_id=blamed.id
    )
    data = Dataset(deployments=[blamed, rollback], incidents=[inc])
    snap = compute_all(data, now=NOW, settings=settings())
    assert checkout(RECOVERY, snap, "7d", percentile="50") == pytest.approx(1200)
    resolved = compute_all(
        data, now=NOW, settings=settings(metrics={"recovery": "incident_resolved"})
    )
    assert checkout(RECOVERY, resolved, "7d", percentile="50") == pytest.approx(DAY)
    # Case 2: no rollback; the incident is closed at 06:00, the next success is day 29 00:00.
    #   first_restoration: min(day 29, 06:00) -> 6 h = 21600 s.
    later = deployment(finished_at=at(days=29))
    early = incident(
        opened_at=at(days=28, minutes=10), resolved_at=at(days=28, hours=6), deployment_id=blamed.id
    )
    snap = compute_all(
        Dataset(deployments=[blamed, later], incidents=[early]), now=NOW, settings=settings()
    )
    assert checkout(RECOVERY, snap, "7d", percentile="50") == pytest.approx(6 * 3600)


def test_incident_window_is_configurable() -> None:
    # incident 30 h after the only deployment: outside 24 h (not failed), inside 2 d (failed)
    d = deployment(finished_at=at(days=25))
    inc = incident(opened_at=at(days=26, hours=6))
    data = Dataset(deployments=[d], incidents=[inc])
    assert checkout(FAILURE_RATE, compute_all(data, now=NOW, settings=settings()), "7d") == 0.0
    wide = compute_all(data, now=NOW, settings=settings(metrics={"incident_window": "2d"}))
    assert checkout(FAILURE_RATE, wide, "7d") == 1.0


def attempts_story() -> Dataset:
    """Seven production deployments of checkout in the 7d window, two of whose jobs failed."""
    deployments = [
        deployment(finished_at=at(days=24), native_id="a1"),
        deployment(finished_at=at(days=25), result=RunResult.FAILURE, native_id="a2"),
        deployment(finished_at=at(days=25, minutes=30), native_id="a3"),  # the retry
        deployment(finished_at=at(days=26), native_id="a4"),  # the incident is inferred on it
        deployment(finished_at=at(days=27), result=RunResult.FAILURE, native_id="a5"),
        deployment(finished_at=at(days=27, hours=1), kind=DeploymentKind.ROLLBACK, native_id="a6"),
        deployment(finished_at=at(days=28), native_id="a7"),
    ]
    inc = incident(opened_at=at(days=26, hours=1), resolved_at=at(days=26, hours=4))
    return Dataset(deployments=deployments, incidents=[inc])


def test_a_failed_deployment_attempt_is_counted_on_its_own_and_is_no_change_failure() -> None:
    snap = compute_all(attempts_story(), now=NOW, settings=settings())
    # attempts: 7 ended, a2 and a5 failed -> 2 / 7, exported whatever the rule
    assert checkout(ATTEMPT_FAILURE_RATE, snap, "7d") == pytest.approx(2 / 7)
    assert snap.values(ATTEMPTS) == {labels(team="payments", app="checkout"): 2}
    # reached production: a1, a3, a4, a6, a7; failed: a4 (caused the incident) -> 1 / 5 = 0.2.
    # a5 is followed by the rollback a6, but never reached production: no change failure
    assert checkout(FAILURE_RATE, snap, "7d") == pytest.approx(0.2)
    # a4 recovers at the first restoration: the incident resolved day 26 04:00, before a4's
    # next good success a6 (day 27 01:00): day 26 00:00 -> 04:00 = 14400, the only recovery
    assert checkout(RECOVERY, snap, "7d", percentile="50") == pytest.approx(14400)
    failed = snap.values(FAILED)
    pair = {"team": "payments", "app": "checkout"}
    assert failed[labels(**pair, reason="result_failure")] == 0
    assert failed[labels(**pair, reason="rolled_back")] == 0
    assert failed[labels(**pair, reason="caused_incident")] == 1


def test_failed_attempts_are_failures_when_the_rule_says_so() -> None:
    rules = settings(metrics={"failed_attempts_are_failures": True})
    snap = compute_all(attempts_story(), now=NOW, settings=rules)
    # failed: a2 (result), a4 (incident), a5 (result, and rolled back by a6) -> 3 / 7
    assert checkout(FAILURE_RATE, snap, "7d") == pytest.approx(3 / 7)
    # the attempt rate does not depend on the rule: 2 / 7
    assert checkout(ATTEMPT_FAILURE_RATE, snap, "7d") == pytest.approx(2 / 7)
    # recoveries: a2 -> a3 (day 25 00:30) = 1800; a4 = 14400 as before; a5 -> a6 (day 27
    # 01:00) = 3600; sorted 1800, 3600, 14400 -> median 3600
    assert checkout(RECOVERY, snap, "7d", percentile="50") == pytest.approx(3600)
    failed = snap.values(FAILED)
    pair = {"team": "payments", "app": "checkout"}
    assert failed[labels(**pair, reason="result_failure")] == 2
    assert failed[labels(**pair, reason="rolled_back")] == 1
    assert failed[labels(**pair, reason="caused_incident")] == 1


def test_an_incident_naming_a_failed_attempt_is_counted_not_lost() -> None:
    # d1 succeeded day 25; d2's job failed day 26 and an incident opened an hour later names it
    d1 = deployment(finished_at=at(days=25), native_id="d1")
    d2 = deployment(finished_at=at(days=26), result=RunResult.FAILURE, native_id="d2")
    inc = incident(opened_at=at(days=26, hours=1), deployment_id=d2.id)
    data = Dataset(deployments=[d1, d2], incidents=[inc])
    quality = "streamgauge_data_quality_records"
    off = labels(team="payments", app="checkout", reason="incident_non_production")
    # by default d2 never reached production: no change failed, 0 / 1 (d1), and the incident
    # shows up as incident_non_production 1
    snap = compute_all(data, now=NOW, settings=settings())
    assert checkout(FAILURE_RATE, snap, "7d") == 0.0
    assert snap.values(quality)[off] == 1
    # with failed attempts as failures, d2 failed (its result and the incident): 1 / 2 = 0.5,
    # and the incident counts, so it is no data-quality problem
    rules = settings(metrics={"failed_attempts_are_failures": True})
    counted = compute_all(data, now=NOW, settings=rules)
    assert checkout(FAILURE_RATE, counted, "7d") == pytest.approx(0.5)
    assert counted.values(quality)[off] == 0
    reasons = counted.values(FAILED)
    assert reasons[labels(team="payments", app="checkout", reason="caused_incident")] == 1
