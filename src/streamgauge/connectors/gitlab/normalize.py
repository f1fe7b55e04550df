"""Pure mapping of GitLab's raw payloads onto the value-stream model."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from streamgauge.config import Settings
from streamgauge.connectors.base import RawRecord, SkippableRecord, optional_time, required_time
from streamgauge.connectors.gitlab.config import GitlabConfig
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

# GraphQL's PipelineStatusEnum and CiJobStatus (upper case) and REST's statuses (lower case)
RUN_RESULTS = {
    "success": RunResult.SUCCESS,
    "failed": RunResult.FAILURE,
    "canceled": RunResult.CANCELED,
    "canceling": RunResult.CANCELED,
    "skipped": RunResult.CANCELED,
    "manual": RunResult.CANCELED,
}
# deployment statuses: created, running, success, failed, canceled, skipped, blocked
DEPLOYMENT_RESULTS = {
    "success": RunResult.SUCCESS,
    "failed": RunResult.FAILURE,
    "canceled": RunResult.CANCELED,
    "skipped": RunResult.CANCELED,
}
SEVERITIES = {s.value.upper(): s for s in Severity}  # GitLab's IssuableSeverity values
TYPES = {
    "bug": FlowType.DEFECT,
    "defect": FlowType.DEFECT,
    "type::bug": FlowType.DEFECT,
    "security": FlowType.RISK,
    "risk": FlowType.RISK,
    "tech-debt": FlowType.DEBT,
    "debt": FlowType.DEBT,
    "type::maintenance": FlowType.DEBT,
}
# the system notes GitLab writes when a reviewer approves, or asks for changes (GitLab 17.x)
APPROVED_NOTE = "approved this merge request"
CHANGES_NOTE = "requested changes"


def _nodes(node: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [n for n in (node.get(name) or {}).get("nodes") or [] if n]


class GitlabMapping:
    """The rules a source's config and the settings give the mapping."""

    def __init__(self, source: str, config: GitlabConfig, settings: Settings) -> None:
        self.source = source
        self.config = config
        self.settings = settings
        self.projects = config.work_item_projects or None
        self.severity_labels = {k.lower(): Severity(v) for k, v in config.severity_labels.items()}

    def place(self, project: str, labels: Sequence[str] = ()) -> tuple[str | None, str | None]:
        """(team, app) of a project: the per-project keys, then the Settings rules, then the
        source's defaults; a project nothing maps is its own app. The team of an app is the
        team that lists the app, before any team a rule or default names."""
        team, app = self.settings.resolve(repo=project, labels=labels)
        app = self.config.project_apps.get(project) or app or self.config.app
        app = app or project.split("/")[-1]
        team = (
            self.config.project_teams.get(project)
            or self.settings.team_of_app(app)
            or team
            or self.config.team
        )
        return team, app

    def environment(self, name: str, tier: str | None) -> Environment:
        lowered = name.lower()
        if tier == "production" or lowered in {
            e.lower() for e in self.config.production_environments
        }:
            return Environment.PRODUCTION
        if tier == "staging" or lowered in {e.lower() for e in self.config.staging_environments}:
            return Environment.STAGING
        if tier == "testing" or lowered in {"test", "testing", "qa"}:
            return Environment.TESTING
        if (
            tier == "development"
            or lowered in {"dev", "development"}
            or lowered.startswith("review/")
        ):
            return Environment.DEVELOPMENT
        return Environment.OTHER

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        mapper = getattr(self, f"_{raw.stream}", None)
        if mapper is None:  # the projects stream only stores the project list
            raise SkippableRecord(f"{raw.stream} {raw.native_id}: no records come from this stream")
        try:
            return list(mapper(raw.payload))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise SkippableRecord(
                f"{raw.stream} {raw.native_id}: malformed payload ({type(exc).__name__}: {exc})"
            ) from None

    def _merge_requests(self, p: dict[str, Any]) -> Iterable[Record]:
        project = p["project"]
        labels = tuple(n["title"] for n in _nodes(p, "labels"))
        team, app = self.place(project, labels)
        author = (p.get("author") or {}).get("username")
        notes = [n for n in _nodes(p, "notes") if (n.get("author") or {}).get("username") != author]
        # approvals carry no time; GitLab writes a system note when one is given
        system = [n for n in notes if n.get("system")]
        approvals = [
            required_time(n["createdAt"], "createdAt")
            for n in system
            if n.get("body") == APPROVED_NOTE
        ]
        reviews = [required_time(n["createdAt"], "createdAt") for n in notes if not n.get("system")]
        reviews += approvals
        commits = _nodes(p, "commits")
        state = {"merged": ChangeState.MERGED, "closed": ChangeState.CLOSED}.get(
            p["state"], ChangeState.OPEN
        )
        # a deployment's sha may be the merge commit, the squash commit or the head (fast-forward)
        landed = [p.get("mergeCommitSha"), p.get("squashCommitSha"), p.get("diffHeadSha")]
        merge_sha = next((s for s in landed if s), None) if state is ChangeState.MERGED else None
        shas = [s for s in landed[1:] if s and s != merge_sha]
        shas += [c["sha"] for c in commits if c["sha"] not in shas and c["sha"] != merge_sha]
        authored = [required_time(c["authoredDate"], "authoredDate") for c in commits]
        yield Change(
            id=make_id(self.source, "change", f"{project}!{p['iid']}"),
            source=self.source,
            team=team,
            app=app,
            repo=project,
            number=int(p["iid"]),
            title=p.get("title") or "",
            author=author,
            state=state,
            created_at=required_time(p["createdAt"], "createdAt"),
            first_commit_at=min(authored, default=None),
            first_review_at=min(reviews, default=None),
            approved_at=min(approvals, default=None),
            merged_at=optional_time(p.get("mergedAt")),
            merge_sha=merge_sha,
            base_branch=p.get("targetBranch"),
            head_branch=p.get("sourceBranch"),
            work_item_keys=find_keys(
                p.get("sourceBranch"), p.get("title"), p.get("description"), projects=self.projects
            ),
            review_rounds=sum(1 for n in system if n.get("body") == CHANGES_NOTE),
            labels=labels,
            commit_shas=tuple(shas),
            updated_at=optional_time(p.get("updatedAt")),
        )

    def _commits(self, p: dict[str, Any]) -> Iterable[Record]:
        project = p["project"]
        team, app = self.place(project)
        yield Commit(
            id=make_id(self.source, "commit", f"{project}@{p['id']}"),
            source=self.source,
            team=team,
            app=app,
            repo=project,
            sha=p["id"],
            authored_at=required_time(p["authored_date"], "authored_date"),
            committed_at=required_time(p["committed_date"], "committed_date"),
            branch=p.get("branch"),
            message=(p.get("title") or "").splitlines()[0] if p.get("title") else "",
            work_item_keys=find_keys(p.get("message") or p.get("title"), projects=self.projects),
            parents=tuple(p.get("parent_ids") or ()),
        )

    def _pipelines(self, p: dict[str, Any]) -> Iterable[Record]:
        project = p["project"]
        team, app = self.place(project)
        status = str(p["status"]).lower()
        started = required_time(p.get("startedAt") or p["createdAt"], "createdAt")
        yield PipelineRun(
            id=make_id(self.source, "pipeline_run", f"{project}/pipelines/{p['iid']}"),
            source=self.source,
            team=team,
            app=app,
            pipeline=project,
            repo=project,
            sha=p.get("sha"),
            branch=p.get("ref"),
            event=p.get("source"),
            started_at=started,
            finished_at=optional_time(p.get("finishedAt")),
            result=RUN_RESULTS.get(status, RunResult.RUNNING),
            original_result=status,
        )
        jobs = _nodes(p, "jobs")
        for job in jobs:
            job_status = str(job["status"]).lower()
            job_id = str(job["id"]).rsplit("/", 1)[-1]  # gid://gitlab/Ci::Build/42
            stage = (job.get("stage") or {}).get("name")
            yield PipelineRun(
                id=make_id(self.source, "pipeline_run", f"{project}/jobs/{job_id}"),
                source=self.source,
                team=team,
                app=app,
                pipeline=f"{project}/{stage}/{job['name']}"
                if stage
                else f"{project}/{job['name']}",
                repo=project,
                sha=p.get("sha"),
                branch=p.get("ref"),
                event=p.get("source"),
                started_at=required_time(job.get("startedAt") or job["createdAt"], "createdAt"),
                finished_at=optional_time(job.get("finishedAt")),
                result=RUN_RESULTS.get(job_status, RunResult.RUNNING),
                original_result=job_status,
                # a retried job is run again under the same name: later runs are later attempts
                attempt=sum(
                    1
                    for j in jobs
                    if j["name"] == job["name"] and str(j["createdAt"]) <= str(job["createdAt"])
                ),
            )

    def _deployments(self, p: dict[str, Any]) -> Iterable[Record]:
        project = p["project"]
        facts = p.get("_streamgauge") or {}
        team, app = self.place(project)
        env = p.get("environment") or {}
        status = str(p["status"])
        result = DEPLOYMENT_RESULTS.get(status, RunResult.RUNNING)
        deployable = p.get("deployable") or {}
        finished = p.get("finished_at") or deployable.get("finished_at")
        if result is not RunResult.RUNNING and not finished:
            finished = p.get("updated_at")
        yield Deployment(
            id=make_id(self.source, "deployment", f"{project}/{p['id']}"),
            source=self.source,
            team=team,
            app=app,
            environment=self.environment(str(env.get("name") or ""), env.get("tier")),
            original_environment=str(env.get("name") or ""),
            repo=project,
            sha=p["sha"],
            started_at=required_time(deployable.get("started_at") or p["created_at"], "created_at"),
            finished_at=optional_time(finished) if result is not RunResult.RUNNING else None,
            result=result,
            original_result=status,
            deployment_kind=self._kind(p.get("ref") or "", facts),
            commit_shas=tuple(facts.get("shipped") or ()),
        )

    def _kind(self, ref: str, facts: dict[str, Any]) -> DeploymentKind:
        """Rollback: an older commit deployed again, a revert, a rollback label or branch.
        Hotfix: a hotfix label or branch."""
        labels = set(facts.get("mr_labels") or ())
        branches = [ref, *(facts.get("mr_branches") or ())]
        if (
            facts.get("redeploy")
            or facts.get("reverts")
            or labels & set(self.config.rollback_labels)
            or any(re.search(self.config.rollback_branches, b) for b in branches)
        ):
            return DeploymentKind.ROLLBACK
        if labels & set(self.config.hotfix_labels) or any(
            re.search(self.config.hotfix_branches, b) for b in branches
        ):
            return DeploymentKind.HOTFIX
        return DeploymentKind.REGULAR

    def _issues(self, p: dict[str, Any]) -> Iterable[Record]:
        project = p["project"]
        labels = tuple(str(label) for label in p.get("labels") or ())
        team, app = self.place(project, labels)
        key = f"{project}#{p['iid']}"
        closed = optional_time(p.get("closed_at"))
        if str(p.get("issue_type") or p.get("type") or "").lower() == "incident":
            by_label = [
                (self.severity_labels[lbl.lower()], lbl)
                for lbl in labels
                if lbl.lower() in self.severity_labels
            ]
            field = str(p.get("severity") or "").upper()
            if by_label:
                severity, original = by_label[0]
            elif field in SEVERITIES and field != "UNKNOWN":
                severity, original = SEVERITIES[field], field
            else:
                severity, original = Severity.UNKNOWN, field
            yield Incident(
                id=make_id(self.source, "incident", key),
                source=self.source,
                team=team,
                app=app,
                key=key,
                title=p.get("title") or "",
                opened_at=required_time(p["created_at"], "created_at"),
                resolved_at=closed,
                severity=severity,
                original_severity=original,
            )
            return
        if not self.config.work_items:
            return
        flow_type = next(
            (TYPES[lbl.lower()] for lbl in labels if lbl.lower() in TYPES), FlowType.FEATURE
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
            status=str(p.get("state") or ""),
            flow_state=FlowState.DONE if closed is not None else FlowState.NEW,
            created_at=required_time(p["created_at"], "created_at"),
            done_at=closed,
            updated_at=optional_time(p.get("updated_at")),
            labels=labels,
            project=project,
        )
