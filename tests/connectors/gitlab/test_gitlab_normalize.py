"""The pure mapping of GitLab payloads (as the fake's REST and GraphQL answers shape them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.connectors.gitlab.conftest import NOW, Factory, at, small_group
from tests.fakes.gitlab import FakeGitLab, payloads

from streamgauge.connectors.base import RawRecord
from streamgauge.model import (
    Deployment,
    DeploymentKind,
    Environment,
    Incident,
    RunResult,
    Severity,
    WorkItem,
)
from streamgauge.store import Store
from streamgauge.sync import sync_source


def deployment_raw(
    status: str, *, environment: str = "production", tier: str = "production"
) -> RawRecord:
    project = small_group().projects["acme/checkout"]
    made = project.deploy(
        project.head or "", at(10), status=status, environment=environment, tier=tier
    )
    payload = payloads.deployment(made, project, "http://127.0.0.1")
    return RawRecord(
        "deployments", f"acme/checkout/{made.id}", {"project": project.path, **payload}, NOW
    )


@pytest.mark.parametrize(
    ("status", "result"),
    [
        ("created", RunResult.RUNNING),
        ("running", RunResult.RUNNING),
        ("blocked", RunResult.RUNNING),  # waiting for a manual approval
        ("success", RunResult.SUCCESS),
        ("failed", RunResult.FAILURE),
        ("canceled", RunResult.CANCELED),
        ("skipped", RunResult.CANCELED),
    ],
)
def test_deployment_statuses_map_onto_results(
    status: str, result: RunResult, fake_small: FakeGitLab, connector_for: Factory
) -> None:
    (record,) = connector_for(fake_small).normalize(deployment_raw(status))
    assert isinstance(record, Deployment)
    assert (record.result, record.original_result) == (result, status)
    # a deployment still under way has no end yet
    assert (record.finished_at is None) == (result is RunResult.RUNNING)


@pytest.mark.parametrize(
    ("name", "tier", "environment"),
    [
        ("live", "production", Environment.PRODUCTION),  # the tier decides
        ("prod", "other", Environment.PRODUCTION),  # or a name in production_environments
        ("preprod", "other", Environment.STAGING),
        ("review/feature-x", "development", Environment.DEVELOPMENT),
        ("sandbox", "other", Environment.OTHER),
    ],
)
def test_environments_by_tier_or_name(
    name: str, tier: str, environment: Environment, fake_small: FakeGitLab, connector_for: Factory
) -> None:
    (record,) = connector_for(fake_small).normalize(
        deployment_raw("success", environment=name, tier=tier)
    )
    assert isinstance(record, Deployment)
    assert (record.environment, record.original_environment) == (environment, name)


def issue_raw(**fields: Any) -> RawRecord:
    project = small_group().projects["acme/checkout"]
    made = project.issue("Payments fail", at(12), **fields)
    payload = payloads.issue(made, project, "http://127.0.0.1")
    return RawRecord(
        "issues", f"acme/checkout#{made.iid}", {"project": project.path, **payload}, NOW
    )


def test_an_incident_takes_its_severity_from_a_label_then_from_its_field(
    fake_small: FakeGitLab, connector_for: Factory
) -> None:
    connector = connector_for(fake_small)
    (labelled,) = connector.normalize(
        issue_raw(issue_type="incident", labels=["Severity::1"], severity="LOW")
    )
    assert isinstance(labelled, Incident)
    assert (labelled.severity, labelled.original_severity) == (Severity.CRITICAL, "Severity::1")
    (by_field,) = connector.normalize(issue_raw(issue_type="incident", severity="MEDIUM"))
    assert (by_field.severity, by_field.original_severity) == (Severity.MEDIUM, "MEDIUM")  # type: ignore[attr-defined]
    (unknown,) = connector.normalize(issue_raw(issue_type="incident"))
    assert unknown.severity is Severity.UNKNOWN  # type: ignore[attr-defined]


def test_other_issues_are_work_items_only_when_configured(
    fake_small: FakeGitLab, connector_for: Factory
) -> None:
    assert list(connector_for(fake_small).normalize(issue_raw(labels=["bug"]))) == []
    (item,) = connector_for(fake_small, work_items=True).normalize(issue_raw(labels=["bug"]))
    assert isinstance(item, WorkItem)
    # the small project has an incident (#1) and a bug (#2) already: this one is #3
    assert (item.key, item.type.value, item.status) == ("acme/checkout#3", "defect", "opened")


def test_a_running_deployment_is_read_again_when_it_ends(
    fake_small: FakeGitLab, connector_for: Factory, sqlite_store: Store
) -> None:
    now = [NOW]
    connector = connector_for(fake_small, clock=lambda: now[0])
    project = fake_small.group.projects["acme/checkout"]
    with fake_small.lock:
        sha = project.push("PAY-8 config", NOW - timedelta(hours=2))
        running = project.deploy(sha, NOW - timedelta(hours=1), status="running")
    assert sync_source(connector, sqlite_store, clock=lambda: now[0]).ok
    record = {r.id: r for r in sqlite_store.iter_records("deployment")}
    first = record[f"gitlab:deployment:acme/checkout/{running.id}"]
    assert isinstance(first, Deployment)
    assert (first.result, first.finished_at, first.commit_shas) == (RunResult.RUNNING, None, ())
    with fake_small.lock:  # it ends an hour later, which updates it
        running.status, running.finished = "success", NOW + timedelta(minutes=50)
        running.updated = running.finished
    now[0] = NOW + timedelta(hours=1)
    assert sync_source(connector, sqlite_store, clock=lambda: now[0]).ok
    record = {r.id: r for r in sqlite_store.iter_records("deployment")}
    done = record[f"gitlab:deployment:acme/checkout/{running.id}"]
    assert isinstance(done, Deployment)
    assert (done.result, done.finished_at) == (RunResult.SUCCESS, NOW + timedelta(minutes=50))
    # production last had merge !1 (the rollback R); this ships the squash of !2 and the push
    assert done.commit_shas == (sha, project.mrs[1].squash_commit_sha)
    assert done.deployment_kind is DeploymentKind.REGULAR


def test_a_project_maps_to_its_app_and_team_by_the_per_project_keys_then_the_rules(
    fake_small: FakeGitLab, connector_for: Factory
) -> None:
    from streamgauge.config import Settings

    settings = Settings(teams={"payments": {"apps": ["billing"]}})  # type: ignore[arg-type]
    by_key = connector_for(
        fake_small, settings, project_apps={"acme/checkout": "billing"}, team="fallback"
    )
    (record,) = by_key.normalize(deployment_raw("success"))
    # project_apps names the app; the team is the one whose apps list it, not the fallback
    assert (record.app, record.team) == ("billing", "payments")
    (plain,) = connector_for(fake_small).normalize(deployment_raw("success"))
    assert (plain.app, plain.team) == ("checkout", None)  # nothing maps it: its own app
    teamed = connector_for(fake_small, project_teams={"acme/checkout": "platform"})
    (record,) = teamed.normalize(deployment_raw("success"))
    assert (record.app, record.team) == ("checkout", "platform")
