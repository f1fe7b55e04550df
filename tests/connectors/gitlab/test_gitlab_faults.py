"""Faults on the wire: the sync finishes, or pauses and resumes, with exactly the same records."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.gitlab.conftest import NOW, Factory, seeded
from tests.fakes.gitlab import FakeGitLab, Fault

from streamgauge.model import KINDS, to_json
from streamgauge.store import Store
from streamgauge.sync import sync_source

# long enough that a sync resumed after a pause still reads the whole group
HISTORY = "3650d"


def fake() -> FakeGitLab:
    return seeded(11, projects=4, merged_mrs=120)


def records(store: Store) -> dict[str, dict[str, Any]]:
    return {r.id: to_json(r) for kind in KINDS for r in store.iter_records(kind)}


@pytest.fixture
def reference(connector_for: Factory, tmp_path: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """The records of a fault-free sync of the same group."""
    server = fake()
    try:
        with Store.open(f"sqlite:///{tmp_path}/reference.db") as store:
            assert sync_source(connector_for(server, history=HISTORY), store, clock=lambda: NOW).ok
            yield records(store)
    finally:
        server.stop()


SCENARIOS = {
    "5xx burst on deployments": [Fault("5xx", times=3, path="/deployments")],
    "5xx burst on GraphQL": [Fault("5xx", times=2, path="/api/graphql", skip=1)],
    "connection reset": [Fault("reset", times=2, path="/repository/commits")],
    "truncated page": [
        Fault("truncate", path="/issues"),
        Fault("truncate", path="/api/graphql", skip=3),
    ],
    "slow answer": [Fault("slow", path="/api/graphql", delay=0.2)],
    "answer slower than the time-out": [Fault("slow", path="/deployments", delay=1.5)],
    "429 with Retry-After": [Fault("429", times=2, path="/api/graphql", retry_after=2)],
    "429 without Retry-After": [Fault("429", path="/issues", skip=1, retry_after=None)],
    "all at once": [
        Fault("5xx", times=4, path="/api/v4/projects"),
        Fault("429", path="/api/graphql"),
        Fault("reset", path="/deployments", skip=2),
        Fault("truncate", path="/repository/commits", skip=1),
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_transient_faults_leave_the_same_records(
    name: str, reference: dict[str, dict[str, Any]], connector_for: Factory, sqlite_store: Store
) -> None:
    server = fake()
    slept: list[float] = []
    try:
        server.inject(*SCENARIOS[name])
        connector = connector_for(server, history=HISTORY, timeout=1, sleep=slept.append)
        outcome = sync_source(connector, sqlite_store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        assert all(f.times == 0 for f in server.faults), "every fault was hit"
        assert records(sqlite_store) == reference
        if name == "429 with Retry-After":
            assert slept == [2.0, 2.0]  # GitLab's Retry-After, slept through the injected sleep
        if name == "429 without Retry-After":
            assert len(slept) == 1
            assert 0 < slept[0] <= 0.01  # the configured backoff, with jitter
    finally:
        server.stop()


def test_a_long_retry_after_pauses_the_source_then_it_resumes(
    reference: dict[str, dict[str, Any]], connector_for: Factory, store: Store
) -> None:
    server = fake()
    try:
        server.inject(Fault("429", path="/deployments", skip=1, retry_after=3600))
        now = [NOW]
        connector = connector_for(server, history=HISTORY, clock=lambda: now[0])
        paused = sync_source(connector, store, clock=lambda: now[0])
        assert not paused.ok
        assert not paused.fatal
        # longer than max_rate_limit_wait (60 s): a pause until then, not a sleep in a request
        assert paused.paused_until == NOW + timedelta(hours=1)
        assert len(records(store)) < len(reference)
        now[0] = NOW + timedelta(hours=1, seconds=1)
        resumed = sync_source(connector, store, clock=lambda: now[0])
        assert resumed.ok, resumed.error
        assert records(store) == reference
    finally:
        server.stop()


def test_budget_running_low_pauses_before_spending_it(
    connector_for: Factory, sqlite_store: Store
) -> None:
    server = fake()
    try:
        with server.lock:
            server.remaining = 30  # below min_rate_limit_remaining (50)
        outcome = sync_source(connector_for(server), sqlite_store, clock=lambda: NOW)
        assert outcome.paused_until is not None
        assert outcome.paused_until > datetime.now(UTC)
        # the group's project list carries no RateLimit-* headers (GitLab's groups limiter sends
        # none); the first GraphQL answer tells the budget and nothing more is asked
        assert dict(server.requests) == {"GET group_projects": 1, "POST /graphql": 1}
    finally:
        server.stop()


def test_a_forbidden_project_is_left_out_and_the_others_are_read(
    reference: dict[str, dict[str, Any]],
    connector_for: Factory,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = fake()
    try:
        server.forbidden.add("acme/service-01")
        with caplog.at_level(logging.ERROR):
            outcome = sync_source(connector_for(server, history=HISTORY), store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        assert "project acme/service-01 left out of this sync" in caplog.text
        others = {k: v for k, v in reference.items() if "acme/service-01" not in k}
        assert len(others) < len(reference)
        assert records(store) == others
        server.forbidden.clear()  # access granted: the next sync reads it whole
        assert sync_source(connector_for(server, history=HISTORY), store, clock=lambda: NOW).ok
        assert records(store) == reference
    finally:
        server.stop()


def test_a_malformed_record_is_skipped_and_counted(
    reference: dict[str, dict[str, Any]], connector_for: Factory, sqlite_store: Store
) -> None:
    server = fake()
    try:
        # the first deployment of the first project comes without its created_at
        server.inject(Fault("malformed", path="/deployments"))
        outcome = sync_source(
            connector_for(server, history=HISTORY), sqlite_store, clock=lambda: NOW
        )
        assert outcome.ok, outcome.error
        assert outcome.skipped == 1
        got = records(sqlite_store)
        (missing,) = set(reference) - set(got)
        assert missing.startswith("gitlab:deployment:acme/service-00/")
        assert got == {k: v for k, v in reference.items() if k != missing}
    finally:
        server.stop()
