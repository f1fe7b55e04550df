"""The state of a fake Jenkins controller: folders, jobs and builds, rendered as its JSON API.

Payload shapes follow Jenkins' exported beans: ``FreeStyleBuild``, ``WorkflowRun``, git plugin's
``BuildData`` and ``GitChangeSetList``, ``ParametersAction``, ``CauseAction``, and Pipeline Stage
View's ``wfapi/describe``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from tests.fakes.jenkins.tree import Lazy

FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
FREESTYLE = "hudson.model.FreeStyleProject"
PIPELINE = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
BUILD_CLASS = {
    FREESTYLE: "hudson.model.FreeStyleBuild",
    PIPELINE: "org.jenkinsci.plugins.workflow.job.WorkflowRun",
}
CAUSES = {
    "user": ("hudson.model.Cause$UserIdCause", "Started by user Ann Admin"),
    "scm": ("hudson.triggers.SCMTrigger$SCMTriggerCause", "Started by an SCM change"),
    "timer": ("hudson.triggers.TimerTrigger$TimerTriggerCause", "Started by timer"),
    "branch": ("jenkins.branch.BranchIndexingCause", "Branch indexing"),
}


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def sha_of(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - a git-like id, not security


@dataclass
class FakeCommit:
    sha: str
    at: datetime
    message: str
    email: str = "dev@example.com"


@dataclass
class FakeStage:
    name: str
    status: str  # SUCCESS, FAILED, NOT_EXECUTED, IN_PROGRESS ...
    start: datetime
    duration: timedelta


@dataclass
class FakeBuild:
    number: int
    start: datetime
    duration: timedelta
    result: str | None  # None while building
    sha: str | None = None
    branch: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    cause: str = "scm"
    commits: list[FakeCommit] = field(default_factory=list)
    stages: list[FakeStage] = field(default_factory=list)
    malformed: bool = False  # a build record without its timestamp

    @property
    def building(self) -> bool:
        return self.result is None


@dataclass
class FakeJob:
    name: str
    cls: str = FREESTYLE
    remote: str | None = "https://github.com/acme/checkout.git"
    builds: list[FakeBuild] = field(default_factory=list)  # ascending by number
    forbidden: bool = False  # the user may see the job in its folder but not read it

    def build(
        self,
        start: datetime,
        *,
        minutes: float = 5,
        result: str | None = "SUCCESS",
        commits: list[tuple[str, datetime]] | None = None,
        **fields: Any,
    ) -> FakeBuild:
        """Add the next build; commits are (message, time) pairs, the last one is built."""
        number = self.builds[-1].number + 1 if self.builds else 1
        made = [FakeCommit(sha_of(f"{self.name}:{number}:{m}"), at, m) for m, at in commits or []]
        if made and "sha" not in fields:
            fields["sha"] = made[-1].sha
        build = FakeBuild(number, start, timedelta(minutes=minutes), result, commits=made, **fields)
        self.builds.append(build)
        return build


@dataclass
class FakeFolder:
    name: str
    cls: str = FOLDER
    children: dict[str, FakeFolder | FakeJob] = field(default_factory=dict)
    forbidden: bool = False

    def folder(self, name: str, cls: str = FOLDER) -> FakeFolder:
        made = FakeFolder(name, cls)
        self.children[name] = made
        return made

    def multibranch(self, name: str) -> FakeFolder:
        return self.folder(name, MULTIBRANCH)

    def job(self, name: str, cls: str = FREESTYLE, **fields: Any) -> FakeJob:
        if self.cls == MULTIBRANCH:
            cls = PIPELINE  # branch jobs, named by their branch with / encoded as %2F
            name = quote(name, safe="")
        made = FakeJob(name, cls, **fields)
        self.children[name] = made
        return made

    def walk(self, prefix: str = "") -> list[tuple[str, FakeFolder | FakeJob]]:
        out: list[tuple[str, FakeFolder | FakeJob]] = []
        for name, child in self.children.items():
            path = f"{prefix}/{name}" if prefix else name
            out.append((path, child))
            if isinstance(child, FakeFolder):
                out += child.walk(path)
        return out


class Instance(FakeFolder):
    """The controller: its root is a folder of top-level items."""

    def __init__(self) -> None:
        super().__init__("", "hudson.model.Hudson")

    def find(self, parts: list[str]) -> FakeFolder | FakeJob | None:
        item: FakeFolder | FakeJob = self
        for part in parts:
            if not isinstance(item, FakeFolder) or part not in item.children:
                return None
            item = item.children[part]
        return item

    @property
    def build_count(self) -> int:
        return sum(len(j.builds) for _, j in self.walk() if isinstance(j, FakeJob))


# --- rendering ----------------------------------------------------------------------------------


def url_of(base: str, path: str) -> str:
    return base + "".join(f"/job/{quote(p, safe='')}" for p in path.split("/") if p) + "/"


def render_item(base: str, path: str, item: FakeFolder | FakeJob) -> dict[str, Any]:
    name = path.rsplit("/", 1)[-1]
    out: dict[str, Any] = {
        "_class": item.cls,
        "name": name,
        "fullName": path,
        "displayName": name,
        "url": url_of(base, path),
    }
    if isinstance(item, FakeFolder):
        out["jobs"] = Lazy(
            lambda _r: [
                render_item(base, f"{path}/{n}".strip("/"), c) for n, c in item.children.items()
            ]
        )
        return out
    job = item
    out["buildable"] = True
    out["lastBuild"] = (
        {"_class": BUILD_CLASS[job.cls], "number": job.builds[-1].number, "url": ""}
        if job.builds
        else None
    )

    def newest(limit: int | None) -> Lazy:
        def fn(r: tuple[int | None, int | None] | None) -> list[dict[str, Any]]:
            ordered = job.builds[::-1][:limit]
            low, high = r or (None, None)
            return [render_build(base, path, job, b) for b in ordered[low:high]]

        return Lazy(fn)

    out["builds"] = newest(100)  # Job.java: the newest 100 only
    out["allBuilds"] = newest(None)
    return out


def render_build(base: str, path: str, job: FakeJob, b: FakeBuild) -> dict[str, Any]:
    cause_class, text = CAUSES[b.cause]
    actions: list[dict[str, Any]] = []
    if b.params:
        actions.append(
            {
                "_class": "hudson.model.ParametersAction",
                "parameters": [
                    {"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
                    for k, v in b.params.items()
                ],
            }
        )
    actions.append(
        {
            "_class": "hudson.model.CauseAction",
            "causes": [{"_class": cause_class, "shortDescription": text}],
        }
    )
    if b.sha and job.remote:
        branch = f"refs/remotes/origin/{b.branch}" if b.branch else "refs/remotes/origin/main"
        actions.append(
            {
                "_class": "hudson.plugins.git.util.BuildData",
                "lastBuiltRevision": {"SHA1": b.sha, "branch": [{"SHA1": b.sha, "name": branch}]},
                "remoteUrls": [job.remote],
                "scmName": "",
            }
        )
    actions.append({"_class": "jenkins.metrics.impl.TimeInQueueAction"})
    change_set = {
        "_class": "hudson.plugins.git.GitChangeSetList",
        "kind": "git",
        "items": [
            {
                "_class": "hudson.plugins.git.GitChangeSet",
                "commitId": c.sha,
                "timestamp": ms(c.at),
                "msg": c.message,
                "authorEmail": c.email,
                "author": {"fullName": c.email.split("@")[0]},
            }
            for c in b.commits
        ],
    }
    out: dict[str, Any] = {
        "_class": BUILD_CLASS[job.cls],
        "number": b.number,
        "id": str(b.number),
        "url": f"{url_of(base, path)}{b.number}/",
        "building": b.building,
        "result": b.result,
        "timestamp": ms(b.start),
        "duration": 0 if b.building else int(b.duration.total_seconds() * 1000),
        "estimatedDuration": int(b.duration.total_seconds() * 1000),
        "displayName": f"#{b.number}",
        "fullDisplayName": f"{path.replace('/', ' » ')} #{b.number}",
        "actions": actions,
    }
    if job.cls == PIPELINE:
        out["changeSets"] = [change_set] if b.commits else []
    else:
        out["changeSet"] = change_set
    if b.malformed:
        del out["timestamp"]
    return out


def describe(base: str, path: str, b: FakeBuild) -> dict[str, Any]:
    """Pipeline Stage View's run description."""
    href = url_of("", path) + f"{b.number}/wfapi/describe"
    status = (
        "IN_PROGRESS"
        if b.building
        else {"SUCCESS": "SUCCESS", "UNSTABLE": "UNSTABLE", "ABORTED": "ABORTED"}.get(
            str(b.result), "FAILED"
        )
    )
    return {
        "_links": {"self": {"href": href}},
        "id": str(b.number),
        "name": f"#{b.number}",
        "status": status,
        "startTimeMillis": ms(b.start),
        "endTimeMillis": ms(b.start + b.duration),
        "durationMillis": int(b.duration.total_seconds() * 1000),
        "queueDurationMillis": 3,
        "pauseDurationMillis": 0,
        "stages": [
            {
                "_links": {
                    "self": {"href": href.replace("describe", f"node/{i + 6}/wfapi/describe")}
                },
                "id": str(i + 6),
                "name": s.name,
                "execNode": "",
                "status": s.status,
                "startTimeMillis": ms(s.start),
                "durationMillis": int(s.duration.total_seconds() * 1000),
                "pauseDurationMillis": 0,
            }
            for i, s in enumerate(b.stages)
        ],
    }


# --- a generated controller for the benchmark and the paging tests ------------------------------


def generate_instance(
    seed: int, *, jobs: int = 200, builds: int = 20_000, start: datetime | None = None
) -> Instance:
    """``jobs`` jobs in team folders (a quarter of them branch jobs of multibranch projects),
    ``builds`` builds spread over them, one a day-ish, the same for every seed."""
    rng = random.Random(seed)
    start = start or datetime(2025, 9, 1, tzinfo=UTC)
    instance = Instance()
    made: list[FakeJob] = []
    team = 0
    while len(made) < jobs:
        folder = instance.folder(f"team-{team:02d}")
        for i in range(min(10, jobs - len(made))):
            if i < 3:
                branches = (
                    folder.multibranch(f"service-{i}") if i == 0 else folder.children["service-0"]
                )
                assert isinstance(branches, FakeFolder)
                remote = f"https://github.com/acme/svc-{team}-0.git"
                made.append(branches.job(f"feature/T{team}-{i}" if i else "main", remote=remote))
            else:
                cls = PIPELINE if i % 2 else FREESTYLE
                made.append(
                    folder.job(
                        f"job-{i}", cls, remote=f"https://github.com/acme/svc-{team}-{i}.git"
                    )
                )
        team += 1
    per_job = [builds // jobs] * jobs
    for i in range(builds - sum(per_job)):
        per_job[i] += 1
    for job, count in zip(made, per_job, strict=True):
        at = start
        for n in range(count):
            at += timedelta(minutes=rng.randint(30, 120))
            result = rng.choice(["SUCCESS"] * 8 + ["FAILURE", "UNSTABLE"])
            job.build(
                at,
                minutes=rng.randint(1, 20),
                result=result,
                commits=[(f"change {n}", at - timedelta(hours=1))],
            )
    return instance
