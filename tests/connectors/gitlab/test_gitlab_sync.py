"""The GitLab connector end to end: python-gitlab over HTTP against the fake, into a store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.connectors.gitlab.conftest import NOW, Factory, at, seeded, small_group
from tests.fakes.gitlab import FakeGitLab, FakeGroup, Fault

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


def by_id(store: Store, kind: str) -> dict[str, Any]:
    return {r.id: r for r in store.iter_records(kind)}


def test_first_sync_maps_the_small_project(
    fake_small: FakeGitLab, connector_for: Factory, sqlite_store: Store
) -> None:
    outcome = sync_source(
        connector_for(fake_small, work_items=True), sqlite_store, clock=lambda: NOW
    )
    assert outcome.ok, outcome.error
    project = fake_small.group.projects["acme/checkout"]
    changes = by_id(sqlite_store, "change")
    one = changes["gitlab:change:acme/checkout!1"]
    assert isinstance(one, Change)
    assert one.state is ChangeState.MERGED
    assert one.first_commit_at == at(3, 9)
    assert one.first_review_at == at(3, 12)  # the reviewer's note, before the approval
    assert one.approved_at == at(3, 13)  # the approval's system note
    assert one.merged_at == at(3, 14)
    assert one.review_rounds == 1  # the reviewer's "requested changes"
    assert one.work_item_keys == ("PAY-1",)
    assert one.merge_sha == project.mrs[0].merge_commit_sha
    assert set(one.commit_shas) == set(project.mrs[0].commits)
    assert one.app == "checkout"
    two = changes["gitlab:change:acme/checkout!2"]
    # squash-merged: the squash commit is what lands on main, the head sha is kept beside it
    assert two.merge_sha == project.mrs[1].squash_commit_sha
    assert two.commit_shas == (project.mrs[1].head_sha,)
    assert two.first_review_at == two.approved_at == at(5, 10)
    assert two.review_rounds == 0
    assert changes["gitlab:change:acme/checkout!3"].state is ChangeState.OPEN

    deployments = sorted(sqlite_store.iter_records("deployment"), key=lambda d: d.started_at)  # type: ignore[attr-defined]
    a, staging, b, rollback = deployments
    assert all(isinstance(d, Deployment) for d in deployments)
    assert (a.environment, a.result, a.finished_at) == (
        Environment.PRODUCTION,
        RunResult.SUCCESS,
        at(4, 10, 10),
    )
    # A, the first deployment, ships merge !1 and the initial commit (first parents of main)
    assert a.commit_shas == (project.mrs[0].merge_commit_sha, project.main[0])
    assert staging.environment is Environment.STAGING
    assert staging.commit_shas == ()
    assert b.commit_shas == (project.mrs[1].squash_commit_sha,)
    assert b.deployment_kind is DeploymentKind.REGULAR
    # merge !1's sha deployed again after B: a rollback that ships nothing new
    assert rollback.sha == a.sha
    assert rollback.deployment_kind is DeploymentKind.ROLLBACK
    assert rollback.commit_shas == ()

    (incident,) = sqlite_store.iter_records("incident")
    assert isinstance(incident, Incident)
    assert (incident.opened_at, incident.resolved_at, incident.severity) == (
        at(6, 9),
        at(6, 11),
        Severity.HIGH,
    )
    assert incident.original_severity == "severity::2"
    (bug,) = sqlite_store.iter_records("work_item")
    assert isinstance(bug, WorkItem)
    assert (bug.title, bug.project, bug.done_at) == ("Typo on receipt", "acme/checkout", None)
    runs = [r for r in sqlite_store.iter_records("pipeline_run") if isinstance(r, PipelineRun)]
    pipelines = sorted(
        (r for r in runs if r.pipeline == "acme/checkout"), key=lambda r: r.started_at
    )
    assert [p.result for p in pipelines] == [RunResult.SUCCESS, RunResult.FAILURE]
    assert pipelines[1].finished_at == at(5, 12, 6)
    jobs = sorted(r.pipeline for r in runs if r.pipeline != "acme/checkout")
    assert jobs == ["acme/checkout/build/build"] * 2 + ["acme/checkout/test/test"] * 2
    # the first-parent line of main: initial commit, merge !1, squash of !2
    assert len(list(sqlite_store.iter_records("commit"))) == 3


def test_issues_become_work_items_only_when_configured(
    fake_small: FakeGitLab, connector_for: Factory, sqlite_store: Store
) -> None:
    assert sync_source(connector_for(fake_small), sqlite_store, clock=lambda: NOW).ok
    assert sqlite_store.counts().get("work_item", 0) == 0
    assert sqlite_store.counts()["incident"] == 1


def test_a_first_sync_spends_one_request_per_page(
    fake_group: FakeGitLab, connector_for: Factory, sqlite_store: Store
) -> None:
    assert sync_source(connector_for(fake_group), sqlite_store, clock=lambda: NOW).ok
    projects = fake_group.group.projects.values()
    assert sqlite_store.counts()["change"] == sum(len(p.mrs) for p in projects)
    # 5 projects of 30 merged MRs (and one more, open or closed), 30 + 1 commits on main each:
    # one page of each stream per project; GraphQL takes 2 projects a query for merge requests
    # (3 queries) and 3 for pipelines (2 queries); the group's project list is one request
    assert dict(fake_group.requests) == {
        "GET group_projects": 1,
        "POST /graphql": 3 + 2,
        "GET commits": 5,
        "GET deployments": 5,
        "GET issues": 5,
    }


@pytest.mark.slow
def test_offset_paging_follows_next_links_past_10000_results(
    connector_for: Factory, sqlite_store: Store
) -> None:
    group = FakeGroup("acme")
    project = group.project("noisy")
    project.push("Initial commit", NOW - timedelta(days=30))
    start = NOW - timedelta(days=20)
    for n in range(10_050):
        project.incident(f"page {n}", start + timedelta(seconds=n))
    fake = FakeGitLab(group).start()
    try:
        outcome = sync_source(connector_for(fake), sqlite_store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        # 101 pages of 100: without x-total and rel="last" the listing is still read to its end
        assert fake.requests["GET issues"] == 101
        assert sqlite_store.counts()["incident"] == 10_050
    finally:
        fake.stop()


def test_unchanged_resync_costs_at_most_one_request_per_project_and_stream(
    fake_group: FakeGitLab, connector_for: Factory, store: Store
) -> None:
    connector = connector_for(fake_group)
    assert sync_source(connector, store, clock=lambda: NOW).ok
    counts = store.counts()
    fake_group.reset_counts()
    later = NOW + timedelta(minutes=5)
    outcome = sync_source(connector, store, clock=lambda: later)
    assert outcome.ok, outcome.error
    assert outcome.written.changed == 0
    # five projects: one request per project for each REST stream, GraphQL by two and three
    assert dict(fake_group.requests) == {
        "GET group_projects": 1,
        "POST /graphql": 3 + 2,
        "GET commits": 5,
        "GET deployments": 5,
        "GET issues": 5,
    }
    assert store.counts() == counts


def test_incremental_sync_reads_only_what_changed(
    fake_small: FakeGitLab, connector_for: Factory, store: Store
) -> None:
    now = [NOW]
    connector = connector_for(fake_small, clock=lambda: now[0])
    assert sync_source(connector, store, clock=lambda: now[0]).ok
    project = fake_small.group.projects["acme/checkout"]
    with fake_small.lock:
        mr = project.open_mr(
            "PAY-9 hotfix",
            "hotfix/PAY-9",
            [NOW + timedelta(minutes=5)],
            NOW + timedelta(minutes=10),
        )
        merge = project.merge(mr, NOW + timedelta(minutes=30))
        project.pipeline(merge, NOW + timedelta(minutes=31))
        project.deploy(merge, NOW + timedelta(minutes=40))
    now[0] = NOW + timedelta(hours=1)
    outcome = sync_source(connector, store, clock=lambda: now[0])
    assert outcome.ok, outcome.error
    change = by_id(store, "change")[f"gitlab:change:acme/checkout!{mr.iid}"]
    assert change.state is ChangeState.MERGED
    newest = max(store.iter_records("deployment"), key=lambda d: d.started_at)  # type: ignore[attr-defined]
    assert isinstance(newest, Deployment)
    # production had merge !1 again (the rollback); the new deployment ships the squash of !2
    # and the new merge, read from the cursor's memory of what production had
    assert newest.commit_shas == (merge, project.mrs[1].squash_commit_sha)
    assert newest.deployment_kind is DeploymentKind.HOTFIX  # shipped a hotfix/ branch
    # the MR, its merge commit, the pipeline and its two jobs, the deployment
    assert outcome.written.inserted == 1 + 1 + 3 + 1


def test_explicit_projects_join_the_groups_and_exclusions_drop_them(
    connector_for: Factory, sqlite_store: Store
) -> None:
    group = small_group()
    other = group.project("ledger")
    other.push("PAY-7 ledger", at(2))
    fake = FakeGitLab(group).start()
    try:
        connector = connector_for(
            fake,
            groups=[],
            projects=["acme/ledger", "acme/checkout"],
            exclude_projects=["acme/checkout"],
        )
        assert sync_source(connector, sqlite_store, clock=lambda: NOW).ok
        assert {c.repo for c in sqlite_store.iter_records("commit")} == {"acme/ledger"}  # type: ignore[attr-defined]
        assert fake.requests["GET project"] == 2
    finally:
        fake.stop()


def test_bad_token_stops_the_source_clearly(
    fake_small: FakeGitLab, connector_for: Factory, sqlite_store: Store
) -> None:
    outcome = sync_source(
        connector_for(fake_small, token="glpat-wrong-secret"), sqlite_store, clock=lambda: NOW
    )
    assert outcome.fatal
    assert outcome.error is not None
    assert "refused the token" in outcome.error
    assert "glpat-wrong-secret" not in outcome.error


def test_a_source_with_no_readable_project_is_fatal_and_names_them(
    fake_small: FakeGitLab, connector_for: Factory, sqlite_store: Store
) -> None:
    outcome = sync_source(
        connector_for(fake_small, groups=["nope"], projects=["acme/nope"]),
        sqlite_store,
        clock=lambda: NOW,
    )
    assert outcome.fatal
    assert outcome.error is not None
    assert "acme/nope" in outcome.error
    assert "nope, acme/nope" not in outcome.error  # sorted: "acme/nope, nope"
    assert "acme/nope, nope" in outcome.error


def test_malformed_merge_request_is_skippable(
    fake_small: FakeGitLab, connector_for: Factory
) -> None:
    raw = RawRecord(
        "merge_requests",
        "acme/checkout!9",
        {"project": "acme/checkout", "iid": "9", "state": "opened"},
        NOW,
    )
    with pytest.raises(SkippableRecord, match="createdAt"):
        list(connector_for(fake_small).normalize(raw))


def test_a_merge_request_of_more_than_100_commits_is_read_to_its_first(
    connector_for: Factory, sqlite_store: Store
) -> None:
    group = FakeGroup("acme")
    project = group.project("monolith")
    project.push("Initial commit", at(1))
    times = [at(2) + timedelta(minutes=n) for n in range(150)]
    big = project.open_mr("PAY-5 big bang", "feature/PAY-5", times, at(4))
    project.merge(big, at(5))
    fake = FakeGitLab(group).start()
    try:
        assert sync_source(connector_for(fake), sqlite_store, clock=lambda: NOW).ok
        (change,) = sqlite_store.iter_records("change")
        assert isinstance(change, Change)
        # GitLab lists a merge request's commits newest first: the oldest is on the 2nd page
        assert change.first_commit_at == at(2)
        assert len(change.commit_shas) == 150
        # the merge requests' query, one more for commits 101 to 150, and the pipelines' query
        assert fake.requests["POST /graphql"] == 3
    finally:
        fake.stop()


def test_paging_follows_x_next_page_when_there_is_no_link_header(
    connector_for: Factory, sqlite_store: Store
) -> None:
    fake = seeded(5, projects=1, merged_mrs=150)
    try:
        fake.links = False
        # 150 merges at the seed's pace run past NOW: sync when all of them have happened
        # (a record dated more than a day after the sync is refused as out of range)
        later = NOW + timedelta(days=60)
        assert sync_source(connector_for(fake), sqlite_store, clock=lambda: later).ok
        # the initial commit and 150 merges on main: two pages of 100
        assert fake.requests["GET commits"] == 2
        assert sqlite_store.counts()["commit"] == 151
    finally:
        fake.stop()


def test_a_page_that_comes_back_stops_the_source(
    connector_for: Factory, sqlite_store: Store
) -> None:
    fake = seeded(5, projects=1, merged_mrs=150)
    try:
        fake.inject(Fault("loop", times=5, path="/repository/commits"))
        outcome = sync_source(connector_for(fake), sqlite_store, clock=lambda: NOW)
        assert outcome.fatal
        assert outcome.error is not None
        assert "commits of acme/service-00: page token" in outcome.error
        assert "came back; paging stopped" in outcome.error
    finally:
        fake.stop()


def test_a_deployment_read_again_in_the_overlap_keeps_what_it_shipped(
    fake_small: FakeGitLab, connector_for: Factory, sqlite_store: Store
) -> None:
    now = [NOW]
    connector = connector_for(fake_small, clock=lambda: now[0])
    assert sync_source(connector, sqlite_store, clock=lambda: now[0]).ok
    project = fake_small.group.projects["acme/checkout"]
    with fake_small.lock:
        mr = project.open_mr(
            "PAY-9 hotfix",
            "hotfix/PAY-9",
            [NOW + timedelta(minutes=5)],
            NOW + timedelta(minutes=10),
        )
        merge = project.merge(mr, NOW + timedelta(minutes=30))
        deployed = project.deploy(merge, NOW + timedelta(minutes=40))  # ends NOW + 50 min
    now[0] = NOW + timedelta(minutes=55)
    assert sync_source(connector, sqlite_store, clock=lambda: now[0]).ok
    key = f"gitlab:deployment:acme/checkout/{deployed.id}"
    before = {r.id: r for r in sqlite_store.iter_records("deployment")}[key]
    assert isinstance(before, Deployment)
    assert before.deployment_kind is DeploymentKind.HOTFIX
    # three minutes later the overlap (10 min) reaches back past the deployment's end, not to the
    # merge request's last update: the deployment is read again without the merge request
    fake_small.reset_counts()
    now[0] = NOW + timedelta(minutes=58)
    outcome = sync_source(connector, sqlite_store, clock=lambda: now[0])
    assert outcome.ok, outcome.error
    assert fake_small.requests["GET deployments"] == 1
    after = {r.id: r for r in sqlite_store.iter_records("deployment")}[key]
    assert after == before
    assert outcome.written.changed == 0
