"""Robustness: injected faults change nothing; refused projects and credentials stop one source clearly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.connectors.jira.conftest import NOW, Sleeps, at, small_project
from tests.fakes.jira import FakeJira

from streamgauge.connectors.jira import JiraConnector
from streamgauge.model import to_json
from streamgauge.store import Store
from streamgauge.sync import sync_source


def stored(store: Store) -> dict[str, dict[str, Any]]:
    dataset = store.load_dataset()
    out: dict[str, dict[str, Any]] = {}
    for name in ("work_items", "status_changes", "incidents"):
        for record in getattr(dataset, name):
            out[record.id] = to_json(record)
    return out


def test_faults_give_the_same_records_as_a_clean_sync(
    mode: str, make_connector: Callable[..., JiraConnector], sleeps: Sleeps, tmp_path: Path
) -> None:
    with (
        FakeJira(small_project(), mode=mode) as clean,
        Store.open(f"sqlite:///{tmp_path}/a.db") as a,
    ):  # type: ignore[arg-type]
        assert sync_source(make_connector(clean), a, clock=lambda: NOW).ok
        expected = stored(a)
    search = "search/jql" if mode == "cloud" else "search"
    with (
        FakeJira(small_project(), mode=mode, max_results=3) as faulty,
        Store.open(f"sqlite:///{tmp_path}/b.db") as b,
    ):  # type: ignore[arg-type]
        faulty.inject("429", endpoint="serverInfo", times=1, retry_after="1")
        faulty.inject("429", endpoint=search, times=3, retry_after="2")  # a burst
        faulty.inject("500", endpoint=search, times=1, after=1)
        faulty.inject("503", endpoint="status", times=1)
        faulty.inject("truncate", endpoint=search, times=1, after=2)
        faulty.inject("slow", endpoint="myself", times=1, delay=0.05)
        faulty.inject("reset", endpoint="field", times=1)  # the connection closed unanswered
        if mode == "cloud":
            faulty.inject("truncate", endpoint="bulkfetch", times=1)
            faulty.inject("500", endpoint="bulkfetch", times=1)
        outcome = sync_source(make_connector(faulty), b, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        assert all(f.times == 0 for f in faulty.faults)  # every fault was met
        assert stored(b) == expected
    # Retry-After is honoured: 1 s once, 2 s three times (the others back off briefly).
    assert sleeps.count(1.0) == 1
    assert sleeps.count(2.0) == 3


def test_forbidden_project_stops_that_source_only(
    mode: str, make_connector: Callable[..., JiraConnector], sqlite_store: Store
) -> None:
    data = small_project()
    data.add_issue("OPS", created=at(3), path=[(at(4), "In Progress")])
    with FakeJira(data, mode=mode, hidden_projects=("PAY",)) as server:  # type: ignore[arg-type]
        refused = sync_source(make_connector(server), sqlite_store, clock=lambda: NOW)
        ops = make_connector(server, name="jira-ops", projects=["OPS"])
        fine = sync_source(ops, sqlite_store, clock=lambda: NOW)
    assert refused.fatal
    assert refused.error is not None
    assert "The value 'PAY' does not exist for the field 'project'" in refused.error
    assert server.api_token not in refused.error
    assert server.pat not in refused.error
    assert fine.ok
    assert sqlite_store.counts()["work_item"] == 1


def test_refused_credentials_are_fatal_and_not_echoed(
    mode: str, make_connector: Callable[..., JiraConnector], sqlite_store: Store
) -> None:
    with FakeJira(small_project(), mode=mode) as server:  # type: ignore[arg-type]
        wrong = {"api_token": "wrong-secret-999"} if server.cloud else {"token": "wrong-secret-999"}
        outcome = sync_source(make_connector(server, **wrong), sqlite_store, clock=lambda: NOW)
    assert outcome.fatal
    assert outcome.error is not None
    assert "401" in outcome.error
    assert "wrong-secret-999" not in outcome.error


def test_long_retry_after_pauses_the_source(
    make_connector: Callable[..., JiraConnector], sleeps: Sleeps, sqlite_store: Store
) -> None:
    with FakeJira(small_project(), mode="cloud") as server:
        server.inject("429", endpoint="search/jql", times=1, retry_after="600")
        outcome = sync_source(make_connector(server), sqlite_store, clock=lambda: NOW)
    # 600 s is past the policy's 5 s limit: no sleeping in a request, the source pauses.
    assert not outcome.ok
    assert outcome.paused_until is not None
    assert (outcome.paused_until - NOW).total_seconds() == 600
    assert sleeps == []
