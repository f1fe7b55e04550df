"""Simulated things that start and finish (CI runs, deployments, incidents) viewed at ``t``."""

from __future__ import annotations

from dataclasses import dataclass

from streamgauge.connectors.demo.plans import Frame
from streamgauge.model import (
    Deployment,
    DeploymentKind,
    Environment,
    Incident,
    PipelineRun,
    RunResult,
    Severity,
)

_SEVERITY_NAMES = {
    Severity.CRITICAL: "SEV1",
    Severity.HIGH: "SEV2",
    Severity.MEDIUM: "SEV3",
    Severity.LOW: "SEV4",
    Severity.UNKNOWN: "unknown",
}


def _result(failed: bool, finished: int, t: int) -> RunResult:
    """Running until it has finished; then its drawn outcome."""
    if finished > t:
        return RunResult.RUNNING
    return RunResult.FAILURE if failed else RunResult.SUCCESS


@dataclass(slots=True, kw_only=True)
class RunPlan:
    """A CI run; ``events`` are its start and its end."""

    native: str
    repo: str
    team: str
    app: str
    sha: str
    branch: str
    event: str
    events: list[int]
    failed: bool
    attempt: int

    def build(self, f: Frame, t: int) -> PipelineRun:
        result = _result(self.failed, self.events[1], t)
        return PipelineRun(
            id=f.id("pipeline_run", self.native),
            source=f.source,
            team=self.team,
            app=self.app,
            pipeline="ci",
            repo=self.repo,
            sha=self.sha,
            branch=self.branch,
            event=self.event,
            started_at=f.at(self.events[0]),
            finished_at=f.maybe(self.events[1], t),
            result=result,
            original_result=result.value,
            attempt=self.attempt,
        )


@dataclass(slots=True, kw_only=True)
class DeployPlan:
    """A deployment of an app to an environment; ``events`` are its start and its end."""

    native: str
    team: str
    app: str
    repo: str
    environment: Environment
    kind: DeploymentKind
    sha: str
    events: list[int]
    failed: bool
    commit_shas: tuple[str, ...]  # merge commits this deployment shipped first
    incident_keys: tuple[str, ...]  # the incident a rollback or hotfix was made for

    def build(self, f: Frame, t: int) -> Deployment:
        result = _result(self.failed, self.events[1], t)
        return Deployment(
            id=f.id("deployment", self.native),
            source=f.source,
            team=self.team,
            app=self.app,
            environment=self.environment,
            original_environment=self.environment.value,
            repo=self.repo,
            sha=self.sha,
            started_at=f.at(self.events[0]),
            finished_at=f.maybe(self.events[1], t),
            result=result,
            original_result="in_progress" if result is RunResult.RUNNING else result.value,
            deployment_kind=self.kind,
            commit_shas=self.commit_shas,
            incident_keys=self.incident_keys,
        )


@dataclass(slots=True, kw_only=True)
class IncidentPlan:
    """A production incident; its end is added when the remedy that ends it is drawn."""

    key: str
    team: str
    app: str
    title: str
    severity: Severity
    deployment: str | None  # native id of the deployment named as its cause, if any
    events: list[int]  # opened, then resolved once known

    def resolve(self, at: int) -> None:
        self.events.append(at)

    def build(self, f: Frame, t: int) -> Incident:
        resolved = self.events[1] if len(self.events) > 1 else None
        return Incident(
            id=f.id("incident", self.key),
            source=f.source,
            team=self.team,
            app=self.app,
            key=self.key,
            title=self.title,
            opened_at=f.at(self.events[0]),
            resolved_at=f.maybe(resolved, t),
            severity=self.severity,
            original_severity=_SEVERITY_NAMES[self.severity],
            deployment_id=None if self.deployment is None else f.id("deployment", self.deployment),
        )
