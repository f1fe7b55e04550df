"""Faults on the wire: the sync finishes, or pauses and resumes, with exactly the same records."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.jenkins.conftest import NOW, Factory, small_instance
from tests.fakes.jenkins import FakeJenkins, Fault

from streamgauge.model import KINDS, to_json
from streamgauge.store import Store
from streamgauge.sync import sync_source

DEPLOY = "/job/payments/job/deploy/"


def records(store: Store) -> dict[str, dict[str, Any]]:
    return {r.id: to_json(r) for kind in KINDS for r in store.iter_records(kind)}


@pytest.fixture
def reference(connector_for: Factory, tmp_path: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """The records of a fault-free sync of the same controller."""
    fake = FakeJenkins(small_instance()).start()
    try:
        with Store.open(f"sqlite:///{tmp_path}/reference.db") as store:
            assert sync_source(connector_for(fake), store, clock=lambda: NOW).ok
            yield records(store)
    finally:
        fake.stop()


SCENARIOS = {
    "5xx burst on builds": [Fault("5xx", times=3, path=DEPLOY)],
    "500 page on a folder": [Fault("500", times=2, path="/job/platform/api")],
    "connection reset": [Fault("reset", path="/job/payments/api"), Fault("reset", path=DEPLOY)],
    "body cut short": [Fault("truncate", path=DEPLOY), Fault("truncate", path="/api/json", skip=2)],
    "answer slower than the timeout": [Fault("slow", path=DEPLOY, delay=1.5)],
    "429 with Retry-After": [Fault("429", times=2, path="/job/payments", retry_after=2)],
    "429 without Retry-After": [Fault("429", times=2, path="/job/platform", retry_after=None)],
    "all at once": [
        Fault("5xx", times=2, path="/api/json"),
        Fault("reset", path="/job/platform/job/tools/"),
        Fault("429", path=DEPLOY, retry_after=None),
        Fault("truncate", path="/job/payments/job/checkout/", skip=1),
    ],
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_transient_faults_leave_the_same_records(
    name: str, reference: dict[str, dict[str, Any]], connector_for: Factory, sqlite_store: Store
) -> None:
    fake = FakeJenkins(small_instance()).start()
    try:
        fake.inject(*SCENARIOS[name])
        outcome = sync_source(connector_for(fake, timeout=1.0), sqlite_store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        assert all(f.times == 0 for f in fake.faults), "every fault was hit"
        assert records(sqlite_store) == reference
    finally:
        fake.stop()


def test_retry_after_is_honoured_between_attempts(
    connector_for: Factory, sqlite_store: Store
) -> None:
    from tests.connectors.jenkins.conftest import SETTINGS, jenkins_config

    from streamgauge.connectors.jenkins import JenkinsConnector

    fake = FakeJenkins(small_instance()).start()
    slept: list[float] = []
    try:
        fake.inject(Fault("429", times=2, path=DEPLOY, retry_after=7))
        connector = JenkinsConnector(
            jenkins_config(fake), SETTINGS, clock=lambda: NOW, sleep=slept.append
        )
        assert sync_source(connector, sqlite_store, clock=lambda: NOW).ok
        connector.close()
        assert slept == [7.0, 7.0]
    finally:
        fake.stop()


def test_a_retry_after_longer_than_max_retry_wait_pauses_the_source_then_it_resumes(
    reference: dict[str, dict[str, Any]], connector_for: Factory, sqlite_store: Store
) -> None:
    fake = FakeJenkins(small_instance()).start()
    try:
        fake.inject(Fault("429", path=DEPLOY, retry_after=3600))
        now = [NOW]
        connector = connector_for(fake, clock=lambda: now[0])
        paused = sync_source(connector, sqlite_store, clock=lambda: now[0])
        assert not paused.ok
        assert not paused.fatal
        assert paused.paused_until == NOW + timedelta(hours=1)
        assert len(records(sqlite_store)) < len(reference)
        now[0] = NOW + timedelta(hours=1, seconds=1)
        resumed = sync_source(connector, sqlite_store, clock=lambda: now[0])
        assert resumed.ok, resumed.error
        assert records(sqlite_store) == reference
    finally:
        fake.stop()


def test_a_forbidden_job_is_fatal_for_that_job_only(
    reference: dict[str, dict[str, Any]], connector_for: Factory, sqlite_store: Store
) -> None:
    jenkins = small_instance()
    deploy = jenkins.find(["payments", "deploy"])
    deploy.forbidden = True  # type: ignore[union-attr]
    fake = FakeJenkins(jenkins).start()
    try:
        connector = connector_for(fake)
        outcome = sync_source(connector, sqlite_store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        got = records(sqlite_store)
        others = {
            k: v
            for k, v in reference.items()
            if "payments/deploy#" not in k and ":commit:" not in k
        }
        assert got == others
        # once the user may read it, the next sync reads its builds from the start
        deploy.forbidden = False  # type: ignore[union-attr]
        assert sync_source(connector, sqlite_store, clock=lambda: NOW + timedelta(minutes=5)).ok
        assert records(sqlite_store) == reference
    finally:
        fake.stop()


def test_a_forbidden_folder_is_skipped_and_the_rest_read(
    connector_for: Factory, sqlite_store: Store
) -> None:
    jenkins = small_instance()
    jenkins.find(["platform"]).forbidden = True  # type: ignore[union-attr]
    fake = FakeJenkins(jenkins).start()
    try:
        outcome = sync_source(connector_for(fake), sqlite_store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        pipelines = {r.pipeline for r in sqlite_store.iter_records("pipeline_run")}  # type: ignore[attr-defined]
        assert pipelines == {
            "payments/deploy",
            "payments/checkout/main",
            "payments/checkout/feature%2FPAY-4",
        }
    finally:
        fake.stop()


def test_a_malformed_build_is_skipped_and_counted(
    connector_for: Factory, sqlite_store: Store
) -> None:
    jenkins = small_instance()
    jenkins.find(["platform", "tools", "lint"]).builds[0].malformed = True  # type: ignore[union-attr]
    fake = FakeJenkins(jenkins).start()
    try:
        outcome = sync_source(connector_for(fake), sqlite_store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        assert outcome.skipped == 1
        pipelines = {r.pipeline for r in sqlite_store.iter_records("pipeline_run")}  # type: ignore[attr-defined]
        assert "platform/tools/lint" not in pipelines
        assert len(list(sqlite_store.iter_records("deployment"))) == 4
    finally:
        fake.stop()


def test_a_refused_token_stops_the_source_and_never_shows_the_token(
    connector_for: Factory, sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeJenkins(small_instance(), token="another-token").start()
    try:
        connector = connector_for(fake)
        outcome = sync_source(connector, sqlite_store, clock=lambda: NOW)
        assert outcome.fatal
        assert outcome.error is not None
        assert "check `user` and `api_token`" in outcome.error
        token = connector.jenkins_config.api_token.get_secret_value()
        basic = base64.b64encode(f"{connector.jenkins_config.user}:{token}".encode()).decode()
        for text in (outcome.error, caplog.text):
            assert token not in text
            assert basic not in text
        assert fake.total_requests == 1  # a 401 is not retried
    finally:
        fake.stop()


def test_a_configured_job_that_does_not_exist_is_named(
    connector_for: Factory, sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeJenkins(small_instance()).start()
    try:
        outcome = sync_source(
            connector_for(fake, jobs=["payments", "nope/gone"]), sqlite_store, clock=lambda: NOW
        )
        assert outcome.ok
        assert {r.pipeline for r in sqlite_store.iter_records("pipeline_run")} == {  # type: ignore[attr-defined]
            "payments/deploy",
            "payments/checkout/main",
            "payments/checkout/feature%2FPAY-4",
        }
        (message,) = [r.getMessage() for r in caplog.records if "nope/gone" in r.getMessage()]
        assert message.startswith(
            "nope/gone: not read this sync: Jenkins does not show job nope/gone"
        )
        assert "Job/Read" in message
    finally:
        fake.stop()
