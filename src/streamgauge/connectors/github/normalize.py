"""Pure mapping of GitHub's raw payloads onto the value-stream model."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from streamgauge.config import Settings
from streamgauge.connectors.base import RawRecord, SkippableRecord, optional_time, required_time
from streamgauge.connectors.github.config import GithubConfig
from streamgauge.linking import find_keys
from streamgauge.model import (
    Change,
    ChangeState,
    Commit,
    Deployment,
    DeploymentKind,
    Environment,
    FlowState,
    FlowType,
    Incident,
    PipelineRun,
    Record,
    RunResult,
    Severity,
    WorkItem,
    make_id,
)

log = logging.getLogger(__name__)

RUN_RESULTS = {
    "success": RunResult.SUCCESS,
    "failure": RunResult.FAILURE,
    "timed_out": RunResult.FAILURE,
    "startup_failure": RunResult.FAILURE,
    "action_required": RunResult.FAILURE,
    "cancelled": RunResult.CANCELED,
    "skipped": RunResult.CANCELED,
    "neutral": RunResult.SUCCESS,
    "stale": RunResult.CANCELED,
}
SEVERITIES = {
    "sev1": Severity.CRITICAL,
    "sev2": Severity.HIGH,
    "sev3": Severity.MEDIUM,
    "sev4": Severity.LOW,
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
}
TYPES = {
    "bug": FlowType.DEFECT,
    "defect": FlowType.DEFECT,
    "security": FlowType.RISK,
    "risk": FlowType.RISK,
    "tech-debt": FlowType.DEBT,
    "debt": FlowType.DEBT,
    "refactor": FlowType.DEBT,
}


def _labels(node: dict[str, Any]) -> tuple[str, ...]:
    return tuple(n["name"] for n in (node.get("labels") or {}).get("nodes") or [] if n)


class GithubMapping:
    """The rules a source's config and the settings give the mapping."""

    def __init__(self, source: str, config: GithubConfig, settings: Settings) -> None:
        self.source = source
        self.config = config
        self.settings = settings
        self.projects = config.work_item_projects or None

    def place(self, repo: str, labels: Sequence[str] = ()) -> tuple[str | None, str | None]:
        """(team, app) of a repository: explicit per-repo keys, then Settings rules, then the
        source's defaults; a repository nothing maps is its own app."""
        team, app = self.settings.resolve(
            repo=repo, labels=labels, default_team=self.config.team, default_app=self.config.app
        )
        app = self.config.repo_apps.get(repo) or app or repo.split("/")[-1]
        team = self.config.repo_teams.get(repo) or team or self.settings.team_of_app(app)
        return team, app

    def environment(self, name: str) -> Environment:
        lowered = name.lower()
        if lowered in {e.lower() for e in self.config.production_environments}:
            return Environment.PRODUCTION
        if lowered in {e.lower() for e in self.config.staging_environments}:
            return Environment.STAGING
        if lowered in {"test", "testing", "qa"}:
            return Environment.TESTING
        if lowered in {"dev", "development"}:
            return Environment.DEVELOPMENT
        return Environment.OTHER

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        mapper = getattr(self, f"_{raw.stream}", None)
        if mapper is None:  # the repositories stream only stores ETags, never records
            raise SkippableRecord(f"{raw.stream} {raw.native_id}: no records come from this stream")
        try:
            return list(mapper(raw.payload))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SkippableRecord(
                f"{raw.stream} {raw.native_id}: malformed payload ({type(exc).__name__}: {exc})"
            ) from None

    def _pull_requests(self, p: dict[str, Any]) -> Iterable[Record]:
        repo = p["repository"]
        labels = _labels(p)
        team, app = self.place(repo, labels)
        reviews = [
            r for r in (p.get("reviews") or {}).get("nodes") or [] if r and r.get("submittedAt")
        ]
        author = (p.get("author") or {}).get("login")
        others = [r for r in reviews if (r.get("author") or {}).get("login") != author]
        approvals = [r["submittedAt"] for r in others if r["state"] == "APPROVED"]
        first = [c["commit"] for c in (p.get("commits") or {}).get("nodes") or [] if c]
        state = {"MERGED": ChangeState.MERGED, "CLOSED": ChangeState.CLOSED}.get(
            p["state"], ChangeState.OPEN
        )
        yield Change(
            id=make_id(self.source, "change", f"{repo}#{p['number']}"),
            source=self.source,
            team=team,
            app=app,
            repo=repo,
            number=int(p["number"]),
            title=p.get("title") or "",
            author=author,
            state=state,
            created_at=required_time(p["createdAt"], "createdAt"),
            first_commit_at=min((optional_time(c["authoredDate"]) for c in first), default=None),  # type: ignore[type-var]
            first_review_at=optional_time(min((r["submittedAt"] for r in others), default=None)),
            approved_at=optional_time(min(approvals, default=None)),
            merged_at=optional_time(p.get("mergedAt")),
            merge_sha=(p.get("mergeCommit") or {}).get("oid"),
            base_branch=p.get("baseRefName"),
            head_branch=p.get("headRefName"),
            work_item_keys=find_keys(
                p.get("headRefName"), p.get("title"), p.get("body"), projects=self.projects
            ),
            review_rounds=sum(1 for r in others if r["state"] == "CHANGES_REQUESTED"),
            labels=labels,
            commit_shas=tuple(c["oid"] for c in first),
            updated_at=optional_time(p.get("updatedAt")),
        )

    def _commits(self, p: dict[str, Any]) -> Iterable[Record]:
        repo = p["repository"]
        team, app = self.place(repo)
        yield Commit(
            id=make_id(self.source, "commit", f"{repo}@{p['oid']}"),
            source=self.source,
            team=team,
            app=app,
            repo=repo,
            sha=p["oid"],
            authored_at=required_time(p["authoredDate"], "authoredDate"),
            committed_at=required_time(p["committedDate"], "committedDate"),
            branch=p.get("branch"),
            message=(p.get("messageHeadline") or "").splitlines()[0]
            if p.get("messageHeadline")
            else "",
            work_item_keys=find_keys(
                p.get("message") or p.get("messageHeadline"), projects=self.projects
            ),
            parents=tuple(n["oid"] for n in (p.get("parents") or {}).get("nodes") or [] if n),
        )

    def _workflow_runs(self, p: dict[str, Any]) -> Iterable[Record]:
        repo = p["repository"]["full_name"]
        team, app = self.place(repo)
        finished = p["status"] == "completed"
        result = (
            RUN_RESULTS.get(p.get("conclusion") or "", RunResult.FAILURE)
            if finished
            else RunResult.RUNNING
        )
        started = required_time(p.get("run_started_at") or p["created_at"], "created_at")
        yield PipelineRun(
            id=make_id(self.source, "pipeline_run", p["id"]),
            source=self.source,
            team=team,
            app=app,
            pipeline=f"{repo}/{p['name']}",
            repo=repo,
            sha=p.get("head_sha"),
            branch=p.get("head_branch"),
            event=p.get("event"),
            started_at=started,
            finished_at=optional_time(p["updated_at"]) if finished else None,
            result=result,
            original_result=p.get("conclusion") or p["status"],
            attempt=int(p.get("run_attempt") or 1),
        )
        if (p.get("_streamgauge") or {}).get("deployment"):
            yield Deployment(
                id=make_id(self.source, "deployment", f"run-{p['id']}"),
                source=self.source,
                team=team,
                app=app,
                environment=Environment.PRODUCTION,
                original_environment=p["name"],
                repo=repo,
                sha=p.get("head_sha"),
                started_at=started,
                finished_at=optional_time(p["updated_at"]) if finished else None,
                result=result,
                original_result=p.get("conclusion") or p["status"],
                deployment_kind=self._kind(p.get("head_branch") or "", (), {}, {}),
            )

    def _deployments(self, p: dict[str, Any]) -> Iterable[Record]:
        repo = p["repository"]
        facts = p.get("_streamgauge") or {}
        team, app = self.place(repo)
        statuses = [s for s in (p.get("statuses") or {}).get("nodes") or [] if s]
        latest = p.get("latestStatus") or {}
        states = {s["state"] for s in statuses} | {latest.get("state")}
        if "SUCCESS" in states:
            result = RunResult.SUCCESS
        elif latest.get("state") in {"FAILURE", "ERROR"}:
            result = RunResult.FAILURE
        elif latest.get("state") == "INACTIVE":
            result = RunResult.CANCELED
        else:
            result = RunResult.RUNNING
        done = [s["createdAt"] for s in statuses if s["state"] in {"SUCCESS", "FAILURE", "ERROR"}]
        payload = p.get("payload") or "{}"
        payload = json.loads(payload) if isinstance(payload, str) else payload
        env = p.get("environment") or ""
        yield Deployment(
            id=make_id(self.source, "deployment", p["databaseId"]),
            source=self.source,
            team=team,
            app=app,
            environment=self.environment(env),
            original_environment=env,
            repo=repo,
            sha=p["commitOid"],
            started_at=required_time(p["createdAt"], "createdAt"),
            finished_at=optional_time(max(done)) if done and result != RunResult.RUNNING else None,
            result=result,
            original_result=str(latest.get("state") or "").lower(),
            deployment_kind=self._kind(
                (p.get("ref") or {}).get("name") or "",
                facts.get("pull_labels") or (),
                facts,
                payload if isinstance(payload, dict) else {},
                task=p.get("task") or "",
            ),
            commit_shas=tuple(facts.get("shipped") or ()),
            incident_keys=tuple(str(k) for k in payload.get("incidents") or ()),
        )

    def _kind(
        self,
        ref: str,
        labels: Iterable[str],
        facts: dict[str, Any],
        payload: dict[str, Any],
        *,
        task: str = "",
    ) -> DeploymentKind:
        """Rollback: the payload or task says so, an older commit deployed again, a revert, a
        rollback label or branch. Hotfix: a hotfix label or branch."""
        labels = set(labels)
        branches = [ref, *(facts.get("pull_branches") or ())]
        if (
            payload.get("rollback")
            or "rollback" in task.lower()
            or facts.get("redeploy")
            or facts.get("reverts")
            or labels & set(self.config.rollback_labels)
            or any(re.search(self.config.rollback_branches, b) for b in branches)
        ):
            return DeploymentKind.ROLLBACK
        if (
            payload.get("hotfix")
            or labels & set(self.config.hotfix_labels)
            or any(re.search(self.config.hotfix_branches, b) for b in branches)
        ):
            return DeploymentKind.HOTFIX
        return DeploymentKind.REGULAR

    def _issues(self, p: dict[str, Any]) -> Iterable[Record]:
        if "pull_request" in p:  # REST issues include pull requests; the change stream has them
            return
        repo = p["repository"]
        labels = _labels(p)
        team, app = self.place(repo, labels)
        key = f"{repo}#{p['number']}"
        closed = optional_time(p.get("closedAt"))
        if set(labels) & set(self.config.incident_labels):
            severity = next(
                (
                    SEVERITIES[lbl.lower().removeprefix("severity:")]
                    for lbl in labels
                    if lbl.lower().removeprefix("severity:") in SEVERITIES
                ),
                Severity.UNKNOWN,
            )
            yield Incident(
                id=make_id(self.source, "incident", key),
                source=self.source,
                team=team,
                app=app,
                key=key,
                title=p.get("title") or "",
                opened_at=required_time(p["createdAt"], "createdAt"),
                resolved_at=closed,
                severity=severity,
                original_severity=next(
                    (lbl for lbl in labels if lbl.lower().removeprefix("severity:") in SEVERITIES),
                    "",
                ),
            )
            return
        flow_type = next(
            (TYPES[lbl.lower()] for lbl in labels if lbl.lower() in TYPES), FlowType.FEATURE
        )
        if closed is None:
            state = FlowState.NEW
        else:
            state = (
                FlowState.CANCELED
                if p.get("stateReason") in {"NOT_PLANNED", "DUPLICATE"}
                else FlowState.DONE
            )
        yield WorkItem(
            id=make_id(self.source, "work_item", key),
            source=self.source,
            team=team,
            app=app,
            key=key,
            title=p.get("title") or "",
            type=flow_type,
            original_type=",".join(labels),
            status=str(p.get("state") or "").lower(),
            flow_state=state,
            created_at=required_time(p["createdAt"], "createdAt"),
            done_at=closed,
            updated_at=optional_time(p.get("updatedAt")),
            labels=labels,
            project=repo,
        )
