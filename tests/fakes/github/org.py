"""The fake GitHub's data: an organisation of repositories, built by hand or from a seed."""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def sha_of(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - ids, not security


@dataclass
class FakeCommit:
    sha: str
    message: str
    author: str
    authored_at: datetime
    committed_at: datetime
    parents: list[str]


@dataclass
class FakeReview:
    id: int
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED
    author: str
    submitted_at: datetime


@dataclass
class FakePull:
    number: int
    title: str
    body: str
    author: str
    head_ref: str
    base_ref: str
    created_at: datetime
    updated_at: datetime
    state: str = "OPEN"  # OPEN, MERGED, CLOSED
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    merge_sha: str | None = None
    commits: list[FakeCommit] = field(default_factory=list)
    reviews: list[FakeReview] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


@dataclass
class FakeRun:
    id: int
    run_number: int
    name: str  # the workflow's name
    workflow_id: int
    path: str
    head_sha: str
    head_branch: str
    event: str
    created_at: datetime
    updated_at: datetime
    status: str = "completed"  # queued, in_progress, completed
    conclusion: str | None = "success"
    run_attempt: int = 1


@dataclass
class FakeDeployment:
    id: int
    sha: str
    ref: str
    environment: str
    created_at: datetime
    task: str = "deploy"
    description: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    statuses: list[tuple[str, datetime]] = field(default_factory=list)  # (state, at), oldest first


@dataclass
class FakeIssue:
    number: int
    title: str
    author: str
    created_at: datetime
    updated_at: datetime
    body: str = ""
    labels: list[str] = field(default_factory=list)
    closed_at: datetime | None = None
    state_reason: str | None = None


@dataclass
class FakeRepo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    commits: dict[str, FakeCommit] = field(default_factory=dict)  # every commit reachable
    history: list[str] = field(default_factory=list)  # default-branch commits, oldest first
    pulls: list[FakePull] = field(default_factory=list)
    runs: list[FakeRun] = field(default_factory=list)
    deployments: list[FakeDeployment] = field(default_factory=list)
    issues: list[FakeIssue] = field(default_factory=list)
    events: list[tuple[str, datetime]] = field(default_factory=list)  # (type, at), oldest first
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def head(self) -> str | None:
        return self.history[-1] if self.history else None

    def _next_number(self) -> int:
        return next(self._ids)

    def _id(self, kind: str) -> int:
        return int(
            sha_of(
                self.full_name,
                kind,
                len(self.pulls),
                len(self.runs),
                len(self.deployments),
                len(self.issues),
            )[:7],
            16,
        )

    def push(
        self,
        message: str,
        at: datetime,
        *,
        author: str = "dev",
        parents: list[str] | None = None,
        on_default: bool = True,
    ) -> FakeCommit:
        parents = parents if parents is not None else ([self.head] if self.head else [])
        commit = FakeCommit(
            sha_of(self.full_name, message, at, parents), message, author, at, at, parents
        )
        self.commits[commit.sha] = commit
        if on_default:
            self.history.append(commit.sha)
            self.events.append(("PushEvent", at))
        return commit

    def open_pull(
        self,
        title: str,
        branch: str,
        commit_times: list[datetime],
        created_at: datetime,
        *,
        author: str = "dev",
        body: str = "",
        labels: list[str] | None = None,
    ) -> FakePull:
        pull = FakePull(
            self._next_number(),
            title,
            body,
            author,
            branch,
            self.default_branch,
            created_at,
            created_at,
            labels=list(labels or []),
        )
        parent = self.head
        for i, at in enumerate(commit_times):
            commit = self.push(
                f"{title} (part {i + 1})",
                at,
                author=author,
                parents=[parent] if parent else [],
                on_default=False,
            )
            pull.commits.append(commit)
            parent = commit.sha
        self.pulls.append(pull)
        self.events.append(("PullRequestEvent", created_at))
        return pull

    def review(self, pull: FakePull, state: str, at: datetime, *, author: str = "reviewer") -> None:
        pull.reviews.append(FakeReview(self._id("review") + len(pull.reviews), state, author, at))
        pull.updated_at = max(pull.updated_at, at)
        self.events.append(("PullRequestReviewEvent", at))

    def merge(self, pull: FakePull, at: datetime) -> FakeCommit:
        last = pull.commits[-1].sha if pull.commits else None
        parents = [p for p in (self.head, last) if p]
        merge = self.push(
            f"Merge pull request #{pull.number} from {pull.head_ref}\n\n{pull.title}",
            at,
            author=pull.author,
            parents=parents,
        )
        pull.state, pull.merged_at, pull.closed_at = "MERGED", at, at
        pull.merge_sha, pull.updated_at = merge.sha, at
        self.events.append(("PullRequestEvent", at))
        return merge

    def run(
        self,
        name: str,
        sha: str,
        at: datetime,
        *,
        minutes: int = 6,
        event: str = "push",
        conclusion: str | None = "success",
        status: str = "completed",
        attempt: int = 1,
        branch: str | None = None,
    ) -> FakeRun:
        workflow_id = int(sha_of(self.full_name, name)[:6], 16)
        run = FakeRun(
            self._id("run"),
            len(self.runs) + 1,
            name,
            workflow_id,
            f".github/workflows/{name.lower().replace(' ', '-')}.yml",
            sha,
            branch or self.default_branch,
            event,
            at,
            at + timedelta(minutes=minutes),
            status,
            conclusion if status == "completed" else None,
            attempt,
        )
        self.runs.append(run)
        return run

    def deploy(
        self,
        sha: str,
        at: datetime,
        *,
        environment: str = "production",
        state: str = "success",
        minutes: int = 10,
        payload: dict[str, Any] | None = None,
        ref: str | None = None,
        task: str = "deploy",
    ) -> FakeDeployment:
        deployment = FakeDeployment(
            self._id("deployment"),
            sha,
            ref or self.default_branch,
            environment,
            at,
            task=task,
            payload=dict(payload or {}),
        )
        deployment.statuses.append(("in_progress", at + timedelta(minutes=1)))
        if state != "in_progress":
            deployment.statuses.append((state, at + timedelta(minutes=minutes)))
        self.deployments.append(deployment)
        return deployment

    def finish_deployment(self, deployment: FakeDeployment, state: str, at: datetime) -> None:
        deployment.statuses.append((state, at))

    def open_issue(
        self,
        title: str,
        at: datetime,
        *,
        labels: list[str] | None = None,
        body: str = "",
        author: str = "reporter",
    ) -> FakeIssue:
        # issues and pull requests share one sequence of numbers, as on GitHub
        issue = FakeIssue(self._next_number(), title, author, at, at, body, list(labels or []))
        self.issues.append(issue)
        self.events.append(("IssuesEvent", at))
        return issue

    def close_issue(self, issue: FakeIssue, at: datetime, reason: str = "completed") -> None:
        issue.closed_at, issue.updated_at, issue.state_reason = at, at, reason
        self.events.append(("IssuesEvent", at))


@dataclass
class FakeOrg:
    login: str = "acme"
    repos: dict[str, FakeRepo] = field(default_factory=dict)

    def repo(self, name: str) -> FakeRepo:
        if name not in self.repos:
            self.repos[name] = FakeRepo(self.login, name, 1000 + len(self.repos))
        return self.repos[name]

    @property
    def merged_pulls(self) -> int:
        return sum(1 for r in self.repos.values() for p in r.pulls if p.state == "MERGED")


def generate_org(
    seed: int,
    *,
    repos: int = 20,
    merged_prs: int = 2000,
    open_prs: int = 3,
    issues: int = 5,
    incidents: int = 2,
    login: str = "acme",
    start: datetime = T0,
) -> FakeOrg:
    """An organisation composed like a real one, the same for the same seed.

    Each merged pull request has 1–5 commits and a CI run on its merge commit; a production
    deployment follows every 3–10 merged pull requests; each repository also has open pull
    requests, ordinary issues and a few incidents (issues labelled ``incident``).
    """
    rng = random.Random(seed)
    org = FakeOrg(login)
    shares = [rng.random() + 0.5 for _ in range(repos)]
    counts = [int(merged_prs * s / sum(shares)) for s in shares]
    counts[0] += merged_prs - sum(counts)
    for index, count in enumerate(counts):
        repo = org.repo(f"service-{index:02d}")
        at = start
        repo.push("Initial commit", at)
        next_deploy = rng.randint(3, 10)
        for n in range(count):
            at += timedelta(minutes=rng.randint(30, 600))
            key = f"PAY-{rng.randint(1, 900)}"
            commit_times = [
                at - timedelta(hours=rng.randint(1, 48)) - timedelta(minutes=i)
                for i in range(rng.randint(1, 5), 0, -1)
            ]
            pull = repo.open_pull(
                f"{key} change {n}",
                f"feature/{key}-{n}",
                commit_times,
                at,
                labels=rng.choice([[], ["enhancement"], ["bug"]]),
            )
            if rng.random() < 0.3:
                repo.review(pull, "CHANGES_REQUESTED", at + timedelta(minutes=20))
            repo.review(pull, "APPROVED", at + timedelta(minutes=rng.randint(30, 120)))
            merged_at = at + timedelta(minutes=rng.randint(130, 300))
            merge = repo.merge(pull, merged_at)
            repo.run(
                "CI",
                merge.sha,
                merged_at + timedelta(minutes=1),
                conclusion="success" if rng.random() < 0.9 else "failure",
            )
            at = merged_at
            next_deploy -= 1
            if next_deploy == 0:
                at += timedelta(minutes=15)
                repo.deploy(merge.sha, at, state="success" if rng.random() < 0.9 else "failure")
                next_deploy = rng.randint(3, 10)
        for n in range(open_prs):
            at += timedelta(minutes=rng.randint(10, 60))
            repo.open_pull(f"Work in progress {n}", f"wip-{n}", [at - timedelta(hours=2)], at)
        for n in range(issues):
            at += timedelta(minutes=rng.randint(10, 60))
            issue = repo.open_issue(f"Issue {n}", at, labels=rng.choice([["bug"], ["enhancement"]]))
            if n % 2:
                repo.close_issue(issue, at + timedelta(hours=5))
        for n in range(incidents):
            at += timedelta(minutes=rng.randint(10, 60))
            incident = repo.open_issue(f"Outage {n}", at, labels=["incident", "sev2"])
            repo.close_issue(incident, at + timedelta(hours=2))
    return org
