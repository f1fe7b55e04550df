"""Fixtures for the Jenkins connector: a small hand-made controller, the fake, connectors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.fakes.jenkins import MULTIBRANCH, PIPELINE, TOKEN, USER, FakeJenkins, Instance

from streamgauge.config import Settings
from streamgauge.connectors.jenkins import JenkinsConfig, JenkinsConnector

NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
Factory = Callable[..., JenkinsConnector]
CHECKOUT_RULE = {"job": "payments/deploy", "parameter": "ENVIRONMENT=production", "app": "checkout"}
SETTINGS = Settings(teams={"payments": {"apps": ["checkout"]}}, windows=["7d", "30d"])


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time in March 2025, UTC."""
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def small_instance() -> Instance:
    """Folders, a multibranch project and a parameterized deploy job; test_jenkins_metrics.py
    works out its numbers by hand."""
    jenkins = Instance()
    payments = jenkins.folder("payments")
    deploy = payments.job("deploy", remote="https://github.com/acme/checkout.git")
    prod, staging = {"ENVIRONMENT": "production"}, {"ENVIRONMENT": "staging"}
    # #1: production, 4 Mar 10:00-10:10, success; ships PAY-1's commits of 3 Mar 09:00 and 10:00
    one = deploy.build(
        at(4, 10),
        minutes=10,
        params=prod,
        commits=[("PAY-1 refunds", at(3, 9)), ("PAY-1 tests", at(3, 10))],
    )
    # #2: staging, 5 Mar 09:00, the same sha again: not a production deployment
    deploy.build(at(5, 9), minutes=10, params=staging, sha=one.sha, cause="user")
    # #3: production, 6 Mar 08:00-08:10, FAILURE; its changeSet holds the commit of 5 Mar 08:00
    deploy.build(
        at(6, 8), minutes=10, result="FAILURE", params=prod, commits=[("PAY-2 receipts", at(5, 8))]
    )
    # #4: production, 6 Mar 09:00-09:10, success; commit of 6 Mar 08:30 (and #3's, carried)
    deploy.build(at(6, 9), minutes=10, params=prod, commits=[("PAY-3 fix receipts", at(6, 8, 30))])
    # #5: production, started 31 Mar 11:30, still running
    deploy.build(at(31, 11, 30), result=None, params=prod, cause="user")
    checkout = payments.multibranch("checkout")
    main = checkout.job("main")
    main.build(at(3, 11), minutes=4)
    main.build(at(5, 8, 30), minutes=4, result="FAILURE")
    checkout.job("feature/PAY-4").build(at(31, 11), result=None, cause="branch")
    tools = jenkins.folder("platform").folder("tools")
    tools.job("lint", PIPELINE).build(at(2, 9), minutes=2, result="UNSTABLE", cause="timer")
    tools.job("never-built")
    assert checkout.cls == MULTIBRANCH
    return jenkins


@pytest.fixture
def fake_small() -> Iterator[FakeJenkins]:
    fake = FakeJenkins(small_instance()).start()
    yield fake
    fake.stop()


def jenkins_config(fake: FakeJenkins, **overrides: Any) -> JenkinsConfig:
    values: dict[str, Any] = {
        "name": "jenkins",
        "url": fake.url,
        "user": USER,
        "api_token": TOKEN,
        "history": "365d",
        "backoff": 0.01,
        "timeout": 5,
        "deployments": [CHECKOUT_RULE],
    }
    values.update(overrides)
    return JenkinsConfig(**values)


@pytest.fixture
def connector_for() -> Iterator[Factory]:
    made: list[JenkinsConnector] = []

    def make(
        fake: FakeJenkins,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: NOW,
        **overrides: Any,
    ) -> JenkinsConnector:
        connector = JenkinsConnector(
            jenkins_config(fake, **overrides),
            settings or SETTINGS,
            clock=clock,
            sleep=lambda _s: None,
        )
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
