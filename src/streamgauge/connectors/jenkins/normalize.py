"""Pure mapping of Jenkins builds onto the model, and the rules that make a build a deployment."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from streamgauge.config import Settings
from streamgauge.connectors.base import RawRecord, SkippableRecord
from streamgauge.connectors.jenkins.config import DeploymentRule, JenkinsConfig
from streamgauge.connectors.jenkins.streams import build_parameters, change_items, millis
from streamgauge.linking import find_keys
from streamgauge.model import (
    Commit,
    Deployment,
    DeploymentKind,
    PipelineRun,
    Record,
    RunResult,
    make_id,
)

RESULTS = {
    "SUCCESS": RunResult.SUCCESS,
    "UNSTABLE": RunResult.FAILURE,  # tests failed: the build did not deliver what it should
    "FAILURE": RunResult.FAILURE,
    "ABORTED": RunResult.CANCELED,
    "NOT_BUILT": RunResult.CANCELED,
}
# Pipeline Stage View's stage statuses
STAGE_RESULTS = {
    "SUCCESS": RunResult.SUCCESS,
    "UNSTABLE": RunResult.FAILURE,
    "FAILED": RunResult.FAILURE,
    "ABORTED": RunResult.CANCELED,
    "IN_PROGRESS": RunResult.RUNNING,
    "PAUSED_PENDING_INPUT": RunResult.RUNNING,
}
_REPO = re.compile(r"[:/]([^/:]+/[^/]+?)(?:\.git)?/?$")
_BRANCH_PREFIXES = ("refs/remotes/origin/", "refs/heads/", "origin/")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a build is a deployment, by which rule (1-based), and why in words."""

    deployment: bool
    reason: str
    rule: DeploymentRule | None = None
    number: int | None = None
    stage: dict[str, Any] | None = None


def classify(
    rules: Iterable[DeploymentRule],
    path: str,
    params: dict[str, str],
    stages: list[dict[str, Any]] | None,
) -> Verdict:
    """The first rule whose every condition holds makes the build a deployment.

    With no rule at all no build is one: Jenkins cannot tell a deploy from a test run.
    """
    rules = list(rules)
    if not rules:
        return Verdict(False, "no deployment rule is configured")
    reasons: list[str] = []
    for number, rule in enumerate(rules, 1):
        if not rule.matches_job(path):
            continue
        pair = rule.parameter_pair
        if pair is not None and params.get(pair[0]) != pair[1]:
            got = params.get(pair[0])
            seen = f"is {got!r}" if got is not None else "is not set"
            reasons.append(f"rule {number}: parameter {pair[0]} {seen}, not {pair[1]!r}")
            continue
        if rule.stage is not None:
            ran = [
                s
                for s in stages or []
                if s.get("name") == rule.stage and s.get("status") != "NOT_EXECUTED"
            ]
            if not ran:
                where = (
                    "no stages are known" if stages is None else f"stage {rule.stage!r} did not run"
                )
                reasons.append(f"rule {number}: {where}")
                continue
            return Verdict(True, f"rule {number}: {rule.describe()}", rule, number, ran[-1])
        return Verdict(True, f"rule {number}: {rule.describe()}", rule, number)
    if not reasons:
        return Verdict(False, "no rule's job pattern matches")
    return Verdict(False, "; ".join(reasons))


def repo_of(build: dict[str, Any]) -> str | None:
    """owner/name of the first git remote the build checked out (git plugin's BuildData)."""
    for action in build.get("actions") or []:
        if isinstance(action, dict):
            for url in action.get("remoteUrls") or []:
                match = _REPO.search(str(url))
                if match:
                    return match.group(1)
    return None


def revision(build: dict[str, Any]) -> tuple[str | None, str | None]:
    """(sha, branch) from lastBuiltRevision: the commit the build actually checked out."""
    for action in build.get("actions") or []:
        if isinstance(action, dict) and isinstance(action.get("lastBuiltRevision"), dict):
            rev = action["lastBuiltRevision"]
            branches = [b.get("name") for b in rev.get("branch") or [] if isinstance(b, dict)]
            branch = next((str(b) for b in branches if b), None)
            for prefix in _BRANCH_PREFIXES:
                if branch and branch.startswith(prefix):
                    branch = branch[len(prefix) :]
            return rev.get("SHA1"), branch
    return None, None


def causes(build: dict[str, Any]) -> list[str]:
    """Short class names of what started the build: UserIdCause, SCMTriggerCause, ..."""
    out = []
    for action in build.get("actions") or []:
        if isinstance(action, dict):
            for cause in action.get("causes") or []:
                if isinstance(cause, dict) and cause.get("_class"):
                    out.append(str(cause["_class"]).rsplit(".", 1)[-1].rsplit("$", 1)[-1])
    return out


class JenkinsMapping:
    """The rules a source's config and the settings give the mapping."""

    def __init__(self, source: str, config: JenkinsConfig, settings: Settings) -> None:
        self.source = source
        self.config = config
        self.settings = settings
        pair = (config.rollback_parameter or "").partition("=")
        self.rollback = (pair[0].strip(), pair[2].strip()) if config.rollback_parameter else None
        self.hotfix = re.compile(config.hotfix_jobs) if config.hotfix_jobs else None

    def place(
        self, path: str, repo: str | None, rule: DeploymentRule | None = None
    ) -> tuple[str | None, str | None]:
        """(team, app) of a job: the rule's app, then job_apps, the Settings rules on its git
        repository, the source's default; a job nothing maps belongs to the app named by its
        first path part. The team: job_teams, then the app's team, then the defaults."""
        team, app = self.settings.resolve(repo=repo)
        app = (
            (rule.app if rule else None)
            or self.config.mapped(self.config.job_apps, path)
            or app
            or self.config.app
            or path.split("/")[0]
        )
        team = (
            self.config.mapped(self.config.job_teams, path)
            or self.settings.team_of_app(app)
            or team
            or self.config.team
        )
        return team, app

    def verdict(self, payload: dict[str, Any]) -> Verdict:
        job = payload["job"]
        stages = payload.get("stages")
        return classify(self.config.deployments, job["fullName"], build_parameters(payload), stages)

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        try:
            if raw.stream == "jobs":
                if not raw.payload["fullName"] or "_class" not in raw.payload:
                    raise KeyError("_class")
                return []  # the jobs report reads these; no model record comes from a job
            if raw.stream != "builds":
                raise KeyError(raw.stream)
            return list(self._build(dict(raw.payload)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SkippableRecord(
                f"{raw.stream} {raw.native_id}: malformed payload ({type(exc).__name__}: {exc})"
            ) from None

    def _build(self, b: dict[str, Any]) -> Iterable[Record]:
        job = b["job"]
        path = str(job["fullName"])
        number = b["number"]
        if not isinstance(number, int) or isinstance(number, bool):
            raise ValueError(f"build number {number!r} is not a whole number")
        started = millis(b["timestamp"])
        building = bool(b.get("building"))
        original = b.get("result")
        if building or original is None:
            result, finished = RunResult.RUNNING, None
        else:
            result = RESULTS.get(str(original), RunResult.FAILURE)
            finished = started + timedelta(milliseconds=float(b.get("duration") or 0))
        sha, branch = revision(b)
        if branch is None and job.get("multibranchBranch"):
            branch = unquote(path.rsplit("/", 1)[-1])  # branch jobs are named by their branch
        repo = repo_of(b)
        params = build_parameters(b)
        verdict = self.verdict(b)
        team, app = self.place(path, repo)
        native = f"{path}#{number}"
        items = change_items(b)
        run = PipelineRun(
            id=make_id(self.source, "pipeline_run", native),
            source=self.source,
            team=team,
            app=app,
            pipeline=path,
            repo=repo,
            sha=sha,
            branch=branch,
            event=next(iter(causes(b)), None),
            started_at=started,
            finished_at=finished,
            result=result,
            original_result=str(original or ("BUILDING" if building else "")),
        )
        yield run
        if self.config.commits:
            for item in items:
                at = millis(item["timestamp"])
                message = str(item.get("msg") or "")
                yield Commit(
                    id=make_id(self.source, "commit", f"{repo or path}@{item['commitId']}"),
                    source=self.source,
                    team=team,
                    app=app,
                    repo=repo or path,
                    sha=str(item["commitId"]),
                    authored_at=at,
                    committed_at=at,
                    message=message.splitlines()[0] if message else "",
                    work_item_keys=find_keys(message),
                )
        if verdict.deployment and verdict.rule is not None:
            yield self._deployment(b, run, verdict, params)

    def _deployment(
        self, b: dict[str, Any], run: PipelineRun, verdict: Verdict, params: dict[str, str]
    ) -> Deployment:
        """The build as a deployment: its own times and result, or its deploy stage's."""
        rule = verdict.rule
        assert rule is not None
        team, app = self.place(run.pipeline, run.repo, rule)
        started, finished = run.started_at, run.finished_at
        result, original = run.result, run.original_result
        if verdict.stage is not None:
            stage = verdict.stage
            original = str(stage.get("status") or "")
            result = STAGE_RESULTS.get(original, RunResult.FAILURE)
            started = millis(stage["startTimeMillis"])
            finished = None
            if result is not RunResult.RUNNING:
                finished = started + timedelta(milliseconds=float(stage.get("durationMillis") or 0))
        kind = DeploymentKind.REGULAR
        if self.rollback and params.get(self.rollback[0], "").lower() == self.rollback[1].lower():
            kind = DeploymentKind.ROLLBACK
        elif self.hotfix and (
            self.hotfix.search(run.pipeline) or self.hotfix.search(run.branch or "")
        ):
            kind = DeploymentKind.HOTFIX
        carried = [str(sha) for sha in b.get("carried") or []]
        shas = [*carried, *(str(i["commitId"]) for i in change_items(b))]
        pair = rule.parameter_pair
        return Deployment(
            id=make_id(self.source, "deployment", run.id.split(":", 2)[2]),
            source=self.source,
            team=team,
            app=app,
            environment=rule.environment,
            original_environment=params.get(pair[0], "") if pair else str(rule.environment),
            repo=run.repo,
            sha=run.sha,
            started_at=started,
            finished_at=finished,
            result=result,
            original_result=original,
            deployment_kind=kind,
            commit_shas=tuple(dict.fromkeys(shas)),
        )
