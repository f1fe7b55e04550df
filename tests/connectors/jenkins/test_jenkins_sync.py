"""Syncing the fake controller: builds as pipeline runs, folders walked, allBuilds paged, resyncs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests
from tests.connectors.jenkins.conftest import NOW, Factory, at, small_instance
from tests.fakes.jenkins import PIPELINE, TOKEN, USER, FakeJenkins, Instance

from streamgauge.model import Deployment, PipelineRun, RunResult
from streamgauge.store import Store
from streamgauge.sync import sync_source


def runs(store: Store) -> dict[str, PipelineRun]:
    return {r.id.split(":", 2)[2]: r for r in store.iter_records("pipeline_run")}  # type: ignore[misc]


def deployments(store: Store) -> dict[str, Deployment]:
    return {r.id.split(":", 2)[2]: r for r in store.iter_records("deployment")}  # type: ignore[misc]


def test_builds_become_pipeline_runs_with_the_fields_jenkins_gave(
    fake_small: FakeJenkins, connector_for: Factory, store: Store
) -> None:
    assert sync_source(connector_for(fake_small), store, clock=lambda: NOW).ok
    found = runs(store)
    deploy_job = fake_small.instance.find(["payments", "deploy"])
    one = found["payments/deploy#1"]
    assert one.pipeline == "payments/deploy"
    assert one.repo == "acme/checkout"  # from the git plugin's remoteUrls
    assert one.sha == deploy_job.builds[0].sha  # type: ignore[union-attr]
    assert one.branch == "main"  # refs/remotes/origin/main
    assert one.event == "SCMTriggerCause"
    assert (one.started_at, one.finished_at) == (at(4, 10), at(4, 10, 10))
    assert (one.result, one.original_result) == (RunResult.SUCCESS, "SUCCESS")
    assert found["payments/deploy#3"].result is RunResult.FAILURE
    # a running build: result null, no end yet
    running = found["payments/deploy#5"]
    assert (running.result, running.finished_at, running.original_result) == (
        RunResult.RUNNING,
        None,
        "BUILDING",
    )
    # UNSTABLE (tests failed) counts as a failure, the original value kept beside it
    lint = found["platform/tools/lint#1"]
    assert (lint.result, lint.original_result, lint.event) == (
        RunResult.FAILURE,
        "UNSTABLE",
        "TimerTriggerCause",
    )
    # a branch job of a multibranch project is named by its branch, / encoded as %2F
    branch = found["payments/checkout/feature%2FPAY-4#1"]
    assert (branch.branch, branch.event) == ("feature/PAY-4", "BranchIndexingCause")
    # commits come from the changeSets of freestyle builds and pipeline runs alike
    messages = sorted(c.message for c in store.iter_records("commit"))  # type: ignore[attr-defined]
    assert messages == ["PAY-1 refunds", "PAY-1 tests", "PAY-2 receipts", "PAY-3 fix receipts"]
    assert {c.work_item_keys for c in store.iter_records("commit")} == {  # type: ignore[attr-defined]
        ("PAY-1",),
        ("PAY-2",),
        ("PAY-3",),
    }


def test_folders_and_multibranch_projects_are_walked_to_every_job(
    fake_small: FakeJenkins, connector_for: Factory, store: Store
) -> None:
    assert sync_source(connector_for(fake_small), store, clock=lambda: NOW).ok
    jobs = sorted(raw.native_id for raw in store.iter_raw("jenkins", "jobs"))
    assert jobs == [
        "payments/checkout/feature%2FPAY-4",
        "payments/checkout/main",
        "payments/deploy",
        "platform/tools/lint",
        "platform/tools/never-built",
    ]
    # one listing per folder (root, payments, payments/checkout, platform, platform/tools), one
    # builds request per job with builds; the job never built costs none
    assert fake_small.requests == {"listing": 5, "builds": 4}


def test_jobs_and_exclude_jobs_narrow_the_walk(
    fake_small: FakeJenkins, connector_for: Factory, store: Store
) -> None:
    connector = connector_for(
        fake_small, jobs=["payments", "platform/tools/lint"], exclude_jobs=["*/feature*"]
    )
    assert sync_source(connector, store, clock=lambda: NOW).ok
    assert sorted({r.pipeline for r in runs(store).values()}) == [
        "payments/checkout/main",
        "payments/deploy",
        "platform/tools/lint",
    ]


def long_job(builds: int) -> Instance:
    jenkins = Instance()
    job = jenkins.folder("big").job("nightly", PIPELINE)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(builds):
        job.build(start + timedelta(hours=n), minutes=3)
    return jenkins


def test_all_builds_are_paged_past_the_newest_hundred(connector_for: Factory, store: Store) -> None:
    fake = FakeJenkins(long_job(250)).start()
    try:
        assert sync_source(connector_for(fake, page_size=100), store, clock=lambda: NOW).ok
        numbers = sorted(int(k.rsplit("#", 1)[1]) for k in runs(store))
        assert numbers == list(range(1, 251))
        # allBuilds{0,100}, {100,200}, {200,300}: the third page is short, so paging ends
        pages = [p for p in fake.paths if "allBuilds" in p]
        assert [p.rsplit("%7B", 1)[1] for p in pages] == [
            "0%2C100%7D",
            "100%2C200%7D",
            "200%2C300%7D",
        ]
    finally:
        fake.stop()


def test_the_fake_like_jenkins_gives_only_the_newest_hundred_under_builds() -> None:
    fake = FakeJenkins(long_job(150)).start()
    try:
        answer = requests.get(
            f"{fake.url}/job/big/job/nightly/api/json",
            params={"tree": "builds[number],allBuilds[number]"},
            auth=(USER, TOKEN),
            timeout=5,
        ).json()
        assert [b["number"] for b in answer["builds"]] == list(range(150, 50, -1))
        assert len(answer["allBuilds"]) == 150
    finally:
        fake.stop()


def test_a_first_sync_reads_back_only_as_far_as_history(
    connector_for: Factory, store: Store
) -> None:
    fake = FakeJenkins(long_job(250)).start()  # one build an hour from 1 Jan 2025 00:00
    try:
        # NOW is 31 Mar 12:00; history 80d reaches back to 10 Jan 12:00, the start of build #229
        connector = connector_for(fake, history="80d", page_size=100)
        assert sync_source(connector, store, clock=lambda: NOW).ok
        numbers = sorted(int(k.rsplit("#", 1)[1]) for k in runs(store))
        assert numbers == list(range(229, 251))
        assert fake.requests["builds"] == 1
    finally:
        fake.stop()


def test_a_resync_of_unchanged_jobs_costs_one_request_per_folder(
    connector_for: Factory, store: Store
) -> None:
    jenkins = small_instance()
    deploy = jenkins.find(["payments", "deploy"])
    branch = jenkins.find(["payments", "checkout", "feature%2FPAY-4"])
    # finish the running builds first, so every job is unchanged on the resync
    deploy.builds[-1].result = "SUCCESS"  # type: ignore[union-attr]
    branch.builds[-1].result = "SUCCESS"  # type: ignore[union-attr]
    fake = FakeJenkins(jenkins).start()
    try:
        connector = connector_for(fake)
        assert sync_source(connector, store, clock=lambda: NOW).ok
        fake.reset_counts()
        later = NOW + timedelta(minutes=5)
        resync = sync_source(connector, store, clock=lambda: later)
        assert resync.ok
        assert not resync.changed
        assert fake.requests == {"listing": 5}  # the 5 folders; no job needed a request
        # one new build: only its job is asked, and only from its newest builds
        deploy.build(NOW, minutes=10, params={"ENVIRONMENT": "production"})  # type: ignore[union-attr]
        fake.reset_counts()
        after = sync_source(connector, store, clock=lambda: later + timedelta(minutes=5))
        assert after.ok
        assert fake.requests == {"listing": 5, "builds": 1}
        assert after.written.inserted == 2  # build #6 as a pipeline run and a deployment
        assert "payments/deploy#6" in deployments(store)
    finally:
        fake.stop()


def test_a_build_still_running_is_read_again_until_it_finishes(
    fake_small: FakeJenkins, connector_for: Factory, store: Store
) -> None:
    connector = connector_for(fake_small)
    assert sync_source(connector, store, clock=lambda: NOW).ok
    assert deployments(store)["payments/deploy#5"].result is RunResult.RUNNING
    deploy = fake_small.instance.find(["payments", "deploy"])
    deploy.builds[-1].result = "SUCCESS"  # type: ignore[union-attr]
    deploy.builds[-1].duration = timedelta(minutes=12)  # type: ignore[union-attr]
    later = NOW + timedelta(minutes=30)
    fake_small.reset_counts()
    assert sync_source(connector, store, clock=lambda: later).ok
    # both jobs that had a build running are asked again, the others are not
    assert fake_small.requests == {"listing": 5, "builds": 2}
    five = deployments(store)["payments/deploy#5"]
    assert (five.result, five.finished_at) == (RunResult.SUCCESS, at(31, 11, 42))
    assert runs(store)["payments/deploy#5"].result is RunResult.SUCCESS
    # the branch build still runs: it is asked again on the next sync too
    fake_small.reset_counts()
    assert sync_source(connector, store, clock=lambda: later + timedelta(minutes=5)).ok
    assert fake_small.requests == {"listing": 5, "builds": 1}
