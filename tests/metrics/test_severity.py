"""`metrics.incident_min_severity` on a worked example: which incidents fail, recover and rework.

Every expected number is computed by hand in the comment beside it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.builders import at, change, deployment, incident
from tests.metrics.helpers import FAILURE_RATE, NOW, RECOVERY, checkout, gauge, settings

from streamgauge.config import Settings
from streamgauge.explain import explain
from streamgauge.linking import severe_enough
from streamgauge.metrics import compute_all, compute_facts
from streamgauge.metrics.incremental import Calculator
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import Dataset, Incident, Severity

REWORK = "streamgauge_deployment_rework_rate_window_ratio"
QUALITY = "streamgauge_data_quality_records"


def severity_story() -> Dataset:
    """Seven successful production deployments of checkout in the 7d window (day 23, day 30].

    d2 is blamed for a low incident (inferred), d3 for a critical one (inferred), d4 for one of
    unknown severity (named); d5 names the low incident as the one it fixes, d6 ships a change
    naming the critical one, d7 a change naming the unknown one. No rollback, no hotfix.
    """
    low = incident(
        opened_at=at(days=25, hours=1),
        resolved_at=at(days=25, hours=3),
        native_id="a",
        severity=Severity.LOW,
    )
    critical = incident(
        opened_at=at(days=26, hours=2),
        resolved_at=at(days=26, hours=6),
        native_id="b",
        severity=Severity.CRITICAL,
    )
    d4 = deployment(finished_at=at(days=27), native_id="d4")
    unknown = incident(
        opened_at=at(days=27, hours=1),
        resolved_at=at(days=27, hours=2),
        deployment_id=d4.id,
        native_id="c",
        severity=Severity.UNKNOWN,
    )
    deployments = [
        deployment(finished_at=at(days=24), native_id="d1"),
        deployment(finished_at=at(days=25), native_id="d2"),
        deployment(finished_at=at(days=26), native_id="d3"),
        d4,
        deployment(finished_at=at(days=28), native_id="d5", incident_keys=("INC-a",)),
        deployment(finished_at=at(days=29), native_id="d6", commit_shas=("fix-b",)),
        deployment(finished_at=at(days=29, hours=12), native_id="d7", commit_shas=("fix-c",)),
    ]
    changes = [
        change(
            created_at=at(days=28),
            merged_at=at(days=28, hours=6),
            merge_sha="fix-b",
            work_item_keys=("INC-b",),
        ),
        change(
            created_at=at(days=29),
            merged_at=at(days=29, hours=6),
            merge_sha="fix-c",
            work_item_keys=("INC-c",),
        ),
    ]
    return Dataset(deployments=deployments, changes=changes, incidents=[low, critical, unknown])


def at_least(severity: str) -> Settings:
    return settings(metrics={"incident_min_severity": severity})


def quality(snap: Snapshot, reason: str) -> float | None:
    return gauge(snap, QUALITY, team="payments", app="checkout", reason=reason)


def test_severities_are_ordered_with_unknown_lowest() -> None:
    ordered = [Severity.UNKNOWN, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
    assert sorted(Severity, key=lambda s: s.rank) == ordered
    medium = incident(opened_at=at(days=1), severity=Severity.MEDIUM)
    assert severe_enough(medium, Severity.UNKNOWN)
    assert severe_enough(medium, Severity.MEDIUM)
    assert not severe_enough(medium, Severity.HIGH)


def test_by_default_every_severity_counts() -> None:
    snap = compute_all(severity_story(), now=NOW, settings=settings())
    # failed: d2 (low), d3 (critical), d4 (unknown) -> 3 / 7
    assert checkout(FAILURE_RATE, snap, "7d") == pytest.approx(3 / 7)
    # first restoration; the next good success of d2, d3 and d4 is d5 (day 28), later than
    # each resolution: d2 day 25 00:00 -> 03:00 = 10800; d3 day 26 00:00 -> 06:00 = 21600;
    # d4 day 27 00:00 -> 02:00 = 7200; sorted 7200, 10800, 21600 -> median 10800
    assert checkout(RECOVERY, snap, "7d", percentile="50") == pytest.approx(10800)
    # rework: d5 fixes INC-a, d6 ships INC-b's fix, d7 ships INC-c's fix -> 3 / 7
    assert checkout(REWORK, snap, "7d") == pytest.approx(3 / 7)
    assert quality(snap, "incident_below_min_severity") == 0


def test_min_severity_high_counts_only_the_critical_incident() -> None:
    snap = compute_all(severity_story(), now=NOW, settings=at_least("high"))
    # only INC-b (critical) reaches high: d3 failed; d2 (low) and d4 (unknown) did not -> 1 / 7
    assert checkout(FAILURE_RATE, snap, "7d") == pytest.approx(1 / 7)
    # d3's next good success is now d4 (day 27 00:00), later than INC-b's resolution at day 26
    # 06:00: 6 h = 21600, the only recovery
    assert checkout(RECOVERY, snap, "7d", percentile="50") == pytest.approx(21600)
    # rework: d5 fixes a low incident (no), d6 ships INC-b's fix (yes), d7 ships a fix of an
    # unknown one (no) -> 1 / 7
    assert checkout(REWORK, snap, "7d") == pytest.approx(1 / 7)
    # INC-a and INC-c are set aside with their reason, not unattributed
    assert quality(snap, "incident_below_min_severity") == 2
    assert quality(snap, "incident_unattributed") == 0


def test_unknown_orders_below_low() -> None:
    snap = compute_all(severity_story(), now=NOW, settings=at_least("low"))
    # low and critical count, unknown does not: d2 and d3 failed -> 2 / 7
    assert checkout(FAILURE_RATE, snap, "7d") == pytest.approx(2 / 7)
    # d5 (fixes INC-a, low) and d6 (INC-b) are rework, d7 (INC-c, unknown) is not -> 2 / 7
    assert checkout(REWORK, snap, "7d") == pytest.approx(2 / 7)
    assert quality(snap, "incident_below_min_severity") == 1  # INC-c


def test_explain_lists_incidents_below_the_threshold_beside_their_deployment() -> None:
    rules = at_least("high")
    facts = compute_facts(severity_story(), now=NOW, settings=rules)
    found = explain(facts, "change_failure_rate", rules, window="7d")
    rows = {row["deployment"].split(":")[-1]: row for row in found.rows}
    assert rows["d2"]["below_min_severity"] == "INC-a (low)"
    assert rows["d4"]["below_min_severity"] == "INC-c (unknown)"
    assert (rows["d3"]["incidents"], rows["d3"]["why"]) == ("INC-b", "caused_incident")
    assert not rows["d2"]["failed"]
    assert not rows["d4"]["failed"]
    assert found.summary["change_failure_rate_ratio"] == pytest.approx(1 / 7)
    quality_rows = explain(facts, "data_quality", rules).rows
    below = sorted(
        r["record"] for r in quality_rows if r["reason"] == "incident_below_min_severity"
    )
    assert below == ["test:incident:a", "test:incident:c"]


def test_an_update_that_raises_a_severity_follows_the_rule() -> None:
    rules = at_least("high")
    data = severity_story()
    calculator = Calculator(rules)
    calculator.load(data)
    calculator.snapshot(NOW)
    (unknown,) = [i for i in data.incidents if i.key == "INC-c"]
    raised: Incident = replace(unknown, severity=Severity.CRITICAL)
    calculator.upsert([raised])
    snap = calculator.snapshot(NOW)
    # INC-c is critical now: d3 and d4 failed -> 2 / 7; d7 ships its fix: d6, d7 -> 2 / 7
    assert checkout(FAILURE_RATE, snap, "7d") == pytest.approx(2 / 7)
    assert checkout(REWORK, snap, "7d") == pytest.approx(2 / 7)
    assert quality(snap, "incident_below_min_severity") == 1  # INC-a only
    fresh = compute_all(calculator.dataset(), now=NOW, settings=rules)
    assert snap.values(FAILURE_RATE) == fresh.values(FAILURE_RATE)
    assert snap.values(REWORK) == fresh.values(REWORK)
