"""Fixtures for the GitHub connector: a small hand-made repository, the fake, connectors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.fakes.github import TOKEN, FakeGitHub, FakeOrg, generate_org

from streamgauge.config import Settings
from streamgauge.connectors.github import GithubConfig, GithubConnector

NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
Factory = Callable[..., GithubConnector]


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time in March 2025, UTC."""
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def small_org() -> FakeOrg:
    """One repository, acme/checkout; test_github_metrics.py works out its numbers by hand."""
    org = FakeOrg("acme")
    repo = org.repo("checkout")
    repo.push("Initial commit", at(1))
    # PR #1 (PAY-1): commits 3 Mar 09:00 and 10:00, opened 3 Mar 11:00, changes requested
    # 3 Mar 12:00, approved 3 Mar 13:00, merged 3 Mar 14:00.
    one = repo.open_pull("PAY-1 refunds", "feature/PAY-1", [at(3, 9), at(3, 10)], at(3, 11))
    repo.review(one, "CHANGES_REQUESTED", at(3, 12))
    repo.review(one, "APPROVED", at(3, 13))
    merge_one = repo.merge(one, at(3, 14))
    repo.run("CI", merge_one.sha, at(3, 14, 1))
    # deployment A of merge #1: created 4 Mar 10:00, success 4 Mar 10:10.
    repo.deploy(merge_one.sha, at(4, 10))
    # PR #2 (PAY-2): one commit 5 Mar 08:00, opened 5 Mar 09:00, approved 10:00, merged 12:00.
    two = repo.open_pull("PAY-2 receipts", "feature/PAY-2", [at(5, 8)], at(5, 9))
    repo.review(two, "APPROVED", at(5, 10))
    merge_two = repo.merge(two, at(5, 12))
    repo.run("CI", merge_two.sha, at(5, 12, 1), conclusion="failure")
    # deployment B of merge #2: created 6 Mar 08:00, success 6 Mar 08:10.
    repo.deploy(merge_two.sha, at(6, 8))
    # incident opened 6 Mar 09:00, closed 6 Mar 11:00 (label sev2: high severity).
    incident = repo.open_issue("Checkout returns 500", at(6, 9), labels=["incident", "sev2"])
    repo.close_issue(incident, at(6, 11))
    # an ordinary bug, still open
    repo.open_issue("Typo on receipt", at(7, 9), labels=["bug"])
    # PR #5 still open
    repo.open_pull("PAY-3 wip", "feature/PAY-3", [at(8, 9)], at(8, 10))
    return org


@pytest.fixture
def fake_small() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(small_org()).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_org() -> Iterator[FakeGitHub]:
    """Five repositories, 150 merged pull requests, the same for every run."""
    fake = FakeGitHub(
        generate_org(3, repos=5, merged_prs=150, start=NOW - timedelta(days=60))
    ).start()
    yield fake
    fake.stop()


def github_config(fake: FakeGitHub, **overrides: Any) -> GithubConfig:
    values: dict[str, Any] = {
        "name": "github",
        "base_url": fake.base_url,
        "token": TOKEN,
        "org": "acme",
        "history": "365d",
        "backoff": 0.01,
        "request_spacing": 0,
        "timeout": 5,
    }
    values.update(overrides)
    return GithubConfig(**values)


@pytest.fixture
def connector_for() -> Iterator[Factory]:
    made: list[GithubConnector] = []

    def make(
        fake: FakeGitHub,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: NOW,
        **overrides: Any,
    ) -> GithubConnector:
        connector = GithubConnector(
            github_config(fake, **overrides),
            settings or Settings(),
            clock=clock,
            sleep=lambda _s: None,
        )
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
