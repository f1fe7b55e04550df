"""GitLab's streams read per project: merge requests and pipelines over GraphQL, several
projects a query; default-branch commits and issues over REST."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from streamgauge.connectors.base import (
    Page,
    Paginator,
    RawRecord,
    Stream,
    SyncContext,
    iso,
    parse_time,
)
from streamgauge.connectors.gitlab.client import GitlabClient, ProjectRefused
from streamgauge.connectors.gitlab.config import GitlabConfig
from streamgauge.connectors.gitlab.projects import CommitNode, Project, ProjectWatch, SyncMemory

log = logging.getLogger(__name__)


class ProjectStream(Stream):
    """A stream read project by project from a per-project cursor.

    The cursor holds, per project, when its last complete read started (``since``); the next
    read asks for what changed after ``since`` less the overlap, and a project's entry moves
    only once its read is complete.
    """

    def __init__(self, config: GitlabConfig, client: GitlabClient, watch: ProjectWatch) -> None:
        self.config = config
        self.client = client
        self.watch = watch

    def since(self, entry: dict[str, Any] | None, ctx: SyncContext) -> datetime:
        if not entry or not entry.get("since"):
            return ctx.started_at - self.config.history
        return parse_time(entry["since"]) - self.config.overlap

    def raw(
        self, project: str, native_id: str, item: dict[str, Any], ctx: SyncContext
    ) -> RawRecord:
        url = item.get("webUrl") or item.get("web_url")
        return RawRecord(self.name, native_id, {"project": project, **item}, ctx.started_at, url)


class GraphqlStream(ProjectStream):
    """A GraphQL connection of each project, ``batch`` projects a query, each under an alias."""

    batch: ClassVar[int]
    connection: ClassVar[str]
    arguments: ClassVar[str]
    nodes: ClassVar[str]

    def native_id(self, project: str, item: dict[str, Any]) -> str:
        return f"{project}!{item.get('iid')}"

    def emit(
        self, project: Project, items: list[dict[str, Any]], memory: SyncMemory, ctx: SyncContext
    ) -> list[RawRecord]:
        return [self.raw(project.path, self.native_id(project.path, i), i, ctx) for i in items]

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        memory = self.watch.ensure(ctx)
        state: dict[str, dict[str, Any]] = json.loads(cursor or "{}")
        todo = memory.readable()
        for start in range(0, len(todo), self.batch):
            batch = {p.path: p for p in todo[start : start + self.batch]}
            since = {path: self.since(state.get(path), ctx) for path in batch}
            after: dict[str, str | None] = dict.fromkeys(batch)
            paginator = Paginator(what=f"{self.name} of {', '.join(batch)}")
            while after:
                aliases = {f"p{i}": path for i, path in enumerate(after)}
                parts = [
                    f"{alias}: project(fullPath: {json.dumps(path)}) {{ {self.connection}("
                    f"{self.arguments}, updatedAfter: {json.dumps(iso(since[path]))}, first: 100, "
                    f"after: {json.dumps(after[path])}) {{ pageInfo {{ hasNextPage endCursor }} "
                    f"nodes {{ {self.nodes} }} }} }}"
                    for alias, path in aliases.items()
                ]
                answer = self.client.graphql(
                    ctx,
                    "query { " + " ".join(parts) + " }",
                    {},
                    what=f"{self.name} of " + ", ".join(after),
                )
                raws: list[RawRecord] = []
                for alias, path in aliases.items():
                    node = answer.get(alias)
                    if node is None:  # GitLab answers null for a project the token cannot see
                        memory.refuse(
                            path, ProjectRefused(f"project {path} is not visible to this token")
                        )
                        del after[path]
                        continue
                    # null when the feature is off in the project (merge requests, CI/CD)
                    conn = node.get(self.connection) or {"pageInfo": {"hasNextPage": False}}
                    items = [n for n in conn.get("nodes") or [] if n]
                    raws += self.emit(batch[path], items, memory, ctx)
                    if conn["pageInfo"]["hasNextPage"]:
                        after[path] = conn["pageInfo"]["endCursor"]
                        paginator.advance((path, after[path]))
                    else:
                        del after[path]
                        state[path] = {"since": iso(ctx.started_at)}
                yield Page(raws, json.dumps(state, sort_keys=True))


COMMIT = "sha authoredDate committedDate"


class MergeRequestsStream(GraphqlStream):
    """Merge requests of every state with their commits, notes and approvers: no request per MR.

    A page of 100 merge requests with these fields costs about 120 points of GitLab's query
    complexity (at most 250 a query), so two projects share a query.
    """

    name = "merge_requests"
    batch = 2
    connection = "mergeRequests"
    arguments = "sort: UPDATED_DESC"
    nodes = (
        "iid title description state draft createdAt updatedAt mergedAt closedAt sourceBranch "
        "targetBranch mergeCommitSha squashCommitSha diffHeadSha webUrl author { username } "
        "labels { nodes { title } } approvedBy { nodes { username } } "
        f"commits(first: 100) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {COMMIT} }} }} "
        "notes(first: 50) { nodes { system body createdAt author { username } } }"
    )

    def emit(
        self, project: Project, items: list[dict[str, Any]], memory: SyncMemory, ctx: SyncContext
    ) -> list[RawRecord]:
        merged = memory.merged.setdefault(project.path, {})
        for item in items:
            commits = item.get("commits") or {}
            if (commits.get("pageInfo") or {}).get("hasNextPage"):
                self._more_commits(ctx, project, item)
            if item.get("mergedAt"):
                for key in ("mergeCommitSha", "squashCommitSha", "diffHeadSha"):
                    if item.get(key):
                        merged[item[key]] = item
        return super().emit(project, items, memory, ctx)

    def _more_commits(self, ctx: SyncContext, project: Project, item: dict[str, Any]) -> None:
        """The rest of a merge request with more than 100 commits: its first commit is among
        the oldest, and GitLab lists them newest first."""
        commits = item["commits"]
        paginator = Paginator(what=f"commits of {project.path}!{item.get('iid')}")
        while commits["pageInfo"].get("hasNextPage"):
            after = commits["pageInfo"]["endCursor"]
            paginator.advance(after)
            answer = self.client.graphql(
                ctx,
                f"query {{ project(fullPath: {json.dumps(project.path)}) {{ "
                f"mergeRequest(iid: {json.dumps(str(item.get('iid')))}) {{ commits(first: 100, "
                f"after: {json.dumps(after)}) {{ pageInfo {{ hasNextPage endCursor }} "
                f"nodes {{ {COMMIT} }} }} }} }} }}",
                {},
                what=f"commits of {project.path}!{item.get('iid')}",
            )
            more = ((answer.get("project") or {}).get("mergeRequest") or {}).get("commits") or {}
            commits["nodes"] = [*(commits.get("nodes") or []), *(more.get("nodes") or [])]
            commits["pageInfo"] = more.get("pageInfo") or {"hasNextPage": False}


class PipelinesStream(GraphqlStream):
    """Pipelines with their jobs, both as pipeline runs; a finished pipeline is updated last."""

    name = "pipelines"
    batch = 3
    connection = "pipelines"
    arguments = "scope: FINISHED"
    nodes = (
        "iid sha ref status source createdAt updatedAt startedAt finishedAt path "
        "jobs(first: 50) { nodes { id name status createdAt startedAt finishedAt retried "
        "stage { name } } }"
    )


class CommitsStream(ProjectStream):
    """Commits on the default branch, first parents only: merges, squashes and direct pushes.

    The first-parent line is what production receives from a default branch; a merge request's
    own commits come with the merge request, so they are not read again here.
    """

    name = "commits"

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        memory = self.watch.ensure(ctx)
        state: dict[str, dict[str, Any]] = json.loads(cursor or "{}")
        for project in memory.readable():
            if not project.default_branch:
                continue  # an empty repository
            graph = memory.graph.setdefault(project.path, {})
            params = {
                "ref_name": project.default_branch,
                "since": iso(self.since(state.get(project.path), ctx)),
                "first_parent": "true",
            }
            try:
                for page in self.client.pages(
                    ctx,
                    f"/projects/{project.id}/repository/commits",
                    what=f"commits of {project.path}",
                    params=params,
                ):
                    for item in page:
                        if not isinstance(item.get("id"), str):
                            continue  # malformed: stored raw, skipped by the mapping
                        graph[item["id"]] = CommitNode(
                            tuple(item.get("parent_ids") or ()), item.get("title") or ""
                        )
                    raws = [
                        self.raw(
                            project.path,
                            f"{project.path}@{item.get('id')}",
                            {**item, "branch": project.default_branch},
                            ctx,
                        )
                        for item in page
                    ]
                    yield Page(raws, None)
            except ProjectRefused as exc:
                memory.refuse(project.path, exc)
                continue
            state[project.path] = {"since": iso(ctx.started_at)}
            yield Page([], json.dumps(state, sort_keys=True))

    def fill(self, ctx: SyncContext, project: Project, sha: str, memory: SyncMemory) -> None:
        """Load the newest 100 first-parent ancestors of ``sha`` with one request."""
        graph = memory.graph.setdefault(project.path, {})
        answer = self.client.get(
            ctx,
            f"/projects/{project.id}/repository/commits",
            what=f"history of {sha[:8]} in {project.path}",
            params={"ref_name": sha, "first_parent": "true", "per_page": 100},
        )
        for item in answer.data or []:
            if not isinstance(item.get("id"), str):
                continue
            graph.setdefault(
                item["id"], CommitNode(tuple(item.get("parent_ids") or ()), item.get("title") or "")
            )


class IssuesStream(ProjectStream):
    """Issues updated since the last read: incidents, and other issues when work items are on."""

    name = "issues"

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        memory = self.watch.ensure(ctx)
        state: dict[str, dict[str, Any]] = json.loads(cursor or "{}")
        for project in memory.readable():
            params = {
                "scope": "all",
                "updated_after": iso(self.since(state.get(project.path), ctx)),
                "order_by": "updated_at",
                "sort": "asc",
            }
            if not self.config.work_items:
                params["issue_type"] = "incident"
            try:
                for page in self.client.pages(
                    ctx,
                    f"/projects/{project.id}/issues",
                    what=f"issues of {project.path}",
                    params=params,
                ):
                    yield Page(
                        [
                            self.raw(project.path, f"{project.path}#{i.get('iid')}", i, ctx)
                            for i in page
                        ],
                        None,
                    )
            except ProjectRefused as exc:
                memory.refuse(project.path, exc)
                continue
            state[project.path] = {"since": iso(ctx.started_at)}
            yield Page([], json.dumps(state, sort_keys=True))
