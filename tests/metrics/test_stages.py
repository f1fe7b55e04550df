"""The value-stream map on two items: stage times, process and wait, %C&A, lead time, efficiency.

Seen at day 30; both items are done in the 7d window (day 23, day 30]. Every expected number
is computed by hand in the comment beside it.
"""

from __future__ import annotations

import dataclasses

import pytest
from tests.builders import at, change, deployment, status_change, work_item
from tests.metrics.helpers import DAY, HOUR, NOW, checkout, gauge, settings

from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import Dataset, FlowState, FlowType, StatusChange, WorkItem

NEW, ACTIVE, WAITING, DONE = FlowState.NEW, FlowState.ACTIVE, FlowState.WAITING, FlowState.DONE
Step = tuple[float, str | None, FlowState]


def path(item: WorkItem, start: tuple[str, FlowState], *steps: Step) -> list[StatusChange]:
    """Status changes moving ``item`` from ``start`` through each (day, stage, state)."""
    out = []
    stage, state = start
    for day, to_stage, to_state in steps:
        out.append(
            status_change(
                item=item,
                at=at(days=day),
                from_state=state,
                to_state=to_state,
                from_stage=stage,
                to_stage=to_stage,
            )
        )
        stage, state = to_stage or "", to_state
    return out


def story() -> Dataset:
    # X goes back from test to dev, no change linked; created day 20 in backlog:
    #   backlog (new) 20-21: 1 d wait; dev (active) 21-22: 1 d process;
    #   test (waiting) 22-23: 1 d wait; dev (active) again 23-24: 1 d process;
    #   test (active) 24-25: 1 d process; done day 25.
    #   lead 5 d; process 3 d; dev and test visited twice -> neither C&A; backlog C&A
    x = work_item(created_at=at(days=20), key="PAY-1", flow_state=DONE)
    # Y: backlog 22-23 (1 d wait), dev from day 23, test day 25.5, done day 26; its change's
    #   first commit at 23.5 ends the tracker part: dev (active) 23-23.5 = 0.5 d process;
    #   then coding 23.5 -> opened 24 (0.5 d process), pickup -> review 24.25 (6 h wait),
    #   code_review -> merged 24.5 (6 h process), deploy -> production day 25 (0.5 d wait).
    #   lead 1 + 0.5 + 0.5 + 0.25 + 0.25 + 0.5 = 3 d; process 0.5 + 0.5 + 0.25 = 1.25 d.
    #   every stage it entered (backlog, dev, test, coding, pickup, code_review, deploy) is C&A
    y = work_item(created_at=at(days=22), key="PAY-2", type=FlowType.DEFECT, flow_state=DONE)
    history = [
        *path(
            x,
            ("backlog", NEW),
            (21, "dev", ACTIVE),
            (22, "test", WAITING),
            (23, "dev", ACTIVE),
            (24, "test", ACTIVE),
            (25, None, DONE),
        ),
        *path(y, ("backlog", NEW), (23, "dev", ACTIVE), (25.5, "test", ACTIVE), (26, None, DONE)),
    ]
    pr = change(
        created_at=at(days=24),
        first_commit_at=at(days=23, hours=12),
        first_review_at=at(days=24, hours=6),
        merged_at=at(days=24, hours=12),
        merge_sha="y1",
        work_item_keys=("PAY-2",),
    )
    shipped = deployment(finished_at=at(days=25), commit_shas=("y1",))
    return Dataset(work_items=[x, y], status_changes=history, changes=[pr], deployments=[shipped])


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return compute_all(story(), now=NOW, settings=settings())


def stage_time(snap: Snapshot, stage: str, part: str) -> float | None:
    name = "streamgauge_value_stream_stage_time_window_seconds"
    return checkout(name, snap, "7d", stage=stage, part=part)


def test_mean_stage_time_per_item_split_into_process_and_wait(snap: Snapshot) -> None:
    # means over the 2 items done in the window
    assert stage_time(snap, "backlog", "wait") == pytest.approx((1 + 1) * DAY / 2)
    assert stage_time(snap, "backlog", "process") == 0.0
    assert stage_time(snap, "dev", "process") == pytest.approx((2 + 0.5) * DAY / 2)
    assert stage_time(snap, "test", "wait") == pytest.approx(DAY / 2)
    assert stage_time(snap, "test", "process") == pytest.approx(DAY / 2)
    assert stage_time(snap, "coding", "process") == pytest.approx(12 * HOUR / 2)
    assert stage_time(snap, "pickup", "wait") == pytest.approx(6 * HOUR / 2)
    assert stage_time(snap, "code_review", "process") == pytest.approx(6 * HOUR / 2)
    assert stage_time(snap, "deploy", "wait") == pytest.approx(12 * HOUR / 2)


def test_complete_and_accurate_per_stage_and_rolled(snap: Snapshot) -> None:
    name = "streamgauge_value_stream_stage_complete_accurate_window_ratio"

    def ca(stage: str) -> float | None:
        return checkout(name, snap, "7d", stage=stage)

    assert ca("backlog") == 1.0  # both left forward
    assert ca("dev") == 0.5  # X came back to dev, Y did not
    assert ca("test") == 0.5  # X left test backwards, Y did not
    assert ca("coding") == ca("pickup") == ca("code_review") == ca("deploy") == 1.0  # Y only
    # rolled: 1 * 0.5 * 0.5 * 1 * 1 * 1 * 1 = 0.25
    rolled = "streamgauge_value_stream_complete_accurate_window_ratio"
    assert checkout(rolled, snap, "7d") == pytest.approx(0.25)


def test_stream_lead_time_and_efficiency(snap: Snapshot) -> None:
    lead = "streamgauge_value_stream_lead_time_window_seconds"
    # lead times 3 d and 5 d -> p0.5 = 4 d
    assert checkout(lead, snap, "7d", percentile="50") == pytest.approx(4 * DAY)
    # process 3 d + 1.25 d over lead 5 d + 3 d -> 4.25 / 8 = 0.53125
    efficiency = "streamgauge_value_stream_efficiency_window_ratio"
    assert checkout(efficiency, snap, "7d") == pytest.approx(0.53125)


def test_a_review_that_requests_changes_breaks_coding_and_review() -> None:
    data = story()
    data.changes = [dataclasses.replace(c, review_rounds=1) for c in data.changes]
    snap = compute_all(data, now=NOW, settings=settings())
    name = "streamgauge_value_stream_stage_complete_accurate_window_ratio"
    assert checkout(name, snap, "7d", stage="coding") == 0.0
    assert checkout(name, snap, "7d", stage="code_review") == 0.0
    assert checkout(name, snap, "7d", stage="pickup") == 1.0


def created(item: WorkItem, day: float, stage: str) -> StatusChange:
    """The status change that records ``item``'s creation: no status, state or stage before."""
    return status_change(item=item, at=at(days=day), to_state=NEW, to_stage=stage)


def test_creation_is_no_visit_and_done_is_forward() -> None:
    # Both items' histories start with their creation (no stage before it), no change linked.
    # A: created in backlog day 24, dev 25, test 26, done (no stage) day 27: every stage
    #   left forward -> backlog, dev, test all C&A. (Taking creation for a visit to "unmapped"
    #   and the unstaged done status for a return to it made test not C&A, and rolled 0.)
    # B: created in backlog day 24, dev 25, test 26, back to dev 27, done in stage "released"
    #   day 28: backlog C&A; dev entered twice -> not; test left backwards -> not; released is
    #   where it ended -> C&A.
    # Per stage over the items that entered it: backlog 2/2 = 1, dev 1/2, test 1/2,
    # released 1/1; rolled 1 * 0.5 * 0.5 * 1 = 0.25.
    a = work_item(created_at=at(days=24), key="PAY-3", flow_state=DONE)
    b = work_item(created_at=at(days=24), key="PAY-4", flow_state=DONE)
    history = [
        created(a, 24, "backlog"),
        *path(a, ("backlog", NEW), (25, "dev", ACTIVE), (26, "test", ACTIVE), (27, None, DONE)),
        created(b, 24, "backlog"),
        *path(
            b,
            ("backlog", NEW),
            (25, "dev", ACTIVE),
            (26, "test", ACTIVE),
            (27, "dev", ACTIVE),
            (28, "released", DONE),
        ),
    ]
    data = Dataset(work_items=[a, b], status_changes=history)
    snap = compute_all(data, now=NOW, settings=settings())
    name = "streamgauge_value_stream_stage_complete_accurate_window_ratio"
    assert checkout(name, snap, "7d", stage="backlog") == 1.0
    assert checkout(name, snap, "7d", stage="dev") == 0.5
    assert checkout(name, snap, "7d", stage="test") == 0.5
    assert checkout(name, snap, "7d", stage="released") == 1.0
    rolled = "streamgauge_value_stream_complete_accurate_window_ratio"
    assert checkout(rolled, snap, "7d") == pytest.approx(0.25)


def test_stages_come_in_stream_order_with_their_position(snap: Snapshot) -> None:
    order = "streamgauge_value_stream_stage_order"
    # both items first visit backlog (position 0 of their paths), dev (1), test (2); then
    # unmapped and other would come (4, 5: neither is shown here), then the delivery stages
    positions = {s: gauge(snap, order, **PAIR, stage=s) for s in _shown(snap)}
    assert positions == {
        "backlog": 1,
        "dev": 2,
        "test": 3,
        "coding": 6,
        "pickup": 7,
        "code_review": 8,
        "deploy": 9,
    }
    # the stage families are added in that order, not alphabetically
    name = "streamgauge_value_stream_stage_complete_accurate_window_ratio"
    added = [
        dict(s.labels)["stage"]
        for s in snap.samples
        if s.name == name
        and dict(s.labels)["window"] == "7d"
        and dict(s.labels)["app"] == "all"
        and dict(s.labels)["team"] == "all"
    ]
    assert added == ["backlog", "dev", "test", "coding", "pickup", "code_review", "deploy"]


def test_configured_stage_order_comes_first() -> None:
    configured = settings(metrics={"stage_order": ["test", "dev"]})
    snap = compute_all(story(), now=NOW, settings=configured)
    order = "streamgauge_value_stream_stage_order"
    # test and dev as configured, then backlog where the items reach it, then the delivery
    assert gauge(snap, order, **PAIR, stage="test") == 1
    assert gauge(snap, order, **PAIR, stage="dev") == 2
    assert gauge(snap, order, **PAIR, stage="backlog") == 3
    assert gauge(snap, order, **PAIR, stage="deploy") == 9


PAIR = {"team": "payments", "app": "checkout"}


def _shown(snap: Snapshot) -> set[str]:
    name = "streamgauge_value_stream_stage_order"
    return {dict(labels)["stage"] for labels in snap.values(name)}
