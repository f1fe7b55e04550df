"""Faults on the wire: the sync finishes, or pauses and resumes, with exactly the same records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.github.conftest import NOW, Factory
from tests.fakes.github import FakeGitHub, Fault, generate_org

from streamgauge.model import KINDS, to_json
from streamgauge.store import Store
from streamgauge.sync import sync_source


def seeded() -> FakeGitHub:
    return FakeGitHub(
        generate_org(11, repos=4, merged_prs=120, start=NOW - timedelta(days=40))
    ).start()


def records(store: Store) -> dict[str, dict[str, Any]]:
    return {r.id: to_json(r) for kind in KINDS for r in store.iter_records(kind)}


@pytest.fixture
def reference(connector_for: Factory, tmp_path: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """The records of a fault-free sync of the same organisation."""
    fake = seeded()
    try:
        with Store.open(f"sqlite:///{tmp_path}/reference.db") as store:
            assert sync_source(connector_for(fake, history=HISTORY), store, clock=lambda: NOW).ok
            yield records(store)
    finally:
        fake.stop()


# long enough that a sync resumed after the (wall-clock) reset still reads the whole organisation
HISTORY = "3650d"

SCENARIOS = {
    "5xx burst on runs": [Fault("5xx", times=3, path="/actions/runs")],
    "5xx burst on GraphQL": [Fault("5xx", times=2, path="/api/graphql", skip=1)],
    "secondary rate limit 403": [Fault("secondary", path="/api/graphql", skip=2)],
    "secondary rate limit 429": [Fault("secondary429", path="/events", skip=1)],
    "truncated page": [
        Fault("truncate", path="/actions/runs", skip=1),
        Fault("truncate", path="/api/graphql", skip=3),
    ],
    "slow answer": [Fault("slow", path="/api/graphql", delay=0.2)],
    "connection reset": [
        Fault("reset", times=2, path="/actions/runs"),
        Fault("reset", path="/api/graphql", skip=1),
    ],
    "all at once": [
        Fault("5xx", times=4, path="/api/v3/repos"),
        Fault("secondary", path="/api/graphql"),
        Fault("truncate", path="/actions/runs", skip=2),
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_transient_faults_leave_the_same_records(
    name: str, reference: dict[str, dict[str, Any]], connector_for: Factory, sqlite_store: Store
) -> None:
    fake = seeded()
    try:
        fake.inject(*SCENARIOS[name])
        outcome = sync_source(connector_for(fake, history=HISTORY), sqlite_store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        assert all(f.times == 0 for f in fake.faults), "every fault was hit"
        assert records(sqlite_store) == reference
    finally:
        fake.stop()


@pytest.mark.parametrize(
    ("resource", "fault"),
    [
        ("core", Fault("primary", path="/actions/runs", skip=2)),
        ("graphql", Fault("primary", path="/api/graphql", skip=3)),
        ("graphql", Fault("graphql_rate_limited", path="/api/graphql", skip=2)),
    ],
)
def test_primary_rate_limit_pauses_then_resumes(
    resource: str,
    fault: Fault,
    reference: dict[str, dict[str, Any]],
    connector_for: Factory,
    sqlite_store: Store,
) -> None:
    fake = seeded()
    try:
        fake.inject(fault)
        now = [NOW]
        connector = connector_for(fake, history=HISTORY, clock=lambda: now[0])
        paused = sync_source(connector, sqlite_store, clock=lambda: now[0])
        assert not paused.ok
        assert not paused.fatal
        # the pause lasts until GitHub's reset, about an hour away, not a sleep inside a request
        assert paused.paused_until is not None
        assert paused.paused_until > datetime.now(UTC) + timedelta(minutes=30)
        assert fake.budgets[resource].remaining == 0
        assert len(records(sqlite_store)) < len(reference)
        fake.refill_budget()  # the reset time passes, and the engine resumes the source after it
        now[0] = paused.paused_until + timedelta(seconds=1)
        resumed = sync_source(connector, sqlite_store, clock=lambda: now[0])
        assert resumed.ok, resumed.error
        assert records(sqlite_store) == reference
    finally:
        fake.stop()


def test_budget_running_low_pauses_before_spending_it(
    connector_for: Factory, sqlite_store: Store
) -> None:
    fake = seeded()
    try:
        with fake.lock:
            fake.budgets["core"].remaining = 30  # below min_rate_limit_remaining (50)
        outcome = sync_source(connector_for(fake, history=HISTORY), sqlite_store, clock=lambda: NOW)
        assert outcome.paused_until is not None
        assert fake.total_requests == 1  # the first answer told the budget; nothing more was asked
    finally:
        fake.stop()
