"""Velocity, flow time, efficiency, distribution, work-item age and the SLE on a worked example.

Eight work items of team payments, app checkout, seen at day 30 (windows 7d = (day 23, day 30],
30d = (day 0, day 30]). Every expected number is computed by hand in the comment beside it.
"""

from __future__ import annotations

import pytest
from tests.builders import at, status_change, work_item
from tests.metrics.helpers import DAY, NOW, checkout, gauge, settings

from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import Snapshot, labels
from streamgauge.model import Dataset, FlowState, FlowType, StatusChange, WorkItem

NEW, ACTIVE, WAITING, DONE = FlowState.NEW, FlowState.ACTIVE, FlowState.WAITING, FlowState.DONE


def moves(item: WorkItem, *steps: tuple[float, FlowState, FlowState]) -> list[StatusChange]:
    return [status_change(item=item, at=at(days=d), from_state=a, to_state=b) for d, a, b in steps]


def story() -> Dataset:
    # A feature: active day 12, waiting 14, active 15, done 17: flow 5 d, active 2 + 2 = 4 d
    a = work_item(created_at=at(days=10), flow_state=DONE)
    # B defect: waiting day 24, active 25, done 27: flow 3 d, active 2 d, waiting 1 d
    b = work_item(created_at=at(days=20), type=FlowType.DEFECT, flow_state=DONE)
    # C feature, sent back from waiting to active: active 23.5, waiting 25, active 26, done 28:
    #   flow 4.5 d = 388800 s, active 1.5 + 2 = 3.5 d, waiting 1 d
    c = work_item(created_at=at(days=20), flow_state=DONE)
    # D debt, still open: active since day 6 -> age 24 d = 2073600 s, over the 10 d SLE
    d = work_item(created_at=at(days=5), type=FlowType.DEBT, flow_state=ACTIVE)
    # E feature, still open: waiting since day 29 -> age 1 d
    e = work_item(created_at=at(days=28), flow_state=WAITING)
    # F risk, new: neither in progress nor done
    f = work_item(created_at=at(days=29), type=FlowType.RISK)
    # G feature, done without a status history: started day 2, done day 26 -> flow 24 d;
    #   its active time is unknown, so efficiency leaves it out
    g = work_item(
        created_at=at(days=1), flow_state=DONE, started_at=at(days=2), done_at=at(days=26)
    )
    # H feature, canceled day 24: not done, not in progress
    h = work_item(created_at=at(days=21), flow_state=FlowState.CANCELED)
    history = [
        *moves(
            a, (12, NEW, ACTIVE), (14, ACTIVE, WAITING), (15, WAITING, ACTIVE), (17, ACTIVE, DONE)
        ),
        *moves(b, (24, NEW, WAITING), (25, WAITING, ACTIVE), (27, ACTIVE, DONE)),
        *moves(
            c, (23.5, NEW, ACTIVE), (25, ACTIVE, WAITING), (26, WAITING, ACTIVE), (28, ACTIVE, DONE)
        ),
        *moves(d, (6, NEW, ACTIVE)),
        *moves(e, (29, NEW, WAITING)),
        *moves(h, (22, NEW, ACTIVE), (24, ACTIVE, FlowState.CANCELED)),
    ]
    return Dataset(work_items=[a, b, c, d, e, f, g, h], status_changes=history)


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return compute_all(story(), now=NOW, settings=settings())


def test_velocity_by_type(snap: Snapshot) -> None:
    name = "streamgauge_flow_velocity_window_per_week"
    # 7d: done B (day 27), C (28), G (26) -> 3 a week; features C, G -> 2; defect B -> 1
    assert checkout(name, snap, "7d", type="all") == pytest.approx(3.0)
    assert checkout(name, snap, "7d", type="feature") == pytest.approx(2.0)
    assert checkout(name, snap, "7d", type="defect") == pytest.approx(1.0)
    assert checkout(name, snap, "7d", type="risk") == 0.0
    # 30d adds A: 4 items over 30/7 weeks = 0.9333; features A, C, G: 3 * 7 / 30 = 0.7
    assert checkout(name, snap, "30d", type="all") == pytest.approx(4 * 7 / 30)
    assert checkout(name, snap, "30d", type="feature") == pytest.approx(0.7)


def test_flow_time_quantiles_and_sle(snap: Snapshot) -> None:
    name = "streamgauge_flow_time_window_seconds"
    # 7d flow times sorted: B 3 d = 259200, C 4.5 d = 388800, G 24 d = 2073600
    #   p0.5 -> 388800; p0.85 h=1.7 -> 388800 + 0.7 * (2073600 - 388800) = 1568160
    assert checkout(name, snap, "7d", type="all", percentile="50") == pytest.approx(388800)
    assert checkout(name, snap, "7d", type="all", percentile="85") == pytest.approx(1568160)
    assert checkout(name, snap, "7d", type="defect", percentile="50") == pytest.approx(3 * DAY)
    # within the 10 d SLE: B and C, not G -> 2/3
    within = "streamgauge_flow_time_within_sle_window_ratio"
    assert checkout(within, snap, "7d", type="all") == pytest.approx(2 / 3)
    key = {"team": "payments", "app": "checkout"}
    assert gauge(snap, "streamgauge_work_item_age_sle_seconds", **key) == 10 * DAY
    assert gauge(snap, "streamgauge_work_item_age_sle_ratio", team="all", app="all") == 0.85


def test_flow_efficiency_from_the_status_history(snap: Snapshot) -> None:
    name = "streamgauge_flow_efficiency_window_ratio"
    # 7d: B active 2 of 3 d, C 3.5 of 4.5 d; G unknown -> 5.5 / 7.5 = 0.7333
    assert checkout(name, snap, "7d", type="all") == pytest.approx(5.5 / 7.5)
    # 30d adds A, active 4 of 5 d -> (4 + 2 + 3.5) / (5 + 3 + 4.5) = 9.5 / 12.5 = 0.76
    assert checkout(name, snap, "30d", type="all") == pytest.approx(0.76)
    # features in 30d: A 4/5, C 3.5/4.5 -> 7.5 / 9.5
    assert checkout(name, snap, "30d", type="feature") == pytest.approx(7.5 / 9.5)


def test_flow_distribution_done_and_in_progress(snap: Snapshot) -> None:
    done = "streamgauge_flow_distribution_window_ratio"
    # 7d done: 2 features, 1 defect of 3
    assert checkout(done, snap, "7d", type="feature") == pytest.approx(2 / 3)
    assert checkout(done, snap, "7d", type="defect") == pytest.approx(1 / 3)
    assert checkout(done, snap, "7d", type="debt") == 0.0
    now = "streamgauge_flow_distribution_in_progress_ratio"
    # in progress now: D (debt) and E (feature) -> a half each
    assert gauge(snap, now, team="payments", app="checkout", type="debt") == 0.5
    assert gauge(snap, now, team="payments", app="checkout", type="feature") == 0.5
    assert gauge(snap, now, team="payments", app="checkout", type="risk") == 0.0


def test_work_item_age_oldest_and_over_sle(snap: Snapshot) -> None:
    key = {"team": "payments", "app": "checkout"}
    # ages: E 1 d = 86400, D 24 d = 2073600; p0.5 = (86400 + 2073600) / 2 = 1080000
    assert gauge(snap, "streamgauge_work_item_age_seconds", **key, type="all", percentile="50") == (
        pytest.approx(1080000)
    )
    assert gauge(snap, "streamgauge_work_item_age_oldest_seconds", **key, type="all") == (
        pytest.approx(24 * DAY)
    )
    over = "streamgauge_work_items_over_sle"
    assert gauge(snap, over, **key, type="all") == 1  # D: 24 d > 10 d
    assert gauge(snap, over, **key, type="debt") == 1
    assert gauge(snap, over, **key, type="feature") == 0  # E: 1 d
    # no risk item in progress: no age quantile, no oldest
    assert gauge(snap, "streamgauge_work_item_age_oldest_seconds", **key, type="risk") is None


def test_done_counter_and_flow_time_histogram(snap: Snapshot) -> None:
    done = snap.values("streamgauge_flow_items_done_total")
    assert done[labels(team="payments", app="checkout", type="feature")] == 3  # A, C, G
    assert done[labels(team="payments", app="checkout", type="defect")] == 1  # B
    (h,) = [
        h
        for h in snap.histograms
        if h.name == "streamgauge_flow_time_seconds"
        and h.labels == labels(team="payments", app="checkout", type="feature")
    ]
    # features: C 4.5 d and A 5 d in le=7d, G 24 d in le=30d
    assert h.counts == (0, 0, 0, 0, 0, 0, 2, 2, 3, 3, 3, 3)
    assert h.sum == pytest.approx((4.5 + 5 + 24) * DAY)


def test_an_empty_window_has_zero_velocity_and_no_quantiles() -> None:
    item = work_item(created_at=at(days=1), flow_state=DONE)
    data = Dataset(
        work_items=[item], status_changes=moves(item, (2, NEW, ACTIVE), (3, ACTIVE, DONE))
    )
    snap = compute_all(data, now=NOW, settings=settings())
    assert checkout("streamgauge_flow_velocity_window_per_week", snap, "7d", type="all") == 0.0
    assert (
        checkout("streamgauge_flow_time_window_seconds", snap, "7d", type="all", percentile="50")
        is None
    )
    assert checkout("streamgauge_flow_efficiency_window_ratio", snap, "7d", type="all") is None
    # 30d holds it: flow 1 d, all of it active -> efficiency 1
    assert checkout("streamgauge_flow_efficiency_window_ratio", snap, "30d", type="all") == 1.0
