"""Facts made through their slots are the facts their dataclass makes, every field alike."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest
from tests.builders import at, change, deployment, status_change, work_item

from streamgauge.metrics.deployments import DeploymentOutcome, _new_outcome
from streamgauge.metrics.items import ItemFlow, _new_flow
from streamgauge.metrics.leadtime import LeadTime, _new_lead_time
from streamgauge.metrics.stages import PROCESS, WAIT, ItemStream, _new_stream
from streamgauge.model import FlowState

ITEM = work_item(created_at=at())
MOVE = status_change(item=ITEM, at=at(days=1), to_state=FlowState.ACTIVE)
PAIR = ("payments", "checkout")


def same_fields(made: Any, built: Any) -> None:
    assert type(made) is type(built)
    for f in fields(built):  # compare=False fields too
        assert getattr(made, f.name) == getattr(built, f.name), f.name
    assert made == built


@pytest.mark.parametrize(
    "args",
    [
        # done 2 days after it started: flow_seconds 2 days
        (ITEM, PAIR, FlowState.DONE, at(days=1), at(days=3), 3600.0, 169200.0, (MOVE,)),
        # done without a start: 0; done before its start (bad data): 0, never negative
        (ITEM, PAIR, FlowState.DONE, None, at(days=3), None, None, ()),
        (ITEM, PAIR, FlowState.DONE, at(days=4), at(days=3), 0.0, 0.0, (MOVE,)),
        # in progress: no flow_seconds
        (ITEM, PAIR, FlowState.ACTIVE, at(days=1), None, 60.0, 0.0, (MOVE,)),
    ],
)
def test_flows(args: tuple[Any, ...]) -> None:
    same_fields(_new_flow(*args), ItemFlow(*args))


def test_streams() -> None:
    flow = ItemFlow(ITEM, PAIR, FlowState.DONE, at(days=1), at(days=3), 0.0, 0.0, (MOVE,))
    # lead 100 + 20 + 3 = 123 s, of which process 100 + 3; stages dev, review and deploy
    times = {("dev", PROCESS): 100.0, ("review", WAIT): 20.0, ("deploy", PROCESS): 3.0}
    accurate = {"dev": True, "review": False, "qa": True}
    names = frozenset(["dev", "review", "deploy", "qa"])
    made = _new_stream(flow, dict(times), dict(accurate), (), names)
    same_fields(made, ItemStream(flow, dict(times), dict(accurate), ()))
    assert (made.lead_seconds, made.process_seconds) == (123.0, 103.0)
    assert made.names == {"dev", "review", "deploy", "qa"}


def test_lead_times_and_outcomes() -> None:
    pr = change(created_at=at(), merged_at=at(hours=2), merge_sha="m")
    shipped = deployment(finished_at=at(days=1), commit_shas=("m",))
    lead = (pr, shipped, at(), at(days=1), 86400.0, PAIR, (0.0, 60.0, 7140.0, 79200.0))
    same_fields(_new_lead_time(*lead), LeadTime(*lead))
    same_fields(
        _new_outcome(shipped, PAIR, at(days=1)), DeploymentOutcome(shipped, PAIR, at(days=1))
    )
    failed = (shipped, PAIR, at(days=1), ("rolled_back",), at(days=2))
    same_fields(_new_outcome(*failed), DeploymentOutcome(*failed))
