"""An item's value stream, read from the facts: a tracker stage named like a delivery stage.

Some trackers name a status "coding" or "deploy": the time in it and the time in the delivery
stage of that name add up in one stage, whichever part of the map it came from.
"""

from __future__ import annotations

from tests.builders import at, change, deployment, status_change, work_item
from tests.metrics.helpers import DAY, HOUR, NOW, settings

from streamgauge.metrics import compute_facts
from streamgauge.model import Dataset, FlowState

NEW, ACTIVE, DONE = FlowState.NEW, FlowState.ACTIVE, FlowState.DONE


def story(tracker_stage: str) -> Dataset:
    # Created day 20 in backlog (new); day 21 into ``tracker_stage`` (active); done day 24.
    # Its change: first commit day 21.5 (the tracker part ends there), opened day 22, first
    # review 22.25, merged 22.5, in production day 23.
    item = work_item(created_at=at(days=20), key="PAY-7", flow_state=DONE)
    moves = [
        status_change(
            item=item,
            at=at(days=21),
            from_state=NEW,
            to_state=ACTIVE,
            from_stage="backlog",
            to_stage=tracker_stage,
        ),
        status_change(
            item=item,
            at=at(days=24),
            from_state=ACTIVE,
            to_state=DONE,
            from_stage=tracker_stage,
            to_stage=None,
        ),
    ]
    pr = change(
        created_at=at(days=22),
        first_commit_at=at(days=21, hours=12),
        first_review_at=at(days=22, hours=6),
        merged_at=at(days=22, hours=12),
        merge_sha="z1",
        work_item_keys=("PAY-7",),
    )
    shipped = deployment(finished_at=at(days=23), commit_shas=("z1",))
    return Dataset(work_items=[item], status_changes=moves, changes=[pr], deployments=[shipped])


def test_a_tracker_stage_and_the_delivery_stage_of_its_name_add_up() -> None:
    (stream,) = compute_facts(story("coding"), now=NOW, settings=settings()).streams
    # backlog 20-21 wait; "coding" 21-21.5 active (process) in the tracker, then coding 21.5-22
    # in delivery: 0.5 d + 0.5 d; pickup 22-22.25; code_review 22.25-22.5; deploy 22.5-23
    assert stream.times == {
        ("backlog", "wait"): DAY,
        ("coding", "process"): DAY,
        ("pickup", "wait"): 6 * HOUR,
        ("code_review", "process"): 6 * HOUR,
        ("deploy", "wait"): 12 * HOUR,
    }
    assert stream.lead_seconds == 3 * DAY  # 1 + 1 + 0.25 + 0.25 + 0.5
    assert stream.process_seconds == DAY + 6 * HOUR
    assert stream.names == {"backlog", "coding", "pickup", "code_review", "deploy"}


def test_a_tracker_stage_of_its_own_name_stays_apart() -> None:
    (stream,) = compute_facts(story("dev"), now=NOW, settings=settings()).streams
    assert stream.times == {
        ("backlog", "wait"): DAY,
        ("dev", "process"): 12 * HOUR,
        ("coding", "process"): 12 * HOUR,
        ("pickup", "wait"): 6 * HOUR,
        ("code_review", "process"): 6 * HOUR,
        ("deploy", "wait"): 12 * HOUR,
    }
    assert stream.lead_seconds == 3 * DAY
    assert stream.names == {"backlog", "dev", "coding", "pickup", "code_review", "deploy"}
