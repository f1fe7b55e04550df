"""Governance evidence by hand: deployments that shipped unreviewed, unlinked or pushed work.

Every expected number is computed by hand in the comment beside it.
"""

from __future__ import annotations

import pytest
from tests.builders import at, change, commit, deployment, work_item
from tests.metrics.helpers import NOW, checkout, gauge, settings

from streamgauge.explain import explain
from streamgauge.metrics import compute_all, compute_facts
from streamgauge.model import Dataset, RunResult

RATIO = "streamgauge_governance_deployments_window_ratio"
COUNTER = "streamgauge_governance_deployments_total"


def story() -> Dataset:
    """Six production deployments of checkout; NOW is day 30, 7d = (day 23, day 30].

    * D0, day 10: ships E (#5, no approval, links PAY-1): unreviewed; in 30d only.
    * D1, day 24: ships A (#1, approved before its merge, links PAY-1): clean.
    * D2, day 25: ships B (#2, never approved, links PAY-1) and C (#3, approved only after its merge,
      links NOPE-9, which is no stored item): unreviewed (B and C) and unlinked (C), counted
      once for each kind.
    * D3, day 26: ships commit p1, which no change lists: a direct push.
    * D4, day 27: ships a1 again, already shipped by D1: nothing new, clean.
    * D5, day 28: its job failed, so it shipped nothing and is no deployment of the share.
    """
    item = work_item(created_at=at(days=1), key="PAY-1")
    e = change(
        created_at=at(days=8),
        merged_at=at(days=9),
        merge_sha="e1",
        work_item_keys=("PAY-1",),
        native_id=5,
    )
    a = change(
        created_at=at(days=20),
        approved_at=at(days=20, hours=5),
        merged_at=at(days=21),
        merge_sha="a1",
        work_item_keys=("PAY-1",),
        native_id=1,
    )
    b = change(
        created_at=at(days=22),
        merged_at=at(days=23),
        merge_sha="b1",
        work_item_keys=("PAY-1",),
        native_id=2,
    )
    c = change(
        created_at=at(days=22),
        merged_at=at(days=23, hours=1),
        approved_at=at(days=23, hours=5),
        merge_sha="c1",
        work_item_keys=("NOPE-9",),
        native_id=3,
    )
    pushed = commit(sha="p1", authored_at=at(days=25, hours=20))
    deployments = [
        deployment(finished_at=at(days=10), commit_shas=("e1",), native_id="d0"),
        deployment(finished_at=at(days=24), commit_shas=("a1",), native_id="d1"),
        deployment(finished_at=at(days=25), commit_shas=("b1", "c1"), native_id="d2"),
        deployment(finished_at=at(days=26), commit_shas=("p1",), native_id="d3"),
        deployment(finished_at=at(days=27), commit_shas=("a1",), native_id="d4"),
        deployment(
            finished_at=at(days=28), commit_shas=("a1",), result=RunResult.FAILURE, native_id="d5"
        ),
    ]
    return Dataset(
        work_items=[item], changes=[e, a, b, c], commits=[pushed], deployments=deployments
    )


def test_shares_and_counters_of_each_kind() -> None:
    snap = compute_all(story(), now=NOW, settings=settings())
    # 7d: D1, D2, D3, D4 = 4 deployments; unreviewed D2 -> 1/4, unlinked D2 -> 1/4,
    # direct push D3 -> 1/4
    for kind in ("unreviewed", "unlinked", "direct_push"):
        assert checkout(RATIO, snap, "7d", kind=kind) == pytest.approx(0.25)
    # 30d: D0 too = 5; unreviewed D0 and D2 -> 2/5 = 0.4; unlinked 1/5; direct push 1/5
    assert checkout(RATIO, snap, "30d", kind="unreviewed") == pytest.approx(0.4)
    assert checkout(RATIO, snap, "30d", kind="unlinked") == pytest.approx(0.2)
    assert checkout(RATIO, snap, "30d", kind="direct_push") == pytest.approx(0.2)
    # the team and the organisation hold only checkout: the same 2/5
    assert gauge(
        snap, RATIO, team="all", app="all", window="30d", kind="unreviewed"
    ) == pytest.approx(0.4)
    # whole history: unreviewed D0, D2 = 2; unlinked D2 = 1; direct push D3 = 1
    counters = {
        kind: gauge(snap, COUNTER, team="payments", app="checkout", kind=kind)
        for kind in ("unreviewed", "unlinked", "direct_push")
    }
    assert counters == {"unreviewed": 2, "unlinked": 1, "direct_push": 1}


def test_no_deployment_in_the_window_gives_no_share() -> None:
    # only D0 (day 10): the 7d window holds no deployment, so no 7d share at all (not a 0 that
    # would read as "all reviewed"); 30d: 1 of 1 unreviewed
    only = Dataset(changes=story().changes[:1], deployments=story().deployments[:1])
    snap = compute_all(only, now=NOW, settings=settings())
    assert checkout(RATIO, snap, "7d", kind="unreviewed") is None
    assert checkout(RATIO, snap, "30d", kind="unreviewed") == 1.0
    # E names PAY-1, which is not stored here: unlinked as well
    assert checkout(RATIO, snap, "30d", kind="unlinked") == 1.0


def test_explain_lists_each_deployment_and_the_changes_at_fault() -> None:
    facts = compute_facts(story(), now=NOW, settings=settings())
    found = explain(facts, "governance", settings(), team="payments", window="7d")
    by_id = {r["deployment"].rsplit(":", 1)[1]: r for r in found.rows}
    assert list(by_id) == ["d1", "d2", "d3", "d4"]  # finish order; D0 is older, D5 failed
    assert by_id["d2"]["unreviewed"] == "acme/checkout#2, acme/checkout#3"  # B and C
    assert by_id["d2"]["unlinked"] == "acme/checkout#3"  # C
    assert by_id["d3"]["direct_push"] == "p1"
    assert by_id["d4"]["shipped"] == ""  # a1 was D1's
    assert found.summary["deployments"] == 4
    assert found.summary["unreviewed_ratio"] == 0.25
    # the counter's explanation is the same one
    same = explain(facts, "streamgauge_governance_deployments_total", settings(), window="7d")
    assert same.metric == "governance"


def test_a_deployment_on_the_window_start_is_out_and_one_at_now_is_in() -> None:
    # 7d = (day 23, day 30]: a direct push shipped exactly at day 23 is out, one at day 30 in
    pushes = [commit(sha="p0", authored_at=at(days=22)), commit(sha="p9", authored_at=at(days=29))]
    deployments = [
        deployment(finished_at=at(days=23), commit_shas=("p0",), native_id="edge"),
        deployment(finished_at=NOW, commit_shas=("p9",), native_id="now"),
        deployment(finished_at=at(days=26), native_id="plain"),
    ]
    snap = compute_all(
        Dataset(commits=pushes, deployments=deployments), now=NOW, settings=settings()
    )
    # 7d: "now" and "plain" = 2 deployments, 1 direct push -> 1/2
    assert checkout(RATIO, snap, "7d", kind="direct_push") == 0.5
    # 30d: all 3, 2 direct pushes -> 2/3
    assert checkout(RATIO, snap, "30d", kind="direct_push") == pytest.approx(2 / 3)
