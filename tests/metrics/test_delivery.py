"""Deployment days, lead-time parts, direct pushes, rework rate and recovery history, by hand.

Every expected number is computed by hand in the comment beside it.
"""

from __future__ import annotations

import pytest
from tests.builders import at, change, commit, deployment, incident
from tests.metrics.helpers import ATTEMPTS, DAY, LEAD_TIME, NOW, checkout, settings

from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.model import Dataset, DeploymentKind, RunResult

DAYS = "streamgauge_deployment_day_window_ratio"
PARTS = "streamgauge_change_lead_time_part_window_seconds"
REWORK = "streamgauge_deployment_rework_rate_window_ratio"
FAILED = "streamgauge_failed_deployments_total"


def test_deployment_days_count_dates_with_a_success() -> None:
    deployments = [
        deployment(finished_at=at(days=24, hours=1)),  # 2026-01-25
        deployment(finished_at=at(days=24, hours=15)),  # 2026-01-25 again: same day
        deployment(finished_at=at(days=26, hours=10)),  # 2026-01-27
        deployment(finished_at=at(days=27), result=RunResult.FAILURE),  # a failure: no day
        deployment(finished_at=at(days=29, hours=23)),  # 2026-01-30
        deployment(finished_at=at(days=10)),  # 2026-01-11: 30d only
    ]
    snap = compute_all(Dataset(deployments=deployments), now=NOW, settings=settings())
    # 7d: 3 distinct dates of the window's 7 days -> 3 / 7 = 0.4286 (3 days a week)
    assert checkout(DAYS, snap, "7d") == pytest.approx(3 / 7)
    # 30d: 4 dates of 30 days -> 4 / 30 = 0.1333
    assert checkout(DAYS, snap, "30d") == pytest.approx(4 / 30)


def parts_story() -> Dataset:
    # A: first commit day 20 00:00, opened 06:00, first review 10:00, merged day 21, deployed
    #    day 24: coding 6 h = 21600, pickup 4 h = 14400, review 14 h = 50400,
    #    deploy 3 d = 259200; lead time 4 d = 345600 = the sum of its parts
    a = change(
        created_at=at(days=20, hours=6),
        first_commit_at=at(days=20),
        first_review_at=at(days=20, hours=10),
        merged_at=at(days=21),
        merge_sha="a1",
        commit_shas=("a0",),
    )
    # B: no review: first commit day 22 00:00, opened 02:00, merged 12:00, deployed day 24:
    #    coding 2 h = 7200, pickup (to the merge) 10 h = 36000, review 0, deploy 1.5 d = 129600
    b = change(
        created_at=at(days=22, hours=2),
        first_commit_at=at(days=22),
        merged_at=at(days=22, hours=12),
        merge_sha="b1",
    )
    commits = [
        commit(sha="a0", authored_at=at(days=20)),  # part of A: not a direct push
        commit(sha="a1", authored_at=at(days=21), parents=("a0", "m0")),  # A's merge commit
        # p1: pushed straight to main day 23 12:00, shipped day 24 -> a change of its own,
        #     lead time 0.5 d = 43200, all of it deploy
        commit(sha="p1", authored_at=at(days=23, hours=12)),
    ]
    shipped = deployment(finished_at=at(days=24), commit_shas=("a1", "b1", "p1"))
    return Dataset(changes=[a, b], commits=commits, deployments=[shipped])


def test_lead_time_parts_add_up_and_direct_pushes_count() -> None:
    snap = compute_all(parts_story(), now=NOW, settings=settings())

    def part(name: str, q: str) -> float | None:
        return checkout(PARTS, snap, "7d", part=name, percentile=q)

    # coding [21600, 7200, 0] sorted [0, 7200, 21600]; p0.5 h=1 -> 7200;
    #   p0.85 h=1.7 -> 7200 + 0.7 * 14400 = 17280
    assert part("coding", "50") == pytest.approx(7200)
    assert part("coding", "85") == pytest.approx(17280)
    # pickup [14400, 36000, 0] -> p0.5 = 14400
    assert part("pickup", "50") == pytest.approx(14400)
    # review [50400, 0, 0] sorted [0, 0, 50400]; p0.5 = 0; p0.95 h=1.9 -> 0.9 * 50400 = 45360
    assert part("review", "50") == 0.0
    assert part("review", "95") == pytest.approx(45360)
    # deploy [259200, 129600, 43200] -> p0.5 = 129600
    assert part("deploy", "50") == pytest.approx(129600)
    # lead times [345600, 172800, 43200]: the direct push is the third; p0.5 = 172800
    assert checkout(LEAD_TIME, snap, "7d", percentile="50") == pytest.approx(2 * DAY)
    (h,) = [h for h in snap.histograms if h.name == "streamgauge_change_lead_time_seconds"]
    assert h.count == 3
    assert h.sum == pytest.approx(345600 + 172800 + 43200)


def test_rework_rate_counts_hotfixes_rollbacks_and_incident_fixes() -> None:
    fix = change(
        created_at=at(days=27),
        merged_at=at(days=27, hours=6),
        merge_sha="fix1",
        work_item_keys=("INC-77",),
    )
    deployments = [
        deployment(finished_at=at(days=10)),  # planned, 30d only
        deployment(finished_at=at(days=24)),  # planned
        deployment(finished_at=at(days=25), kind=DeploymentKind.HOTFIX),  # rework: hotfix
        deployment(finished_at=at(days=26), kind=DeploymentKind.ROLLBACK),  # rework: rollback
        deployment(finished_at=at(days=27), incident_keys=("INC-9",)),  # rework: fixes INC-9
        deployment(finished_at=at(days=28), commit_shas=("fix1",)),  # rework: ships INC-77 fix
        deployment(finished_at=at(days=29), result=RunResult.FAILURE),  # failed, but planned
    ]
    # the incident is another app's, so it blames none of these deployments
    inc = incident(opened_at=at(days=26, hours=12), native_id="77", app="ledger")
    data = Dataset(deployments=deployments, changes=[fix], incidents=[inc])
    snap = compute_all(data, now=NOW, settings=settings())
    # 7d: 6 deployments ended (days 24..29), 4 unplanned -> 4 / 6
    assert checkout(REWORK, snap, "7d") == pytest.approx(4 / 6)
    # 30d: day 10 adds a planned one -> 4 / 7
    assert checkout(REWORK, snap, "30d") == pytest.approx(4 / 7)


def recovery_histogram(snap: Snapshot) -> HistogramSample:
    (h,) = [
        h
        for h in snap.histograms
        if h.name == "streamgauge_failed_deployment_recovery_time_seconds"
    ]
    return h


def test_recovery_histogram_and_failed_deployments_by_reason() -> None:
    deployments = [
        # f1's job failed: a failed attempt. Only under metrics.failed_attempts_are_failures is
        # it a change failure, recovered by the next success d2 30 min later -> 1800 s
        deployment(finished_at=at(days=24), result=RunResult.FAILURE, native_id="f1"),
        deployment(finished_at=at(days=24, minutes=30), native_id="d2"),
        # f3 was rolled back by d4, which ended 2 h later -> recovered in 7200 s
        deployment(finished_at=at(days=25), native_id="f3"),
        deployment(finished_at=at(days=25, hours=2), kind=DeploymentKind.ROLLBACK, native_id="d4"),
    ]
    pair = {"team": "payments", "app": "checkout"}
    # by default: one failure (f3) with one recovery, 7200 s
    snap = compute_all(Dataset(deployments=deployments), now=NOW, settings=settings())
    h = recovery_histogram(snap)
    # buckets 300 900 1800 3600 4h 12h 1d 7d 30d: 7200 is in le=4h
    assert h.counts == (0, 0, 0, 0, 1, 1, 1, 1, 1)
    assert (h.count, h.sum) == (1, 7200)
    failed = snap.values(FAILED)
    assert failed[labels(**pair, reason="result_failure")] == 0
    assert failed[labels(**pair, reason="rolled_back")] == 1
    assert failed[labels(**pair, reason="followed_by_hotfix")] == 0
    assert failed[labels(**pair, reason="caused_incident")] == 0
    assert snap.values(ATTEMPTS) == {labels(**pair): 1}  # f1
    # failed attempts are failures: f1 recovered in 1800 s (le=1800) and f3 in 7200 s (le=4h)
    counted = settings(metrics={"failed_attempts_are_failures": True})
    snap = compute_all(Dataset(deployments=deployments), now=NOW, settings=counted)
    h = recovery_histogram(snap)
    assert h.counts == (0, 0, 1, 1, 2, 2, 2, 2, 2)
    assert (h.count, h.sum) == (2, 1800 + 7200)
    failed = snap.values(FAILED)
    assert failed[labels(**pair, reason="result_failure")] == 1
    assert failed[labels(**pair, reason="rolled_back")] == 1
    assert snap.values(ATTEMPTS) == {labels(**pair): 1}  # a failed attempt either way


def test_lead_time_parts_end_at_the_deployment_that_shipped_the_change() -> None:
    # A branch deployment: first commit 08:00, opened 09:00, first review 10:00, merged 12:00,
    # its commit deployed to production at 11:00 on day 25. Lead time = 11:00 - 08:00 = 10800 s.
    # Parts cut at the deployment: coding 08:00 -> 09:00 = 3600, pickup 09:00 -> 10:00 = 3600,
    # review 10:00 -> 11:00 (the merge at 12:00 came after the deployment) = 3600, deploy 0;
    # 3600 + 3600 + 3600 + 0 = 10800, the lead time. The change is flagged for its late merge.
    pr = change(
        first_commit_at=at(days=25, hours=8),
        created_at=at(days=25, hours=9),
        first_review_at=at(days=25, hours=10),
        merged_at=at(days=25, hours=12),
        merge_sha="b1",
    )
    shipped = deployment(finished_at=at(days=25, hours=11), commit_shas=("b1",))
    snap = compute_all(Dataset(changes=[pr], deployments=[shipped]), now=NOW, settings=settings())

    def part(name: str) -> float | None:
        return checkout(PARTS, snap, "7d", part=name, percentile="50")

    assert checkout(LEAD_TIME, snap, "7d", percentile="50") == pytest.approx(10800)
    assert part("coding") == pytest.approx(3600)
    assert part("pickup") == pytest.approx(3600)
    assert part("review") == pytest.approx(3600)
    assert part("deploy") == 0.0
    problems = snap.values("streamgauge_data_quality_records")
    assert problems[labels(team="all", app="all", reason="negative_span")] == 1
