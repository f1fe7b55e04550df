"""The fake GitLab's GraphQL API: a subset of GitLab's schema answered by graphql-core, with
GitLab's query complexity limit."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from graphql import (
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    parse,
    value_from_ast_untyped,
)
from tests.fakes.gitlab.payloads import iso
from tests.fakes.gitlab.project import FakeGroup, FakeMR, FakePipeline, FakeProject

MAX_COMPLEXITY = 250  # GitLab's limit for an authenticated request
MAX_PAGE = 100

SDL = """
scalar Time

type Query { project(fullPath: ID!): Project }
type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! endCursor: String startCursor: String }
type UserCore { username: String! name: String webUrl: String }
type UserCoreConnection { nodes: [UserCore] pageInfo: PageInfo! count: Int! }
type Label { title: String! color: String }
type LabelConnection { nodes: [Label] pageInfo: PageInfo! count: Int! }
type Commit { sha: String! shortId: String! title: String message: String authoredDate: Time committedDate: Time webUrl: String }
type CommitConnection { nodes: [Commit] pageInfo: PageInfo! count: Int! }
type Note { id: ID! system: Boolean! body: String! createdAt: Time! author: UserCore }
type NoteConnection { nodes: [Note] pageInfo: PageInfo! count: Int! }

enum MergeRequestState { opened closed locked all merged }
enum MergeRequestSort { CREATED_ASC CREATED_DESC UPDATED_ASC UPDATED_DESC MERGED_AT_ASC MERGED_AT_DESC }
type MergeRequest {
  id: ID! iid: String! title: String! description: String state: MergeRequestState! draft: Boolean!
  createdAt: Time! updatedAt: Time! mergedAt: Time closedAt: Time
  sourceBranch: String! targetBranch: String! mergeCommitSha: String squashCommitSha: String
  diffHeadSha: String webUrl: String author: UserCore
  labels(first: Int, after: String): LabelConnection
  approvedBy(first: Int, after: String): UserCoreConnection
  commits(first: Int, after: String): CommitConnection
  notes(first: Int, after: String): NoteConnection!
}
type MergeRequestConnection { nodes: [MergeRequest] pageInfo: PageInfo! count: Int! }

enum PipelineStatusEnum { CREATED WAITING_FOR_RESOURCE PREPARING PENDING RUNNING FAILED SUCCESS CANCELED CANCELING SKIPPED MANUAL SCHEDULED }
enum PipelineScopeEnum { RUNNING PENDING FINISHED BRANCHES TAGS }
enum CiJobStatus { CREATED WAITING_FOR_RESOURCE PREPARING PENDING RUNNING FAILED SUCCESS CANCELED CANCELING SKIPPED MANUAL SCHEDULED }
type CiStage { name: String }
type CiJob { id: ID name: String status: CiJobStatus createdAt: Time! startedAt: Time finishedAt: Time retried: Boolean stage: CiStage }
type CiJobConnection { nodes: [CiJob] pageInfo: PageInfo! count: Int! }
type Pipeline {
  id: ID! iid: String! sha: String ref: String status: PipelineStatusEnum! source: String
  createdAt: Time! updatedAt: Time! startedAt: Time finishedAt: Time duration: Int path: String
  jobs(first: Int, after: String): CiJobConnection
}
type PipelineConnection { nodes: [Pipeline] pageInfo: PageInfo! count: Int! }

type Project {
  id: ID! fullPath: ID! name: String!
  mergeRequest(iid: String!): MergeRequest
  mergeRequests(first: Int, after: String, updatedAfter: Time, updatedBefore: Time,
                state: MergeRequestState, sort: MergeRequestSort): MergeRequestConnection
  pipelines(first: Int, after: String, updatedAfter: Time, updatedBefore: Time,
            scope: PipelineScopeEnum, status: PipelineStatusEnum): PipelineConnection
}
"""

FINISHED = {"success", "failed", "canceled", "skipped"}


def make_schema() -> GraphQLSchema:
    return build_schema(SDL)


def _cursor(offset: int) -> str:
    return base64.b64encode(f'{{"offset":{offset}}}'.encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    return int(base64.b64decode(cursor).decode().split(":")[1].rstrip("}"))


def connection(items: Sequence[Any], make: Callable[[Any], dict[str, Any]]) -> Callable[..., Any]:
    def resolve(info: Any, first: int | None = None, after: str | None = None, **_: Any) -> Any:
        start = _offset(after)
        size = min(first or MAX_PAGE, MAX_PAGE)
        page = items[start : start + size]
        more = start + size < len(items)
        return {
            "nodes": [make(i) for i in page],
            "count": len(items),
            "pageInfo": {
                "hasNextPage": more,
                "hasPreviousPage": start > 0,
                "startCursor": _cursor(start) if page else None,
                "endCursor": _cursor(start + len(page)) if page else None,
            },
        }

    return resolve


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


class Resolver:
    def __init__(self, group: FakeGroup, web: str, hidden: set[str]) -> None:
        self.group = group
        self.web = web
        self.hidden = hidden

    def root(self) -> dict[str, Any]:
        return {"project": self.project}

    def project(self, info: Any, fullPath: str) -> dict[str, Any] | None:
        p = self.group.find(fullPath)
        if p is None or p.path in self.hidden:
            return None  # GitLab: null, no error, for a project the user cannot see
        return {
            "id": f"gid://gitlab/Project/{p.id}",
            "fullPath": p.path,
            "name": p.name,
            "mergeRequests": self._merge_requests(p),
            "mergeRequest": lambda info, iid: next(
                (self._mr(p, m) for m in p.mrs if str(m.iid) == iid), None
            ),
            "pipelines": self._pipelines(p),
        }

    def _merge_requests(self, p: FakeProject) -> Callable[..., Any]:
        def resolve(
            info: Any, updatedAfter: str | None = None, sort: str | None = None, **kw: Any
        ) -> Any:
            since = _time(updatedAfter)
            mrs = [m for m in p.mrs if since is None or m.updated > since]
            mrs.sort(key=lambda m: (m.updated, m.iid), reverse=sort != "UPDATED_ASC")
            return connection(mrs, lambda m: self._mr(p, m))(info, **kw)

        return resolve

    def _mr(self, p: FakeProject, m: FakeMR) -> dict[str, Any]:
        commits = [p.commits[s] for s in reversed(m.commits)]  # GitLab lists the newest first
        return {
            "id": f"gid://gitlab/MergeRequest/{p.id * 100_000 + m.iid}",
            "iid": str(m.iid),
            "title": m.title,
            "description": m.description,
            "state": m.state,
            "draft": False,
            "createdAt": iso(m.created),
            "updatedAt": iso(m.updated),
            "mergedAt": iso(m.merged_at),
            "closedAt": iso(m.closed_at),
            "sourceBranch": m.source_branch,
            "targetBranch": "main",
            "mergeCommitSha": m.merge_commit_sha,
            "squashCommitSha": m.squash_commit_sha,
            "diffHeadSha": m.head_sha,
            "webUrl": f"{self.web}/{p.path}/-/merge_requests/{m.iid}",
            "author": {"username": m.author, "name": m.author.title()},
            "labels": connection(m.labels, lambda t: {"title": t, "color": "#428BCA"}),
            "approvedBy": connection(m.approvers, lambda u: {"username": u, "name": u.title()}),
            "commits": connection(
                commits,
                lambda c: {
                    "sha": c.sha,
                    "shortId": c.sha[:8],
                    "title": c.title,
                    "message": c.message,
                    "authoredDate": iso(c.authored),
                    "committedDate": iso(c.committed),
                },
            ),
            "notes": connection(
                sorted(m.notes, key=lambda n: n.created),
                lambda n: {
                    "id": "gid://gitlab/Note/1",
                    "system": n.system,
                    "body": n.body,
                    "createdAt": iso(n.created),
                    "author": {"username": n.author},
                },
            ),
        }

    def _pipelines(self, p: FakeProject) -> Callable[..., Any]:
        def resolve(
            info: Any, updatedAfter: str | None = None, scope: str | None = None, **kw: Any
        ) -> Any:
            since = _time(updatedAfter)
            runs = [r for r in p.pipelines if since is None or r.updated > since]
            if scope == "FINISHED":
                runs = [r for r in runs if r.status in FINISHED]
            runs.sort(key=lambda r: r.id, reverse=True)
            return connection(runs, lambda r: self._pipeline(p, r))(info, **kw)

        return resolve

    def _pipeline(self, p: FakeProject, r: FakePipeline) -> dict[str, Any]:
        return {
            "id": f"gid://gitlab/Ci::Pipeline/{r.id}",
            "iid": str(r.iid),
            "sha": r.sha,
            "ref": r.ref,
            "status": r.status.upper(),
            "source": r.source,
            "createdAt": iso(r.created),
            "updatedAt": iso(r.updated),
            "startedAt": iso(r.started),
            "finishedAt": iso(r.finished),
            "duration": int((r.finished - r.started).total_seconds())
            if r.finished and r.started
            else None,
            "path": f"/{p.path}/-/pipelines/{r.id}",
            "jobs": connection(
                r.jobs,
                lambda j: {
                    "id": f"gid://gitlab/Ci::Build/{j.id}",
                    "name": j.name,
                    "status": j.status.upper(),
                    "createdAt": iso(j.created),
                    "startedAt": iso(j.started),
                    "finishedAt": iso(j.finished),
                    "retried": j.retried,
                    "stage": {"name": j.stage},
                },
            ),
        }


def complexity(query: str, variables: dict[str, Any]) -> int:
    """GitLab's score: one point a field; a connection adds 1% of its own score per node it may
    return (``first``, at most 100), so a page of 100 costs twice a single node."""
    document = parse(query)

    def score(selections: SelectionSetNode | None) -> float:
        total = 0.0
        for node in selections.selections if selections else ():
            if not isinstance(node, FieldNode):
                continue
            own = 1.0 + score(node.selection_set)
            args = {
                a.name.value: value_from_ast_untyped(a.value, variables)
                for a in node.arguments or ()
            }
            inner = {
                s.name.value
                for s in (node.selection_set.selections if node.selection_set else ())
                if isinstance(s, FieldNode)
            }
            if "nodes" in inner or "edges" in inner:
                limit = min(int(args.get("first") or MAX_PAGE), MAX_PAGE)
                own += own * limit * 0.01
            total += own
        return total

    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return int(sum(score(op.selection_set) for op in ops))
