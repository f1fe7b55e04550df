"""Deployment frequency, change lead time and the deployments counter on worked examples.

Every expected number is computed by hand in the comment beside it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.builders import at, change, deployment
from tests.metrics.helpers import (
    ATTEMPT_FAILURE_RATE,
    DAY,
    FAILURE_RATE,
    FREQUENCY,
    HOUR,
    LEAD_TIME,
    NOW,
    checkout,
    gauge,
    lead_time_histogram,
    settings,
)

from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import labels
from streamgauge.model import Dataset, Environment, RunResult


def test_deployment_frequency_and_counter_by_result() -> None:
    deployments = [
        deployment(finished_at=at(days=10)),  # in 30d only
        deployment(finished_at=at(days=25)),
        deployment(finished_at=at(days=27)),
        deployment(finished_at=at(days=29)),
        deployment(finished_at=at(days=28), result=RunResult.FAILURE),
        deployment(finished_at=at(days=26), result=RunResult.CANCELED),
        deployment(finished_at=None, started_at=at(days=29, hours=23)),  # running: not counted
        deployment(finished_at=at(days=28), environment=Environment.STAGING),  # not production
        deployment(finished_at=at(days=31)),  # after now: not yet happened
    ]
    snap = compute_all(Dataset(deployments=deployments), now=NOW, settings=settings())
    # successful production deployments: 7d -> days 25, 27, 29 = 3 -> 3 / 7 = 0.428571 per day
    assert checkout(FREQUENCY, snap, "7d") == pytest.approx(3 / 7)
    # 30d -> days 10, 25, 27, 29 = 4 -> 4 / 30 = 0.1333 per day
    assert checkout(FREQUENCY, snap, "30d") == pytest.approx(4 / 30)
    # the team and the whole organisation see the same single app
    assert gauge(snap, FREQUENCY, team="payments", app="all", window="7d") == pytest.approx(3 / 7)
    assert gauge(snap, FREQUENCY, team="all", app="all", window="7d") == pytest.approx(3 / 7)
    # counter over the whole history: success 4, failure 1, canceled 1 (running skipped)
    counter = snap.values("streamgauge_deployments_total")
    assert counter == {
        labels(team="payments", app="checkout", result="success"): 4.0,
        labels(team="payments", app="checkout", result="failure"): 1.0,
        labels(team="payments", app="checkout", result="canceled"): 1.0,
    }
    # failure rate 7d: ended in window = 25, 26 (canceled), 27, 28 (failure), 29 = 5; day 28's
    #   job failed, so it is a failed attempt, not a change that reached production: 0 of the
    #   other 4 failed -> 0 / 4 = 0.0; 30d adds day 10 -> 0 / 5 = 0.0
    assert checkout(FAILURE_RATE, snap, "7d") == 0.0
    assert checkout(FAILURE_RATE, snap, "30d") == 0.0
    # attempts: 1 failed of the 5 ended in 7d -> 0.2; of the 6 ended in 30d -> 1 / 6
    assert checkout(ATTEMPT_FAILURE_RATE, snap, "7d") == pytest.approx(0.2)
    assert checkout(ATTEMPT_FAILURE_RATE, snap, "30d") == pytest.approx(1 / 6)
    # with metrics.failed_attempts_are_failures the failed job is a change failure again:
    #   7d 1 / 5 = 0.2; 30d 1 / 6
    counted = compute_all(
        Dataset(deployments=deployments),
        now=NOW,
        settings=settings(metrics={"failed_attempts_are_failures": True}),
    )
    assert checkout(FAILURE_RATE, counted, "7d") == pytest.approx(0.2)
    assert checkout(FAILURE_RATE, counted, "30d") == pytest.approx(1 / 6)


def test_lead_time_of_changes_shipped_together_and_in_two_deployments() -> None:
    first = deployment(finished_at=at(days=24), commit_shas=("a1", "b1", "c1"))
    second = deployment(finished_at=at(days=26), commit_shas=("c2", "c3", "d1", "f1"))
    changes = [
        # A: first commit day 22, shipped by `first` (day 24) -> 2 d = 172800 s
        change(
            created_at=at(days=22, hours=2),
            first_commit_at=at(days=22),
            merged_at=at(days=23),
            merge_sha="a1",
        ),
        # B: no first commit known -> from creation day 23 to day 24 -> 1 d = 86400 s
        change(created_at=at(days=23), merged_at=at(days=23, hours=5), commit_shas=("b1",)),
        # C: c1 shipped day 24, c2 and the merge c3 day 26: the first deployment counts
        #    -> day 21 to day 24 = 3 d = 259200 s
        change(
            created_at=at(days=21),
            first_commit_at=at(days=21),
            merged_at=at(days=25),
            merge_sha="c3",
            commit_shas=("c1", "c2"),
        ),
        # D: first commit day 25 12:00, shipped day 26 -> 0.5 d = 43200 s
        change(
            created_at=at(days=25, hours=12),
            first_commit_at=at(days=25, hours=12),
            merged_at=at(days=25, hours=20),
            merge_sha="d1",
        ),
        # E: merged, never deployed -> no lead time
        change(created_at=at(days=20), merged_at=at(days=21), merge_sha="e1"),
        # F: first commit 300 days earlier: above max_lead_time (180 d) -> left out
        change(
            created_at=at(days=-300),
            first_commit_at=at(days=-300),
            merged_at=at(days=25),
            merge_sha="f1",
        ),
        # G: still open although its commit was deployed -> not a merged change
        change(created_at=at(days=20), commit_shas=("a1",)),
    ]
    snap = compute_all(
        Dataset(deployments=[first, second], changes=changes), now=NOW, settings=settings()
    )
    # 7d lead times sorted: 43200, 86400, 172800, 259200 (n = 4, h = 3p)
    #   p 0.5  -> h 1.5  -> 86400 + 0.5 * 86400   = 129600
    #   p 0.85 -> h 2.55 -> 172800 + 0.55 * 86400 = 220320
    #   p 0.95 -> h 2.85 -> 172800 + 0.85 * 86400 = 246240
    assert checkout(LEAD_TIME, snap, "7d", percentile="50") == pytest.approx(129600)
    assert checkout(LEAD_TIME, snap, "7d", percentile="85") == pytest.approx(220320)
    assert checkout(LEAD_TIME, snap, "7d", percentile="95") == pytest.approx(246240)
    # histogram, buckets 1h 4h 12h 1d 2d 4d 7d ...: 43200 is in le=12h (a bound includes its
    # value), 86400 in le=1d, 172800 in le=2d, 259200 in le=4d; cumulative 1, 2, 3, 4 from there
    h = lead_time_histogram(snap)
    assert h.labels == labels(team="payments", app="checkout")
    assert h.counts == (0, 0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4)
    assert h.count == 4
    assert h.sum == pytest.approx(43200 + 86400 + 172800 + 259200)


def test_lead_time_window_counts_changes_by_deployment_time() -> None:
    # deployed day 20: outside 7d (day 23, 30], inside 30d; 5 h from first commit -> 18000 s
    d = deployment(finished_at=at(days=20), commit_shas=("x",))
    c = change(created_at=at(days=19, hours=19), merged_at=at(days=19, hours=20), merge_sha="x")
    snap = compute_all(Dataset(deployments=[d], changes=[c]), now=NOW, settings=settings())
    assert checkout(LEAD_TIME, snap, "7d", percentile="50") is None
    assert checkout(LEAD_TIME, snap, "30d", percentile="50") == pytest.approx(5 * HOUR)


def test_empty_window_has_frequency_zero_and_no_ratio_or_quantiles() -> None:
    d = deployment(finished_at=at(days=10), commit_shas=("x",), result=RunResult.SUCCESS)
    c = change(created_at=at(days=9), merged_at=at(days=9, hours=1), merge_sha="x")
    snap = compute_all(Dataset(deployments=[d], changes=[c]), now=NOW, settings=settings())
    # 7d holds nothing: 0 per day, no failure rate (not 0/0), no lead-time quantile
    assert checkout(FREQUENCY, snap, "7d") == 0.0
    assert checkout(FAILURE_RATE, snap, "7d") is None
    assert checkout(LEAD_TIME, snap, "7d", percentile="50") is None
    # 30d holds the deployment: 1 / 30 per day, 0 failed of 1, lead time 1 d
    assert checkout(FREQUENCY, snap, "30d") == pytest.approx(1 / 30)
    assert checkout(FAILURE_RATE, snap, "30d") == 0.0
    assert checkout(LEAD_TIME, snap, "30d", percentile="50") == pytest.approx(DAY)


def test_no_data_at_all_still_reports_the_organisation_frequency() -> None:
    snap = compute_all(Dataset(), now=NOW, settings=settings())
    assert snap.values(FREQUENCY) == {
        labels(team="all", app="all", window="7d"): 0.0,
        labels(team="all", app="all", window="30d"): 0.0,
    }
    assert snap.values(FAILURE_RATE) == {}
    assert snap.histograms == []


def test_unknown_teams_and_apps_fold_into_other_before_grouping() -> None:
    deployments = [
        deployment(finished_at=at(days=25)),  # payments / checkout: allowed
        deployment(finished_at=at(days=26), team="search", app="indexer"),  # neither configured
        deployment(finished_at=at(days=27), team=None, app=None),
        deployment(finished_at=at(days=28), app="ledger", result=RunResult.FAILURE),
    ]
    snap = compute_all(Dataset(deployments=deployments), now=NOW, settings=settings())
    counter = snap.values("streamgauge_deployments_total")
    # search/indexer and None/None both become other/other: 2 successes
    assert counter[labels(team="other", app="other", result="success")] == 2.0
    # payments keeps its team, the unlisted app folds: payments/other
    assert counter[labels(team="payments", app="other", result="failure")] == 1.0
    assert not any(dict(k)["team"] == "search" or dict(k)["app"] == "indexer" for k in counter)
    # ledger's job failed: a failed attempt, folded into payments/other too. Failed attempts:
    #   team payments (any app) 1 of 2 -> 0.5; whole organisation 1 of 4 -> 0.25
    assert gauge(snap, ATTEMPT_FAILURE_RATE, team="payments", app="all", window="7d") == 0.5
    assert gauge(snap, ATTEMPT_FAILURE_RATE, team="all", app="all", window="7d") == 0.25
    assert gauge(snap, ATTEMPT_FAILURE_RATE, team="other", app="other", window="7d") == 0.0
    # no change that reached production failed: payments 0 / 1, organisation 0 / 3
    assert gauge(snap, FAILURE_RATE, team="payments", app="all", window="7d") == 0.0
    assert gauge(snap, FAILURE_RATE, team="all", app="all", window="7d") == 0.0


def test_label_allow_list_overrides_the_configured_names() -> None:
    d = deployment(finished_at=at(days=25), team="search", app="indexer")
    snap = compute_all(
        Dataset(deployments=[d]),
        now=NOW,
        settings=settings(labels={"teams": ["search"], "apps": ["indexer"]}),
    )
    # 1 success in 7 days -> 1/7 per day, under the allowed values themselves
    assert gauge(snap, FREQUENCY, team="search", app="indexer", window="7d") == pytest.approx(1 / 7)


def test_max_lead_time_is_configurable() -> None:
    d = deployment(finished_at=at(days=25), commit_shas=("x",))
    c = change(created_at=at(days=15), merged_at=at(days=16), merge_sha="x")  # 10 d = 864000 s
    data = Dataset(deployments=[d], changes=[c])
    short = compute_all(data, now=NOW, settings=settings(metrics={"max_lead_time": "7d"}))
    assert lead_time_histogram(short).count == 0  # 10 d > 7 d: left out
    default = compute_all(data, now=NOW, settings=settings())
    assert lead_time_histogram(default).sum == pytest.approx(10 * DAY)


def test_window_edges_exclude_the_start_and_include_now() -> None:
    at_start = deployment(finished_at=NOW - timedelta(days=7))  # exactly 7 d ago: out of 7d
    at_now = deployment(finished_at=NOW)  # exactly now: in
    snap = compute_all(Dataset(deployments=[at_start, at_now]), now=NOW, settings=settings())
    assert checkout(FREQUENCY, snap, "7d") == pytest.approx(1 / 7)
