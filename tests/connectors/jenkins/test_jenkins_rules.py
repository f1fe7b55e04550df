"""Which builds are deployments: explicit rules only, each verdict explained by the jobs report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from tests.connectors.jenkins.conftest import CHECKOUT_RULE, NOW, Factory, at
from tests.fakes.jenkins import PIPELINE, TOKEN, FakeJenkins, FakeStage, Instance

from streamgauge.cli import main
from streamgauge.config import Settings
from streamgauge.connectors.jenkins import DeploymentRule, jobs_report
from streamgauge.connectors.jenkins.normalize import classify
from streamgauge.model import Deployment, DeploymentKind, Environment, RunResult
from streamgauge.store import Store
from streamgauge.sync import sync_source

DEPLOY_RULE = "rule 1: job 'payments/deploy' and parameter ENVIRONMENT=production"


def deployments(store: Store) -> dict[str, Deployment]:
    return {r.id.split(":", 2)[2]: r for r in store.iter_records("deployment")}  # type: ignore[misc]


def rules(*specs: dict[str, str]) -> list[DeploymentRule]:
    return [DeploymentRule.model_validate(spec) for spec in specs]


def test_without_a_rule_no_build_is_a_deployment(
    fake_small: FakeJenkins, connector_for: Factory, store: Store
) -> None:
    assert sync_source(connector_for(fake_small, deployments=[]), store, clock=lambda: NOW).ok
    assert deployments(store) == {}
    assert len(list(store.iter_records("pipeline_run"))) == 9
    assert classify([], "payments/deploy", {}, None).reason == "no deployment rule is configured"


def test_the_first_rule_whose_every_condition_holds_decides() -> None:
    book = rules(
        {"job": "payments/*", "parameter": "ENVIRONMENT=production", "app": "checkout"},
        {"job": "payments/deploy", "environment": "staging"},
    )
    prod = classify(book, "payments/deploy", {"ENVIRONMENT": "production"}, None)
    assert (prod.deployment, prod.number, prod.rule and prod.rule.app) == (True, 1, "checkout")
    staging = classify(book, "payments/deploy", {"ENVIRONMENT": "qa"}, None)
    assert (staging.deployment, staging.number) == (True, 2)
    assert staging.rule is not None
    assert staging.rule.environment is Environment.STAGING
    other = classify(book, "payments/ci", {}, None)
    assert (other.deployment, other.reason) == (
        False,
        "rule 1: parameter ENVIRONMENT is not set, not 'production'",
    )
    assert classify(book, "platform/lint", {}, None).reason == "no rule's job pattern matches"


def test_deployments_of_the_parameterized_job_only(
    fake_small: FakeJenkins, connector_for: Factory, store: Store
) -> None:
    assert sync_source(connector_for(fake_small), store, clock=lambda: NOW).ok
    found = deployments(store)
    # #2 ran with ENVIRONMENT=staging; the CI jobs match no rule
    assert sorted(found) == [
        "payments/deploy#1",
        "payments/deploy#3",
        "payments/deploy#4",
        "payments/deploy#5",
    ]
    one = found["payments/deploy#1"]
    assert (one.app, one.team, one.environment, one.original_environment) == (
        "checkout",
        "payments",
        Environment.PRODUCTION,
        "production",
    )
    assert (one.started_at, one.finished_at, one.result) == (
        at(4, 10),
        at(4, 10, 10),
        RunResult.SUCCESS,
    )
    assert len(one.commit_shas) == 2
    # #4 follows the failed #3: it ships #3's commit as well as its own
    assert deployments(store)["payments/deploy#4"].commit_shas == (
        found["payments/deploy#3"].commit_shas[0],
        found["payments/deploy#4"].sha,
    )


def test_a_rollback_parameter_and_a_hotfix_branch_set_the_kind(
    connector_for: Factory, store: Store
) -> None:
    jenkins = Instance()
    app = jenkins.folder("shop")
    deploy = app.job("deploy")
    deploy.build(at(10, 9), params={"ENVIRONMENT": "production"})
    deploy.build(at(10, 10), params={"ENVIRONMENT": "production", "ROLLBACK": "true"})
    hotfix = app.multibranch("web").job("hotfix/login")
    hotfix.build(at(11, 9))
    fake = FakeJenkins(jenkins).start()
    try:
        book = [
            {"job": "shop/deploy", "parameter": "ENVIRONMENT=production"},
            {"job": "shop/web/hotfix*", "app": "shop"},
        ]
        assert sync_source(connector_for(fake, deployments=book), store, clock=lambda: NOW).ok
        kinds = {k: d.deployment_kind for k, d in deployments(store).items()}
        assert kinds == {
            "shop/deploy#1": DeploymentKind.REGULAR,
            "shop/deploy#2": DeploymentKind.ROLLBACK,
            "shop/web/hotfix%2Flogin#1": DeploymentKind.HOTFIX,
        }
    finally:
        fake.stop()


def staged_instance() -> Instance:
    jenkins = Instance()
    platform = jenkins.folder("platform")
    deploy = platform.job("deliver", PIPELINE)

    def stages(start_hour: int, deploy_status: str) -> list[FakeStage]:
        start = at(12, start_hour)
        return [
            FakeStage("Build", "SUCCESS", start, timedelta(minutes=4)),
            FakeStage(
                "Deploy to production",
                deploy_status,
                start + timedelta(minutes=5),
                timedelta(minutes=3),
            ),
        ]

    deploy.build(at(12, 9), minutes=10, stages=stages(9, "SUCCESS"))
    deploy.build(at(12, 10), minutes=10, stages=stages(10, "NOT_EXECUTED"))  # when-condition false
    deploy.build(at(12, 11), minutes=10, result="FAILURE", stages=stages(11, "FAILED"))
    deploy.build(at(12, 12), result=None)  # still running: its stages are asked once it ends
    ci = platform.job("ci", PIPELINE)
    ci.build(at(12, 8), stages=stages(8, "SUCCESS"))
    return jenkins


def test_a_stage_rule_reads_stages_only_of_the_builds_it_could_classify(
    connector_for: Factory, store: Store
) -> None:
    fake = FakeJenkins(staged_instance()).start()
    try:
        book = [{"job": "platform/deliver", "stage": "Deploy to production", "app": "platform"}]
        assert sync_source(connector_for(fake, deployments=book), store, clock=lambda: NOW).ok
        # the three finished builds of platform/deliver; not the running one, not platform/ci
        assert fake.requests["stages"] == 3
        found = deployments(store)
        assert sorted(found) == ["platform/deliver#1", "platform/deliver#3"]
        # the deployment's times and outcome are the deploy stage's, not the whole run's
        one = found["platform/deliver#1"]
        assert (one.started_at, one.finished_at) == (at(12, 9, 5), at(12, 9, 8))
        assert (one.result, one.original_result) == (RunResult.SUCCESS, "SUCCESS")
        assert (
            found["platform/deliver#3"].result,
            found["platform/deliver#3"].original_result,
        ) == (
            RunResult.FAILURE,
            "FAILED",
        )
        (entry,) = [
            e for e in jobs_report(store, _settings(fake, book)) if e.job == "platform/deliver"
        ]
        assert entry.reasons == {
            "rule 1: job 'platform/deliver' and stage 'Deploy to production'": 2,
            "rule 1: stage 'Deploy to production' did not run": 1,
            "rule 1: no stages are known": 1,
        }
    finally:
        fake.stop()


def _settings(fake: FakeJenkins, book: list[dict[str, str]]) -> Settings:
    from tests.connectors.jenkins.conftest import jenkins_config

    return Settings(sources=[jenkins_config(fake, deployments=book)])


def test_the_jobs_report_says_why_each_build_did_or_did_not_count(
    fake_small: FakeJenkins, connector_for: Factory, store: Store
) -> None:
    assert sync_source(connector_for(fake_small), store, clock=lambda: NOW).ok
    settings = _settings(fake_small, [CHECKOUT_RULE])
    report = {e.job: e for e in jobs_report(store, settings)}
    deploy = report["payments/deploy"]
    assert (deploy.builds, deploy.deployments, deploy.apps) == (5, 4, ["checkout (production)"])
    assert deploy.reasons == {
        DEPLOY_RULE: 4,
        "rule 1: parameter ENVIRONMENT is 'staging', not 'production'": 1,
    }
    assert report["platform/tools/lint"].reasons == {"no rule's job pattern matches": 1}
    assert (
        report["platform/tools/never-built"].builds,
        report["platform/tools/never-built"].reasons,
    ) == (0, {})
    # a changed rule shows at once, from the stored builds, without a sync
    changed = _settings(fake_small, [{"job": "payments/deploy"}])
    assert {e.job: e.deployments for e in jobs_report(store, changed)}["payments/deploy"] == 5


def test_jobs_command_prints_each_job_and_its_verdicts(
    fake_small: FakeJenkins, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "streamgauge.yaml"
    source = {
        "name": "ci",
        "type": "jenkins",
        "url": fake_small.url,
        "user": "ci-reader",
        "api_token": TOKEN,
        "history": "3650d",
        "deployments": [CHECKOUT_RULE],
    }
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path), "sources": [source]}))
    assert main(["sync", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["jobs", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "ci: payments/deploy: 5 builds, 4 deployments of checkout (production)\n" in out
    assert f"         4  {DEPLOY_RULE}\n" in out
    assert "ci: platform/tools/never-built: 0 builds, 0 deployments\n" in out
    assert TOKEN not in out
