"""Fixtures for the Jira connector: a small hand-made project, the fake in both modes, connectors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.fakes.jira import FakeJira, FakeProjectData

from streamgauge.config import Settings
from streamgauge.connectors.base import RetryPolicy
from streamgauge.connectors.jira import JiraConnector
from streamgauge.connectors.jira.config import JiraConfig

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time in March 2024, UTC."""
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def small_project() -> FakeProjectData:
    """Nine issues of project PAY; the tests' comments work out their numbers by hand."""
    data = FakeProjectData()
    # PAY-1: started 2 Mar 09:00, done 5 Mar 09:00.
    data.add_issue(
        "PAY",
        type="Story",
        created=at(1, 9),
        path=[(at(2, 9), "In Progress"), (at(3, 9), "In Review"), (at(5, 9), "Done")],
    )
    # PAY-2: active now (back in progress after a block).
    data.add_issue(
        "PAY",
        type="Bug",
        created=at(1, 10),
        path=[(at(4, 10), "In Progress"), (at(6, 10), "Blocked"), (at(7, 10), "In Progress")],
    )
    # PAY-3: waiting now (Blocked is a waiting status).
    data.add_issue("PAY", type="Story", created=at(2, 8), path=[(at(3, 8), "Blocked")])
    # PAY-4: canceled without ever starting.
    data.add_issue("PAY", type="Task", created=at(2, 12), path=[(at(4, 12), "Canceled")])
    # PAY-5: an incident, Highest priority, worked 01:00 -> 05:00 on 6 Mar.
    data.add_issue(
        "PAY",
        type="Incident",
        created=at(6, 0),
        priority="Highest",
        components=["billing"],
        path=[(at(6, 1), "In Progress"), (at(6, 5), "Done")],
    )
    # PAY-6: 60 status changes and 50 other changes: 110 histories, more than the 100 inlined.
    # Hours 1..59 alternate In Progress (odd) / In Review (even); hour 60 (3 Mar 12:00) Done.
    path = [
        (at(1) + timedelta(hours=h), "In Progress" if h % 2 else "In Review") for h in range(1, 60)
    ]
    data.add_issue(
        "PAY", type="Story", created=at(1), path=[*path, (at(3, 12), "Done")], other_changes=50
    )
    # PAY-7: still to do.
    data.add_issue("PAY", type="Story", created=at(8))
    # PAY-8: moved to "Parked", a status of no category that no rule maps.
    data.add_issue("PAY", type="Spike", created=at(8), path=[(at(8, 6), "Parked")])
    # PAY-9: Jira answers a `created` that is no timestamp: skipped and counted.
    data.add_issue("PAY", type="Story", created=at(9), malformed=True)
    return data


class Sleeps(list[float]):
    """Records the back-off sleeps instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(params=["cloud", "datacenter"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fake(mode: str) -> Iterator[FakeJira]:
    with FakeJira(small_project(), mode=mode, time_zone="America/New_York") as server:  # type: ignore[arg-type]
        yield server


def jira_config(server: FakeJira, **extra: Any) -> JiraConfig:
    auth: dict[str, Any] = (
        {"email": server.email, "api_token": server.api_token}
        if server.cloud
        else {"token": server.pat}
    )
    values: dict[str, Any] = {
        "name": "jira",
        "type": "jira",
        "url": server.url,
        "projects": ["PAY"],
    }
    values.update(auth)
    values.update(extra)
    return JiraConfig(**values)


@pytest.fixture
def make_connector(sleeps: Sleeps) -> Callable[..., JiraConnector]:
    def make(server: FakeJira, settings: Settings | None = None, **extra: Any) -> JiraConnector:
        config = jira_config(server, **extra)
        settings = settings or Settings(sources=[config])
        return JiraConnector(
            config,
            settings,
            clock=lambda: NOW,
            sleep=sleeps,
            policy=RetryPolicy(attempts=6, base_delay=0.01, max_delay=5),
        )

    return make
