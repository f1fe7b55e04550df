"""Faults on the wire: the sync finishes, or pauses and resumes, with exactly the same records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.pagerduty.conftest import (
    CHECKOUT,
    NOW,
    SEARCH,
    Factory,
    Sleeps,
    small_account,
)
from tests.fakes.pagerduty import TOKEN, FakePagerDuty, Fault

from streamgauge.model import KINDS, to_json
from streamgauge.store import Store
from streamgauge.sync import sync_source

LATER = NOW + timedelta(days=1)  # the second sync re-reads the open incidents one by one


def records(store: Store) -> dict[str, dict[str, Any]]:
    return {r.id: to_json(r) for kind in KINDS for r in store.iter_records(kind)}


def two_syncs(fake: FakePagerDuty, connector_for: Factory, store: Store, **config: Any) -> None:
    for moment in (NOW, LATER):
        connector = connector_for(fake, clock=lambda m=moment: m, **config)
        outcome = sync_source(connector, store, clock=lambda m=moment: m)
        assert outcome.ok, outcome.error


@pytest.fixture
def reference(connector_for: Factory, tmp_path: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """The records of two fault-free syncs of the small account."""
    with (
        FakePagerDuty(small_account()) as fake,
        Store.open(f"sqlite:///{tmp_path}/reference.db") as store,
    ):
        two_syncs(fake, connector_for, store)
        yield records(store)


SCENARIOS: dict[str, tuple[list[Fault], dict[str, Any]]] = {
    "5xx burst": ([Fault("5xx", times=3, path="/incidents")], {}),
    "5xx on an open incident": ([Fault("5xx", times=2, path="/incidents/")], {}),
    "connection reset": ([Fault("reset", times=2, path="/incidents", skip=1)], {}),
    "truncated page": ([Fault("truncate", path="/incidents", skip=2)], {}),
    # the answer comes after the client's 1 s time-out: the request is made again
    "slow answer": ([Fault("slow", path="/incidents", skip=1, delay=1.5)], {"timeout": 1.0}),
    "429 with reset": ([Fault("429", times=2, path="/incidents", reset=3)], {}),
    "429 without reset": ([Fault("429", times=2, path="/incidents", reset=None)], {}),
    "all at once": (
        [
            Fault("5xx", times=2, path="/incidents"),
            Fault("reset", path="/incidents", skip=2),
            Fault("truncate", path="/incidents/", skip=1),
            Fault("429", path="/incidents", skip=4, reset=2),
        ],
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_transient_faults_leave_the_same_records(
    name: str,
    reference: dict[str, dict[str, Any]],
    connector_for: Factory,
    sleeps: Sleeps,
    sqlite_store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    faults, config = SCENARIOS[name]
    with FakePagerDuty(small_account()) as fake:
        fake.inject(*faults)
        two_syncs(fake, connector_for, sqlite_store, **config)
        assert all(f.times == 0 for f in fake.faults), "every fault was met"
    assert records(sqlite_store) == reference
    if name == "slow answer":
        # the answer came after the client had given up: the request was made again
        retried = [r.getMessage() for r in caplog.records if "retry 1" in r.getMessage()]
        assert len(retried) == 1
        assert "no answer from PagerDuty (ReadTimeout)" in retried[0]
    if name == "429 with reset":
        # ratelimit-reset: 3 is waited out twice (it is under max_rate_limit_wait, 60 s)
        assert sleeps == [3.0, 3.0]
    if name == "429 without reset":
        # no reset header: backoff from `backoff` (0.01 s) doubled, with jitter of up to half
        assert len(sleeps) == 2
        assert 0.005 <= sleeps[0] <= 0.01
        assert 0.01 <= sleeps[1] <= 0.02


def test_a_long_rate_limit_reset_pauses_the_source_then_it_resumes(
    reference: dict[str, dict[str, Any]],
    connector_for: Factory,
    sleeps: Sleeps,
    sqlite_store: Store,
) -> None:
    with FakePagerDuty(small_account()) as fake:
        fake.inject(Fault("429", path="/incidents", skip=1, reset=600))
        paused = sync_source(connector_for(fake), sqlite_store, clock=lambda: NOW)
        # 600 s is past max_rate_limit_wait (60 s): no sleep in a request, the source pauses
        assert not paused.ok
        assert not paused.fatal
        assert paused.paused_until == NOW + timedelta(seconds=600)
        assert sleeps == []
        assert len(records(sqlite_store)) < len(reference)
        two_syncs(fake, connector_for, sqlite_store)
    assert records(sqlite_store) == reference


def test_a_forbidden_service_stops_only_that_service(
    connector_for: Factory, sqlite_store: Store
) -> None:
    with FakePagerDuty(small_account(), hidden_services=(CHECKOUT,)) as fake:
        outcome = sync_source(connector_for(fake), sqlite_store, clock=lambda: NOW)
    assert outcome.fatal
    assert outcome.error is not None
    assert f"PagerDuty refused service {CHECKOUT} (403 Access Denied (code 2010)" in outcome.error
    assert "the other 1 services were read" in outcome.error
    assert TOKEN not in outcome.error
    # the search service was read whole: "Search index stale" (the garbled one is skipped)
    stored = sqlite_store.load_dataset().incidents
    assert [i.title for i in stored] == ["Search index stale"]
    cursor = sqlite_store.get_cursor("pagerduty", "incidents") or ""
    assert SEARCH in cursor
    assert CHECKOUT not in cursor


def test_refused_credentials_are_fatal_and_not_echoed(
    connector_for: Factory, sqlite_store: Store
) -> None:
    with FakePagerDuty(small_account()) as fake:
        outcome = sync_source(
            connector_for(fake, token="wrong-secret-999"), sqlite_store, clock=lambda: NOW
        )
        assert len(fake.requests) == 1  # no retry of a refused key, no other service tried
    assert outcome.fatal
    assert outcome.error is not None
    assert "PagerDuty refused the token (401 Authentication failed" in outcome.error
    assert "wrong-secret-999" not in outcome.error
