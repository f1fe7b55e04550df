"""Fixtures for the GitLab connector: a small hand-made project, the fake, connectors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.fakes.gitlab import TOKEN, FakeGitLab, FakeGroup, generate_group

from streamgauge.config import Settings
from streamgauge.connectors.gitlab import GitlabConfig, GitlabConnector

NOW = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
Factory = Callable[..., GitlabConnector]


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A time in March 2025, UTC."""
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def small_group() -> FakeGroup:
    """One project, acme/checkout; test_gitlab_metrics.py works out its numbers by hand."""
    group = FakeGroup("acme")
    project = group.project("checkout")
    project.push("Initial commit", at(1))
    # MR !1 (PAY-1): commits 3 Mar 09:00 and 10:00, opened 3 Mar 11:00, a review note 12:00
    # asking for changes, approved 13:00, merged 14:00 with a merge commit.
    one = project.open_mr("PAY-1 refunds", "feature/PAY-1", [at(3, 9), at(3, 10)], at(3, 11))
    project.note(one, at(3, 12), "reviewer", "Please add a test")
    project.request_changes(one, at(3, 12), "reviewer")
    project.approve(one, at(3, 13), "reviewer")
    merge_one = project.merge(one, at(3, 14))
    project.pipeline(merge_one, at(3, 14, 1))
    # deployment A of merge !1 to production: job 4 Mar 10:00 -> 10:10, success.
    project.deploy(merge_one, at(4, 10))
    # MR !2 (PAY-2): one commit 5 Mar 08:00, opened 09:00, approved 10:00, squash-merged 12:00.
    two = project.open_mr("PAY-2 receipts", "feature/PAY-2", [at(5, 8)], at(5, 9))
    project.approve(two, at(5, 10), "reviewer")
    squash_two = project.merge(two, at(5, 12), squash=True)
    project.pipeline(squash_two, at(5, 12, 1), status="failed")
    # staging first (5 Mar 13:00), then deployment B to production: 6 Mar 08:00 -> 08:10.
    project.deploy(squash_two, at(5, 13), environment="staging", tier="staging")
    project.deploy(squash_two, at(6, 8))
    # incident opened 6 Mar 09:00, closed 6 Mar 11:00 (label severity::2: high).
    incident = project.incident("Checkout returns 500", at(6, 9), labels=["severity::2"])
    project.close(incident, at(6, 11))
    # rollback: deployment A's job re-run, shipping merge !1's sha again, 6 Mar 10:00 -> 10:10.
    project.deploy(merge_one, at(6, 10))
    # an ordinary bug, still open, and MR !3 still open
    project.issue("Typo on receipt", at(7, 9), labels=["bug"])
    project.open_mr("PAY-3 wip", "feature/PAY-3", [at(8, 9)], at(8, 10))
    return group


@pytest.fixture
def fake_small() -> Iterator[FakeGitLab]:
    fake = FakeGitLab(small_group()).start()
    yield fake
    fake.stop()


def seeded(seed: int = 3, *, projects: int = 5, merged_mrs: int = 150) -> FakeGitLab:
    """A generated group, the same for every run."""
    return FakeGitLab(
        generate_group(
            seed, projects=projects, merged_mrs=merged_mrs, start=NOW - timedelta(days=60)
        )
    ).start()


@pytest.fixture
def fake_group() -> Iterator[FakeGitLab]:
    """Five projects, 150 merged merge requests."""
    fake = seeded()
    yield fake
    fake.stop()


def gitlab_config(fake: FakeGitLab, **overrides: Any) -> GitlabConfig:
    values: dict[str, Any] = {
        "name": "gitlab",
        "url": fake.url,
        "token": TOKEN,
        "groups": ["acme"],
        "history": "365d",
        "backoff": 0.01,
        "timeout": 5,
    }
    values.update(overrides)
    return GitlabConfig(**values)


@pytest.fixture
def connector_for() -> Iterator[Factory]:
    made: list[GitlabConnector] = []

    def make(
        fake: FakeGitLab,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] = lambda: NOW,
        sleep: Callable[[float], None] = lambda _s: None,
        **overrides: Any,
    ) -> GitlabConnector:
        connector = GitlabConnector(
            gitlab_config(fake, **overrides), settings or Settings(), clock=clock, sleep=sleep
        )
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
