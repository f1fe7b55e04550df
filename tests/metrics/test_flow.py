"""Flow load on a worked example: items in progress now, by flow item type and flow state."""

from __future__ import annotations

from tests.builders import at, status_change, work_item

from streamgauge.config import Settings
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import Snapshot, labels
from streamgauge.model import Dataset, FlowState, FlowType

NOW = at(days=30)
LOAD = "streamgauge_flow_load"
ACTIVE, WAITING, NEW, DONE = FlowState.ACTIVE, FlowState.WAITING, FlowState.NEW, FlowState.DONE


def settings() -> Settings:
    return Settings(teams={"payments": {"apps": ["checkout"]}, "search": {"apps": ["indexer"]}})


def load(snap: Snapshot, team: str, app: str, type: str, state: str) -> float | None:
    return snap.values(LOAD).get(labels(team=team, app=app, type=type, flow_state=state))


def example() -> Dataset:
    feature_a = work_item(created_at=at(days=1), flow_state=ACTIVE)
    feature_b = work_item(created_at=at(days=2), flow_state=ACTIVE)
    defect_waiting = work_item(created_at=at(days=3), type=FlowType.DEFECT, flow_state=WAITING)
    risk_new = work_item(created_at=at(days=4), type=FlowType.RISK, flow_state=NEW)
    debt_done = work_item(created_at=at(days=5), type=FlowType.DEBT, flow_state=DONE)
    # done today, but only after now (day 35): at now it was still active
    feature_done_later = work_item(created_at=at(days=6), flow_state=DONE)
    # moved to active only after now: at now it was still where that move started, waiting
    debt_moves_later = work_item(created_at=at(days=7), type=FlowType.DEBT, flow_state=ACTIVE)
    # created after now: does not exist yet
    future = work_item(created_at=at(days=31), flow_state=ACTIVE)
    # another team, one active risk
    search_risk = work_item(
        created_at=at(days=8), type=FlowType.RISK, flow_state=ACTIVE, team="search", app="indexer"
    )
    history = [
        status_change(
            item=feature_done_later, at=at(days=6, hours=1), from_state=NEW, to_state=WAITING
        ),
        status_change(item=feature_done_later, at=at(days=9), from_state=WAITING, to_state=ACTIVE),
        status_change(item=feature_done_later, at=at(days=35), from_state=ACTIVE, to_state=DONE),
        status_change(item=debt_moves_later, at=at(days=32), from_state=WAITING, to_state=ACTIVE),
    ]
    items = [
        feature_a,
        feature_b,
        defect_waiting,
        risk_new,
        debt_done,
        feature_done_later,
        debt_moves_later,
        future,
        search_risk,
    ]
    return Dataset(work_items=items, status_changes=history)


def test_flow_load_by_type_and_state() -> None:
    snap = compute_all(example(), now=NOW, settings=settings())
    # payments/checkout at now:
    #   feature active: feature_a, feature_b, feature_done_later (active since day 9) = 3
    #   defect waiting: defect_waiting = 1
    #   debt waiting: debt_moves_later (its move to active is on day 32) = 1
    #   risk_new (new) and debt_done (done) are not in progress; `future` does not exist yet
    assert load(snap, "payments", "checkout", "feature", "active") == 3
    assert load(snap, "payments", "checkout", "defect", "waiting") == 1
    assert load(snap, "payments", "checkout", "debt", "waiting") == 1
    assert load(snap, "payments", "checkout", "debt", "active") == 0
    assert load(snap, "payments", "checkout", "risk", "active") == 0
    # the organisation adds search's active risk: 3 + 1 + 1 + 1 = 6 items in progress
    assert load(snap, "all", "all", "risk", "active") == 1
    org = {k: v for k, v in snap.values(LOAD).items() if dict(k)["team"] == "all"}
    assert sum(org.values()) == 6


def test_every_group_gets_all_types_and_states_with_zeros() -> None:
    snap = compute_all(example(), now=NOW, settings=settings())
    # groups: all/all, payments/all, payments/checkout, search/all, search/indexer = 5,
    # each with 4 types x 2 states = 8 series -> 40 samples
    series = snap.values(LOAD)
    assert len(series) == 40
    assert load(snap, "search", "indexer", "feature", "waiting") == 0
    # only the two in-progress states are exposed
    assert {dict(k)["flow_state"] for k in series} == {"active", "waiting"}


def test_later_moment_sees_later_states() -> None:
    # at day 33: debt_moves_later is active (moved day 32), `future` exists and is active
    snap = compute_all(example(), now=at(days=33), settings=settings())
    assert load(snap, "payments", "checkout", "debt", "waiting") == 0
    assert load(snap, "payments", "checkout", "debt", "active") == 1
    # feature: feature_a, feature_b, feature_done_later (done only on day 35), future = 4
    assert load(snap, "payments", "checkout", "feature", "active") == 4


def test_no_work_items_means_no_flow_series() -> None:
    assert compute_all(Dataset(), now=NOW, settings=settings()).values(LOAD) == {}
