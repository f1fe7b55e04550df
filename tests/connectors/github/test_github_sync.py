"""The GitHub connector end to end: PyGithub over HTTP against the fake, into a store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.connectors.github.conftest import NOW, Factory, at
from tests.fakes.github import FakeGitHub

from streamgauge.connectors.base import RawRecord, SkippableRecord
from streamgauge.model import (
    Change,
    ChangeState,
    Deployment,
    DeploymentKind,
    Environment,
    Incident,
    PipelineRun,
    RunResult,
    Severity,
    WorkItem,
)
from streamgauge.store import Store
from streamgauge.sync import sync_source


def by_id(store: Store, kind: str) -> dict[str, object]:
    return {r.id: r for r in store.iter_records(kind)}


def test_first_sync_maps_the_small_repository(
    fake_small: FakeGitHub, connector_for: Factory, sqlite_store: Store
) -> None:
    outcome = sync_source(connector_for(fake_small), sqlite_store, clock=lambda: NOW)
    assert outcome.ok, outcome.error
    repo = fake_small.org.repos["checkout"]
    one = by_id(sqlite_store, "change")["github:change:acme/checkout#1"]
    assert isinstance(one, Change)
    assert one.state is ChangeState.MERGED
    assert one.first_commit_at == at(3, 9)
    assert one.first_review_at == at(3, 12)
    assert one.approved_at == at(3, 13)
    assert one.merged_at == at(3, 14)
    assert one.review_rounds == 1
    assert one.work_item_keys == ("PAY-1",)
    assert one.merge_sha == repo.pulls[0].merge_sha
    assert one.app == "checkout"
    changes = by_id(sqlite_store, "change")
    assert {c.state for c in changes.values()} == {ChangeState.MERGED, ChangeState.OPEN}  # type: ignore[attr-defined]

    deployments = sorted(sqlite_store.iter_records("deployment"), key=lambda d: d.started_at)  # type: ignore[attr-defined]
    first, second = deployments
    assert isinstance(first, Deployment)
    assert isinstance(second, Deployment)
    assert (first.environment, first.result) == (Environment.PRODUCTION, RunResult.SUCCESS)
    assert first.finished_at == at(4, 10, 10)
    # the first deployment claims merge #1, PR #1's two commits and the initial commit
    assert len(first.commit_shas) == 4
    # the second ships exactly merge #2 and PR #2's one commit
    two = repo.pulls[1]
    assert set(second.commit_shas) == {two.merge_sha, two.commits[0].sha}
    assert second.deployment_kind is DeploymentKind.REGULAR

    (incident,) = sqlite_store.iter_records("incident")
    assert isinstance(incident, Incident)
    assert (incident.opened_at, incident.resolved_at, incident.severity) == (
        at(6, 9),
        at(6, 11),
        Severity.HIGH,
    )
    (bug,) = sqlite_store.iter_records("work_item")
    assert isinstance(bug, WorkItem)
    assert bug.title == "Typo on receipt"
    runs = sorted(sqlite_store.iter_records("pipeline_run"), key=lambda r: r.started_at)  # type: ignore[attr-defined]
    assert [r.result for r in runs if isinstance(r, PipelineRun)] == [
        RunResult.SUCCESS,
        RunResult.FAILURE,
    ]
    commits = list(sqlite_store.iter_records("commit"))
    # reachable from main: initial, PR #1's two, merge #1, PR #2's one, merge #2; not the open PR's
    assert len(commits) == 6


def test_unchanged_resync_costs_no_rate_limit(
    fake_org: FakeGitHub, connector_for: Factory, sqlite_store: Store
) -> None:
    connector = connector_for(fake_org)
    assert sync_source(connector, sqlite_store, clock=lambda: NOW).ok
    counts = sqlite_store.counts()
    assert counts["change"] == sum(len(r.pulls) for r in fake_org.org.repos.values())
    fake_org.reset_counts()
    later = NOW + timedelta(minutes=5)
    outcome = sync_source(connector, sqlite_store, clock=lambda: later)
    assert outcome.ok, outcome.error
    assert fake_org.cost == {}  # nothing spent from either budget
    assert fake_org.not_modified == fake_org.total_requests > 0
    assert "POST /graphql" not in fake_org.requests
    assert sqlite_store.counts() == counts


def test_incremental_sync_reads_only_what_changed(
    fake_small: FakeGitHub, connector_for: Factory, sqlite_store: Store
) -> None:
    now = [NOW]
    connector = connector_for(fake_small, clock=lambda: now[0])
    assert sync_source(connector, sqlite_store, clock=lambda: now[0]).ok
    repo = fake_small.org.repos["checkout"]
    with fake_small.lock:
        pull = repo.open_pull(
            "PAY-9 hotfix",
            "hotfix/PAY-9",
            [NOW + timedelta(minutes=5)],
            NOW + timedelta(minutes=10),
        )
        merge = repo.merge(pull, NOW + timedelta(minutes=30))
        repo.run("CI", merge.sha, NOW + timedelta(minutes=31))
        repo.deploy(merge.sha, NOW + timedelta(minutes=40))
    fake_small.reset_counts()
    now[0] = NOW + timedelta(hours=1)
    outcome = sync_source(connector, sqlite_store, clock=lambda: now[0])
    assert outcome.ok, outcome.error
    change = by_id(sqlite_store, "change")[f"github:change:acme/checkout#{pull.number}"]
    assert isinstance(change, Change)
    assert change.state is ChangeState.MERGED
    newest = max(sqlite_store.iter_records("deployment"), key=lambda d: d.started_at)  # type: ignore[attr-defined]
    assert isinstance(newest, Deployment)
    assert set(newest.commit_shas) == {merge.sha, pull.commits[0].sha}
    assert newest.deployment_kind is DeploymentKind.HOTFIX  # shipped a hotfix/ branch
    assert sqlite_store.counts()["pipeline_run"] == 3
    # one GraphQL query per stream that had news (pull requests, commits, deployments, issues)
    # and one for the history behind the new deployment, which this sync's commits do not reach
    assert fake_small.requests["POST /graphql"] == 5


def test_bad_credentials_stop_the_source_clearly(
    fake_small: FakeGitHub, connector_for: Factory, sqlite_store: Store
) -> None:
    outcome = sync_source(
        connector_for(fake_small, token="ghp_wrong_secret"), sqlite_store, clock=lambda: NOW
    )
    assert outcome.fatal
    assert outcome.error is not None
    assert "credentials" in outcome.error
    assert "ghp_wrong_secret" not in outcome.error


def test_missing_repository_is_fatal_and_named(
    fake_small: FakeGitHub, connector_for: Factory, sqlite_store: Store
) -> None:
    outcome = sync_source(
        connector_for(fake_small, org=None, repos=["acme/nope"]), sqlite_store, clock=lambda: NOW
    )
    assert outcome.fatal
    assert outcome.error is not None
    assert "acme/nope" in outcome.error
    assert "not found" in outcome.error


def test_malformed_record_is_skippable(fake_small: FakeGitHub, connector_for: Factory) -> None:
    connector = connector_for(fake_small)
    raw = RawRecord(
        "pull_requests",
        "acme/checkout#9",
        {"repository": "acme/checkout", "number": 9, "state": "OPEN"},
        NOW,
    )
    with pytest.raises(SkippableRecord, match="createdAt"):
        list(connector.normalize(raw))


def test_issues_that_are_pull_requests_are_left_to_the_change_stream(
    fake_small: FakeGitHub, connector_for: Factory
) -> None:
    # REST's issue listing includes pull requests (they carry `pull_request`); they are not work
    raw = RawRecord(
        "issues",
        "acme/checkout#1",
        {
            "repository": "acme/checkout",
            "number": 1,
            "pull_request": {},
            "createdAt": "2025-03-01T00:00:00Z",
        },
        NOW,
    )
    assert list(connector_for(fake_small).normalize(raw)) == []
