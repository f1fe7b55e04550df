"""The fake GitLab's state: groups of projects with commits, merge requests, pipelines,
deployments and issues, built by hand in tests or generated from a seed."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


def sha_of(*parts: object) -> str:
    return hashlib.sha1(" ".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - a git sha


@dataclass
class FakeCommit:
    sha: str
    title: str
    authored: datetime
    committed: datetime
    parents: tuple[str, ...]
    author: str = "Dev One"
    message: str = ""


@dataclass
class FakeNote:
    body: str
    created: datetime
    author: str
    system: bool = False


@dataclass
class FakeMR:
    iid: int
    title: str
    source_branch: str
    author: str
    created: datetime
    updated: datetime
    commits: list[str]  # oldest first
    description: str = ""
    state: str = "opened"
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    labels: list[str] = field(default_factory=list)
    notes: list[FakeNote] = field(default_factory=list)
    approvers: list[str] = field(default_factory=list)

    @property
    def head_sha(self) -> str:
        return self.commits[-1]


@dataclass
class FakeJob:
    id: int
    name: str
    stage: str
    status: str
    created: datetime
    started: datetime | None
    finished: datetime | None
    retried: bool = False


@dataclass
class FakePipeline:
    id: int
    iid: int
    sha: str
    ref: str
    status: str
    created: datetime
    started: datetime | None
    finished: datetime | None
    source: str = "push"
    jobs: list[FakeJob] = field(default_factory=list)

    @property
    def updated(self) -> datetime:
        return self.finished or self.started or self.created


@dataclass
class FakeDeployment:
    id: int
    iid: int
    environment: str
    tier: str
    sha: str
    ref: str
    status: str
    created: datetime
    updated: datetime
    finished: datetime | None
    job: FakeJob


@dataclass
class FakeIssue:
    id: int
    iid: int
    title: str
    created: datetime
    updated: datetime
    issue_type: str = "issue"
    labels: list[str] = field(default_factory=list)
    closed: datetime | None = None
    severity: str = "UNKNOWN"
    author: str = "dev1"


class FakeProject:
    """One project; ``push``, ``open_mr``, ``merge``, ``pipeline``, ``deploy`` and ``incident``
    build its history in time order."""

    def __init__(self, group: FakeGroup, name: str, project_id: int) -> None:
        self.group = group
        self.name = name
        self.id = project_id
        self.path = f"{group.path}/{name}"
        self.default_branch = "main"
        self.commits: dict[str, FakeCommit] = {}
        self.main: list[str] = []  # first-parent line of main, oldest first
        self.mrs: list[FakeMR] = []
        self.pipelines: list[FakePipeline] = []
        self.deployments: list[FakeDeployment] = []
        self.issues: list[FakeIssue] = []
        self.archived = False

    @property
    def head(self) -> str | None:
        return self.main[-1] if self.main else None

    def _commit(self, title: str, at: datetime, parents: tuple[str, ...], **extra: str) -> str:
        sha = sha_of(self.path, title, at.isoformat(), parents, len(self.commits))
        self.commits[sha] = FakeCommit(sha, title, at, at, parents, message=title, **extra)
        return sha

    def push(self, title: str, at: datetime) -> str:
        """A commit pushed straight to main."""
        sha = self._commit(title, at, (self.head,) if self.head else ())
        self.main.append(sha)
        return sha

    def open_mr(
        self,
        title: str,
        branch: str,
        commit_times: list[datetime],
        opened: datetime,
        *,
        author: str = "dev1",
        labels: list[str] | None = None,
        description: str = "",
    ) -> FakeMR:
        parent = self.head
        shas = []
        for n, at in enumerate(commit_times):
            sha = self._commit(f"{title} (part {n + 1})", at, (parent,) if parent else ())
            shas.append(sha)
            parent = sha
        mr = FakeMR(
            iid=len(self.mrs) + 1,
            title=title,
            source_branch=branch,
            author=author,
            created=opened,
            updated=opened,
            commits=shas,
            description=description,
            labels=list(labels or []),
        )
        self.mrs.append(mr)
        return mr

    def note(self, mr: FakeMR, at: datetime, author: str, body: str = "Looks good") -> None:
        mr.notes.append(FakeNote(body, at, author))
        mr.updated = max(mr.updated, at)

    def approve(self, mr: FakeMR, at: datetime, by: str) -> None:
        mr.approvers.append(by)
        mr.notes.append(FakeNote("approved this merge request", at, by, system=True))
        mr.updated = max(mr.updated, at)

    def request_changes(self, mr: FakeMR, at: datetime, by: str) -> None:
        mr.notes.append(FakeNote("requested changes", at, by, system=True))
        mr.updated = max(mr.updated, at)

    def merge(self, mr: FakeMR, at: datetime, *, squash: bool = False) -> str:
        """Merge into main with a merge commit (or squash into one commit); returns its sha."""
        if squash:
            sha = self._commit(mr.title, at, (self.head,) if self.head else ())
            mr.squash_commit_sha = sha
        else:
            parents = (mr.head_sha,) if self.head is None else (self.head, mr.head_sha)
            sha = self._commit(f"Merge branch '{mr.source_branch}' into 'main'", at, parents)
            mr.merge_commit_sha = sha
        self.main.append(sha)
        mr.state, mr.merged_at, mr.updated = "merged", at, at
        mr.notes.append(FakeNote(f"merged via {sha[:8]}", at, "dev2", system=True))
        return sha

    def close_mr(self, mr: FakeMR, at: datetime) -> None:
        mr.state, mr.closed_at, mr.updated = "closed", at, at

    def pipeline(
        self,
        sha: str,
        at: datetime,
        *,
        status: str = "success",
        ref: str = "main",
        jobs: tuple[tuple[str, str], ...] = (("build", "build"), ("test", "test")),
        minutes: int = 5,
    ) -> FakePipeline:
        ids = self.group.next_id
        started, finished = at, at + timedelta(minutes=minutes)
        pipeline = FakePipeline(
            next(ids), len(self.pipelines) + 1, sha, ref, status, at, started, finished
        )
        for n, (stage, name) in enumerate(jobs):
            last = n == len(jobs) - 1
            pipeline.jobs.append(
                FakeJob(
                    next(ids),
                    name,
                    stage,
                    status if last else "success",
                    at,
                    at + timedelta(minutes=n),
                    at + timedelta(minutes=n + 1),
                )
            )
        self.pipelines.append(pipeline)
        return pipeline

    def deploy(
        self,
        sha: str,
        at: datetime,
        *,
        environment: str = "production",
        tier: str = "production",
        status: str = "success",
        minutes: int = 10,
        ref: str = "main",
    ) -> FakeDeployment:
        """A deployment whose deploy job starts at ``at`` and ends ``minutes`` later."""
        ids = self.group.next_id
        done = at + timedelta(minutes=minutes)
        finished = done if status in {"success", "failed", "canceled"} else None
        job = FakeJob(next(ids), f"deploy-{environment}", "deploy", status, at, at, finished)
        deployment = FakeDeployment(
            next(ids),
            len(self.deployments) + 1,
            environment,
            tier,
            sha,
            ref,
            status,
            at,
            finished or at,
            finished,
            job,
        )
        self.deployments.append(deployment)
        return deployment

    def incident(
        self,
        title: str,
        at: datetime,
        *,
        labels: list[str] | None = None,
        severity: str = "UNKNOWN",
    ) -> FakeIssue:
        return self.issue(title, at, labels=labels, issue_type="incident", severity=severity)

    def issue(
        self,
        title: str,
        at: datetime,
        *,
        labels: list[str] | None = None,
        issue_type: str = "issue",
        severity: str = "UNKNOWN",
    ) -> FakeIssue:
        item = FakeIssue(
            next(self.group.next_id),
            len(self.issues) + 1,
            title,
            at,
            at,
            issue_type,
            list(labels or []),
            severity=severity,
        )
        self.issues.append(item)
        return item

    def close(self, issue: FakeIssue, at: datetime) -> None:
        issue.closed, issue.updated = at, at


class _Ids:
    def __init__(self) -> None:
        self.value = 1000

    def __next__(self) -> int:
        self.value += 1
        return self.value


class FakeGroup:
    """A group (``acme``) and its projects; project ids count from 1."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.projects: dict[str, FakeProject] = {}
        self.next_id = _Ids()

    def project(self, name: str) -> FakeProject:
        project = FakeProject(self, name, len(self.projects) + 1)
        self.projects[project.path] = project
        return project

    def find(self, ref: str) -> FakeProject | None:
        """A project by numeric id or full path."""
        for project in self.projects.values():
            if ref in (str(project.id), project.path):
                return project
        return None

    @property
    def merged_mrs(self) -> int:
        return sum(1 for p in self.projects.values() for mr in p.mrs if mr.state == "merged")


def generate_group(
    seed: int,
    *,
    projects: int = 20,
    merged_mrs: int = 2000,
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
) -> FakeGroup:
    """A group whose projects merge ``merged_mrs`` MRs in all (a few more stay open or close),
    each with two or three commits, a review note and an approval; every merge runs a pipeline,
    every fifth merge is deployed to staging and production, and some deployments fail or are
    followed by an incident."""
    rng = random.Random(seed)
    group = FakeGroup("acme")
    per_project = [
        merged_mrs // projects + (1 if i < merged_mrs % projects else 0) for i in range(projects)
    ]
    for index, count in enumerate(per_project):
        project = group.project(f"service-{index:02d}")
        at = start + timedelta(hours=rng.randint(0, 48))
        project.push("Initial commit", at)
        for n in range(count + count // 20):
            at += timedelta(hours=rng.randint(2, 10))
            times = [at + timedelta(minutes=30 * k) for k in range(rng.randint(2, 3))]
            key = f"PAY-{index * 1000 + n + 1}"
            mr = project.open_mr(
                f"{key} change {n}", f"feature/{key}", times, times[-1] + timedelta(minutes=20)
            )
            at = mr.created
            project.note(mr, at + timedelta(hours=1), "reviewer")
            project.approve(mr, at + timedelta(hours=2), "reviewer")
            if n >= count:  # the extra ones: half stay open, half are closed
                if n % 2:
                    project.close_mr(mr, at + timedelta(hours=3))
                continue
            sha = project.merge(mr, at + timedelta(hours=3), squash=rng.random() < 0.3)
            at = mr.merged_at or at
            project.pipeline(
                sha, at + timedelta(minutes=1), status="success" if rng.random() < 0.9 else "failed"
            )
            if n % 5 == 4:
                project.deploy(
                    sha, at + timedelta(minutes=20), environment="staging", tier="staging"
                )
                failed = rng.random() < 0.1
                project.deploy(
                    sha, at + timedelta(minutes=40), status="failed" if failed else "success"
                )
                if not failed and rng.random() < 0.15:
                    incident = project.incident(
                        f"{project.name} errors after deploy",
                        at + timedelta(hours=1),
                        labels=["severity::2"],
                    )
                    project.close(incident, at + timedelta(hours=3))
            at += timedelta(hours=3)
    return group
