"""Flow numbers of the small fake project, synced on Cloud and Data Center, checked by hand."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.connectors.jira.conftest import NOW, jira_config
from tests.fakes.jira import FakeJira

from streamgauge.config import Settings
from streamgauge.connectors.jira import JiraConnector
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import labels
from streamgauge.store import Store
from streamgauge.sync import sync_source


def test_flow_load_and_flow_time_through_the_calculator(
    fake: FakeJira, make_connector: Callable[..., JiraConnector], sqlite_store: Store
) -> None:
    settings = Settings(
        teams={"payments": {"projects": ["PAY"]}},
        windows=["30d"],
        sources=[jira_config(fake)],
    )
    assert sync_source(make_connector(fake, settings), sqlite_store, clock=lambda: NOW).ok
    snap = compute_all(sqlite_store.load_dataset(), now=NOW, settings=settings)
    team = {"team": "payments", "app": "all"}

    # Flow load now (10 Mar 12:00): PAY-2 is a Bug (defect), In Progress (active); PAY-3 is a
    # Story (feature), Blocked (waiting). Nothing else is in progress: load 2.
    load = {
        (dict(k)["type"], dict(k)["flow_state"]): v
        for k, v in snap.values("streamgauge_flow_load").items()
        if dict(k)["team"] == "payments" and dict(k)["app"] == "all" and v
    }
    assert load == {("defect", "active"): 1, ("feature", "waiting"): 1}

    # Flow time of the items done in the 30 days before 10 Mar 12:00:
    #   PAY-5 (Incident -> defect) 6 Mar 01:00 -> 05:00      =  14,400 s
    #   PAY-6 (Story)              1 Mar 01:00 -> 3 Mar 12:00 = 212,400 s
    #   PAY-1 (Story)              2 Mar 09:00 -> 5 Mar 09:00 = 259,200 s
    # Median (type 7) of the three = 212,400 s. Features alone: [212,400, 259,200], median
    # = (212,400 + 259,200) / 2 = 235,800 s.
    flow_time = snap.values("streamgauge_flow_time_window_seconds")
    assert flow_time[labels(**team, window="30d", type="all", percentile="50")] == pytest.approx(
        212_400
    )
    assert flow_time[
        labels(**team, window="30d", type="feature", percentile="50")
    ] == pytest.approx(235_800)
    # Velocity: 3 items done in 30 days = 3 / (30 / 7) = 0.7 per week.
    velocity = snap.values("streamgauge_flow_velocity_window_per_week")
    assert velocity[labels(**team, window="30d", type="all")] == pytest.approx(0.7)
