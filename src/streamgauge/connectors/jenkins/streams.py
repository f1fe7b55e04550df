"""Jenkins' jobs, walked folder by folder, and their builds, read by build number per job."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streamgauge.connectors.base import Page, Paginator, RawRecord, Stream, SyncContext
from streamgauge.connectors.jenkins.client import JenkinsClient, JobUnreadable, job_url_path
from streamgauge.connectors.jenkins.config import JenkinsConfig

log = logging.getLogger(__name__)

MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
PIPELINE = "org.jenkinsci.plugins.workflow.job.WorkflowJob"

# A folder's children with what tells whether a job changed: folders (Folder, multibranch,
# organization folders) have no `lastBuild`, so Jenkins leaves it out of their entries.
CHILD = "_class,name,fullName,url,lastBuild[number]"
LISTING = f"_class,fullName,lastBuild[number],jobs[{CHILD}]"
_COMMITS = "kind,items[commitId,timestamp,msg,authorEmail,author[fullName]]"
# Both changeSet (freestyle builds) and changeSets (pipeline runs) are asked for: each class
# has only one of them. lastBuiltRevision (git plugin's BuildData) is the reliable sha.
BUILD = (
    "number,url,building,result,timestamp,duration,displayName,fullDisplayName,"
    "actions[_class,parameters[name,value],causes[_class,shortDescription,userId,"
    "upstreamProject,upstreamBuild],lastBuiltRevision[SHA1,branch[name]],remoteUrls],"
    f"changeSet[{_COMMITS}],changeSets[{_COMMITS}]"
)
STAGES = "wfapi/describe"
CARRY = 500  # commits carried past failed builds at most, so a job failing for months stays small  # Pipeline Stage View's run description: stages, status and times


@dataclass(frozen=True, slots=True)
class Job:
    path: str  # full name: "payments/checkout/main"
    cls: str
    url: str
    last_build: int | None
    multibranch_parent: bool  # a branch job of a multibranch project


@dataclass(slots=True)
class JobTree:
    """The jobs of one sync, walked once and shared by both streams."""

    config: JenkinsConfig
    client: JenkinsClient
    ctx: SyncContext | None = None
    jobs: list[Job] = field(default_factory=list)
    raws: list[RawRecord] = field(default_factory=list)

    def ensure(self, ctx: SyncContext) -> JobTree:
        if self.ctx is not ctx:  # walked once per sync; kept alive, so never mistaken
            self.jobs, self.raws = [], []
            roots = self.config.jobs or ("",)
            for root in roots:
                self._walk(ctx, root, depth=0, multibranch=False)
            self.ctx = ctx
        return self

    def _walk(self, ctx: SyncContext, path: str, *, depth: int, multibranch: bool) -> None:
        what = f"job {path}" if path else "the jobs of Jenkins"
        try:
            answer = self.client.api(ctx, job_url_path(path), LISTING, what=what)
        except JobUnreadable as exc:
            log.error("%s: not read this sync: %s", path, exc)
            return
        if path and "jobs" not in answer:  # a configured path that is a job, not a folder
            self._add(ctx, {**answer, "name": path.rsplit("/", 1)[-1]}, path, multibranch)
            return
        if depth >= self.config.max_folder_depth:
            log.warning("%s: folders deeper than max_folder_depth are not read", path)
            return
        is_multibranch = answer.get("_class") == MULTIBRANCH
        for child in answer.get("jobs") or []:
            if not isinstance(child, dict) or not child.get("name"):
                continue
            child_path = child.get("fullName") or f"{path}/{child['name']}".strip("/")
            if self.config.excluded(child_path):
                continue
            if "lastBuild" in child:
                self._add(ctx, child, child_path, is_multibranch)
            else:
                self._walk(ctx, child_path, depth=depth + 1, multibranch=is_multibranch)

    def _add(self, ctx: SyncContext, node: dict[str, Any], path: str, multibranch: bool) -> None:
        last = (node.get("lastBuild") or {}).get("number")
        job = Job(
            path, str(node.get("_class") or ""), str(node.get("url") or ""), last, multibranch
        )
        self.jobs.append(job)
        payload = {**node, "fullName": path, "multibranchBranch": multibranch}
        self.raws.append(RawRecord(JobsStream.name, path, payload, ctx.started_at, job.url))


class JobsStream(Stream):
    """One raw record per job, so the jobs report lists jobs that have no build yet."""

    name = "jobs"

    def __init__(self, tree: JobTree) -> None:
        self.tree = tree

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        yield Page(list(self.tree.ensure(ctx).raws))


class BuildsStream(Stream):
    """Builds newer than the last one read of each job; builds still running are read again.

    The cursor holds, per job, the highest build number read and the numbers that were still
    building. A job whose ``lastBuild`` is that number and that had none building costs no
    request: its folder's listing told it. ``builds`` stops at the newest 100 (hard-coded in
    Jenkins' Job.java), so builds are paged with ``allBuilds{m,n}`` (m inclusive, n exclusive).
    """

    name = "builds"

    def __init__(self, config: JenkinsConfig, client: JenkinsClient, tree: JobTree) -> None:
        self.config = config
        self.client = client
        self.tree = tree

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        state: dict[str, dict[str, Any]] = json.loads(cursor or "{}")
        floor = (ctx.started_at - self.config.history).timestamp() * 1000
        for job in self.tree.ensure(ctx).jobs:
            entry = state.get(job.path)
            if job.last_build is None:
                continue
            if entry and entry["last"] >= job.last_build and not entry.get("pending"):
                continue
            stop = None
            if entry:
                stop = min([entry["last"], *(n - 1 for n in entry.get("pending") or [])])
            try:
                builds = self._builds(ctx, job, stop, floor)
            except JobUnreadable as exc:
                log.error("%s: builds not read this sync: %s", job.path, exc)
                continue
            numbers = [b["number"] for b in builds if isinstance(b.get("number"), int)]
            pending = sorted(
                b["number"]
                for b in builds
                if isinstance(b.get("number"), int) and b.get("building")
            )
            carry = list((entry or {}).get("carry") or [])
            raws, stored = [], carry
            for build in sorted(builds, key=_number):
                raws.append(self._raw(ctx, job, build, carry))
                if build.get("result") == "SUCCESS" and not build.get("building"):
                    carry = []
                else:
                    carry = [*carry, *(i["commitId"] for i in change_items(build))]
                if not pending or _number(build) < pending[0]:
                    stored = carry  # not past a build still running: it is read again
            state[job.path] = {
                "last": max([job.last_build, *numbers, *([entry["last"]] if entry else [])]),
                "pending": pending,
                "carry": stored[-CARRY:],
            }
            yield Page(raws, json.dumps(state, sort_keys=True))

    def _builds(
        self, ctx: SyncContext, job: Job, stop: int | None, floor: float
    ) -> list[dict[str, Any]]:
        size = self.config.page_size
        out: list[dict[str, Any]] = []
        paginator = Paginator(what=f"builds of {job.path}")
        start = 0
        while True:
            answer = self.client.api(
                ctx,
                job_url_path(job.path),
                f"allBuilds[{BUILD}]{{{start},{start + size}}}",
                what=f"builds of {job.path}",
            )
            page = [b for b in answer.get("allBuilds") or [] if isinstance(b, dict)]
            for build in page:
                number = build.get("number")
                if stop is not None and isinstance(number, int) and number <= stop:
                    return out
                stamp = build.get("timestamp")
                if stop is None and isinstance(stamp, int | float) and stamp < floor:
                    return out  # older than `history`: newest first, so the rest are too
                out.append(build)
            if len(page) < size:
                return out
            start += size
            paginator.advance(start)

    def _raw(
        self, ctx: SyncContext, job: Job, build: dict[str, Any], carry: list[str]
    ) -> RawRecord:
        payload: dict[str, Any] = {
            **build,
            # commits of the job's builds since its last successful one: a deployment that
            # follows failed ones ships them too, though its own changeSets do not list them
            "carried": carry,
            "job": {
                "fullName": job.path,
                "_class": job.cls,
                "multibranchBranch": job.multibranch_parent,
            },
        }
        if self._wants_stages(job, build):
            try:
                answer = self.client.api(
                    ctx,
                    f"{job_url_path(job.path)}/{build['number']}",
                    "",
                    what=f"stages of {job.path} #{build['number']}",
                    suffix=STAGES,
                )
                payload["stages"] = [s for s in answer.get("stages") or [] if isinstance(s, dict)]
            except JobUnreadable as exc:
                log.warning("%s #%s: stages unknown: %s", job.path, build.get("number"), exc)
        return RawRecord(
            self.name,
            f"{job.path}#{build.get('number')}",
            payload,
            ctx.started_at,
            build.get("url"),
        )

    def _wants_stages(self, job: Job, build: dict[str, Any]) -> bool:
        """Stages cost a request per build: asked only of finished pipeline runs that a stage
        rule could classify, once their job and parameter conditions hold."""
        if job.cls != PIPELINE or build.get("building") or not isinstance(build.get("number"), int):
            return False
        params = build_parameters(build)
        for rule in self.config.deployments:
            pair = rule.parameter_pair
            if not rule.matches_job(job.path) or (pair and params.get(pair[0]) != pair[1]):
                continue
            return rule.stage is not None  # the first rule that could match decides
        return False


def _number(build: dict[str, Any]) -> int:
    number = build.get("number")
    return number if isinstance(number, int) else -1


def change_items(build: dict[str, Any]) -> list[dict[str, Any]]:
    """Commits since the job's previous build: ``changeSet`` (freestyle), ``changeSets`` (pipeline)."""
    sets = [build.get("changeSet"), *(build.get("changeSets") or [])]
    return [
        item
        for change_set in sets
        if isinstance(change_set, dict)
        for item in change_set.get("items") or []
        if isinstance(item, dict) and item.get("commitId")
    ]


def build_parameters(build: dict[str, Any]) -> dict[str, str]:
    """The build's parameters (ParametersAction) as text."""
    out: dict[str, str] = {}
    for action in build.get("actions") or []:
        if isinstance(action, dict):
            for param in action.get("parameters") or []:
                if isinstance(param, dict) and param.get("name"):
                    out[str(param["name"])] = str(param.get("value"))
    return out


def millis(value: Any) -> datetime:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time in epoch milliseconds")
    return datetime.fromtimestamp(value / 1000, UTC)
