"""The fake GitHub's GraphQL API: a subset of GitHub's schema answered by graphql-core."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from graphql import (
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    build_schema,
    parse,
    value_from_ast_untyped,
)
from tests.fakes.github.org import (
    FakeCommit,
    FakeDeployment,
    FakeIssue,
    FakeOrg,
    FakePull,
    FakeRepo,
)
from tests.fakes.github.payloads import iso

SDL = """
scalar DateTime
scalar GitTimestamp
scalar GitObjectID
scalar URI

type Query {
  repository(owner: String!, name: String!): Repository
  rateLimit: RateLimit
}
type RateLimit { cost: Int! limit: Int! remaining: Int! resetAt: DateTime! used: Int! }
type PageInfo { hasNextPage: Boolean! endCursor: String hasPreviousPage: Boolean! startCursor: String }
interface Actor { login: String! }
type User implements Actor { login: String! }
type Label { name: String! }
type LabelConnection { nodes: [Label] totalCount: Int! pageInfo: PageInfo! }
type GitActor { name: String email: String date: GitTimestamp user: User }

type Repository {
  databaseId: Int
  name: String!
  nameWithOwner: String!
  url: URI!
  defaultBranchRef: Ref
  object(oid: GitObjectID, expression: String): GitObject
  pullRequests(first: Int, after: String, states: [PullRequestState!],
               orderBy: IssueOrder): PullRequestConnection!
  deployments(first: Int, after: String, environments: [String!],
              orderBy: DeploymentOrder): DeploymentConnection!
  issues(first: Int, after: String, orderBy: IssueOrder, filterBy: IssueFilters,
         labels: [String!], states: [IssueState!]): IssueConnection!
}
type Ref { name: String! target: GitObject }
interface GitObject { oid: GitObjectID! }
type Commit implements GitObject {
  oid: GitObjectID!
  message: String!
  messageHeadline: String!
  authoredDate: DateTime!
  committedDate: DateTime!
  url: URI!
  author: GitActor
  parents(first: Int, after: String): CommitConnection!
  history(first: Int, after: String, since: GitTimestamp, until: GitTimestamp): CommitHistoryConnection!
}
type CommitConnection { nodes: [Commit] totalCount: Int! pageInfo: PageInfo! }
type CommitHistoryConnection { nodes: [Commit] totalCount: Int! pageInfo: PageInfo! }

enum PullRequestState { OPEN CLOSED MERGED }
enum IssueState { OPEN CLOSED }
enum IssueStateReason { COMPLETED NOT_PLANNED REOPENED DUPLICATE }
enum OrderDirection { ASC DESC }
enum IssueOrderField { CREATED_AT UPDATED_AT COMMENTS }
enum DeploymentOrderField { CREATED_AT }
input IssueOrder { field: IssueOrderField! direction: OrderDirection! }
input DeploymentOrder { field: DeploymentOrderField! direction: OrderDirection! }
input IssueFilters { since: DateTime labels: [String!] states: [IssueState!] }
enum PullRequestReviewState { PENDING COMMENTED APPROVED CHANGES_REQUESTED DISMISSED }
enum DeploymentState { ABANDONED ACTIVE DESTROYED ERROR FAILURE INACTIVE PENDING QUEUED IN_PROGRESS WAITING SUCCESS }
enum DeploymentStatusState { PENDING SUCCESS FAILURE INACTIVE ERROR QUEUED IN_PROGRESS WAITING }

type PullRequest {
  databaseId: Int number: Int! title: String! body: String! url: URI!
  state: PullRequestState! isDraft: Boolean! merged: Boolean!
  createdAt: DateTime! updatedAt: DateTime! mergedAt: DateTime closedAt: DateTime
  baseRefName: String! headRefName: String! author: Actor mergeCommit: Commit
  commits(first: Int, after: String): PullRequestCommitConnection!
  reviews(first: Int, after: String, states: [PullRequestReviewState!]): PullRequestReviewConnection
  labels(first: Int, after: String): LabelConnection
}
type PullRequestCommit { commit: Commit! }
type PullRequestCommitConnection { nodes: [PullRequestCommit] totalCount: Int! pageInfo: PageInfo! }
type PullRequestReview { databaseId: Int state: PullRequestReviewState! submittedAt: DateTime author: Actor }
type PullRequestReviewConnection { nodes: [PullRequestReview] totalCount: Int! pageInfo: PageInfo! }
type PullRequestConnection { nodes: [PullRequest] totalCount: Int! pageInfo: PageInfo! }

type DeploymentStatus { state: DeploymentStatusState! createdAt: DateTime! updatedAt: DateTime! description: String }
type DeploymentStatusConnection { nodes: [DeploymentStatus] totalCount: Int! pageInfo: PageInfo! }
type Deployment {
  databaseId: Int environment: String originalEnvironment: String task: String payload: String
  description: String createdAt: DateTime! updatedAt: DateTime! commitOid: String! ref: Ref
  state: DeploymentState latestStatus: DeploymentStatus creator: Actor!
  statuses(first: Int, after: String): DeploymentStatusConnection
}
type DeploymentConnection { nodes: [Deployment] totalCount: Int! pageInfo: PageInfo! }

type Issue {
  databaseId: Int number: Int! title: String! body: String! url: URI! state: IssueState!
  stateReason: IssueStateReason createdAt: DateTime! updatedAt: DateTime! closedAt: DateTime
  author: Actor labels(first: Int, after: String): LabelConnection
}
type IssueConnection { nodes: [Issue] totalCount: Int! pageInfo: PageInfo! }
"""


def make_schema() -> GraphQLSchema:
    return build_schema(SDL)


def _cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:{offset}".encode()).decode()


def connection(
    items: Sequence[Any], node: Callable[[Any], Any], first: int | None, after: str | None
) -> dict[str, Any]:
    start = int(base64.b64decode(after).decode().split(":")[1]) if after else 0
    size = min(first or 100, 100)
    window = items[start : start + size]
    return {
        "nodes": [node(i) for i in window],
        "totalCount": len(items),
        "pageInfo": {
            "hasNextPage": start + size < len(items),
            "endCursor": _cursor(start + len(window)) if window else None,
            "hasPreviousPage": start > 0,
            "startCursor": _cursor(start) if window else None,
        },
    }


def actor(login: str) -> dict[str, Any]:
    return {"__typename": "User", "login": login}


def _ordered(items: list[Any], order: dict[str, str] | None, default: str) -> list[Any]:
    field = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at"}[
        (order or {}).get("field", default)
    ]
    descending = (order or {}).get("direction", "ASC") == "DESC"
    return sorted(items, key=lambda x: getattr(x, field), reverse=descending)


class Resolver:
    """Turns the fake organisation into GraphQL answers; ``web`` is the server's own base URL."""

    def __init__(self, org: FakeOrg, web: str) -> None:
        self.org = org
        self.web = web

    def root(self) -> dict[str, Any]:
        return {"repository": self.repository}

    def repository(self, info: Any, owner: str, name: str) -> dict[str, Any] | None:
        repo = self.org.repos.get(name)
        if owner != self.org.login or repo is None:
            return None
        return {
            "databaseId": repo.id,
            "name": repo.name,
            "nameWithOwner": repo.full_name,
            "url": f"{self.web}/{repo.full_name}",
            "defaultBranchRef": {
                "name": repo.default_branch,
                "target": self.commit(repo, repo.head) if repo.head else None,
            },
            "object": lambda info, oid=None, expression=None: (
                self.commit(repo, oid) if oid in repo.commits else None
            ),
            "pullRequests": lambda info, first=None, after=None, states=None, orderBy=None: (
                connection(
                    _ordered(
                        [p for p in repo.pulls if not states or p.state in states],
                        orderBy,
                        "CREATED_AT",
                    ),
                    lambda p: self.pull(repo, p),
                    first,
                    after,
                )
            ),
            "deployments": lambda info, first=None, after=None, environments=None, orderBy=None: (
                connection(
                    _ordered(
                        [
                            d
                            for d in repo.deployments
                            if not environments or d.environment in environments
                        ],
                        orderBy,
                        "CREATED_AT",
                    ),
                    lambda d: self.deployment(repo, d),
                    first,
                    after,
                )
            ),
            "issues": lambda info, first=None, after=None, orderBy=None, filterBy=None, labels=None, states=None: (
                connection(
                    _ordered(
                        self._issues(repo, filterBy or {}, labels, states), orderBy, "CREATED_AT"
                    ),
                    lambda i: self.issue(repo, i),
                    first,
                    after,
                )
            ),
        }

    def _issues(
        self,
        repo: FakeRepo,
        filters: dict[str, Any],
        labels: list[str] | None,
        states: list[str] | None,
    ) -> list[FakeIssue]:
        since = datetime.fromisoformat(filters["since"]) if filters.get("since") else None
        out = []
        for issue in repo.issues:
            state = "CLOSED" if issue.closed_at else "OPEN"
            if since and issue.updated_at < since:
                continue
            if (labels or filters.get("labels")) and not set(labels or filters["labels"]) & set(
                issue.labels
            ):
                continue
            if (states or filters.get("states")) and state not in (states or filters["states"]):
                continue
            out.append(issue)
        return out

    def commit(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        c: FakeCommit = repo.commits[sha]
        return {
            "__typename": "Commit",
            "oid": c.sha,
            "message": c.message,
            "messageHeadline": c.message.splitlines()[0],
            "authoredDate": iso(c.authored_at),
            "committedDate": iso(c.committed_at),
            "url": f"{self.web}/{repo.full_name}/commit/{sha}",
            "author": {
                "name": c.author,
                "email": f"{c.author}@example.com",
                "date": iso(c.authored_at),
                "user": actor(c.author),
            },
            "parents": lambda info, first=None, after=None: connection(
                c.parents, lambda p: self.commit(repo, p), first, after
            ),
            "history": lambda info, first=None, after=None, since=None, until=None: connection(
                self._history(repo, sha, since, until), lambda s: self.commit(repo, s), first, after
            ),
        }

    @staticmethod
    def _history(repo: FakeRepo, sha: str, since: str | None, until: str | None) -> list[str]:
        # like `git log`: every commit reachable from sha, newest first, filtered by commit date
        reachable, todo = set(), [sha]
        while todo:
            current = todo.pop()
            if current not in reachable and current in repo.commits:
                reachable.add(current)
                todo.extend(repo.commits[current].parents)
        low = datetime.fromisoformat(since) if since else None
        high = datetime.fromisoformat(until) if until else None
        commits = [repo.commits[s] for s in reachable]
        commits = [
            c
            for c in commits
            if (not low or c.committed_at >= low) and (not high or c.committed_at <= high)
        ]
        return [c.sha for c in sorted(commits, key=lambda c: (c.committed_at, c.sha), reverse=True)]

    def pull(self, repo: FakeRepo, p: FakePull) -> dict[str, Any]:
        return {
            "databaseId": p.number * 7919,
            "number": p.number,
            "title": p.title,
            "body": p.body,
            "url": f"{self.web}/{repo.full_name}/pull/{p.number}",
            "state": p.state,
            "isDraft": False,
            "merged": p.state == "MERGED",
            "createdAt": iso(p.created_at),
            "updatedAt": iso(p.updated_at),
            "mergedAt": iso(p.merged_at),
            "closedAt": iso(p.closed_at),
            "baseRefName": p.base_ref,
            "headRefName": p.head_ref,
            "author": actor(p.author),
            "mergeCommit": self.commit(repo, p.merge_sha) if p.merge_sha else None,
            "commits": lambda info, first=None, after=None: connection(
                p.commits, lambda c: {"commit": self.commit(repo, c.sha)}, first, after
            ),
            "reviews": lambda info, first=None, after=None, states=None: connection(
                [r for r in p.reviews if not states or r.state in states],
                lambda r: {
                    "databaseId": r.id,
                    "state": r.state,
                    "submittedAt": iso(r.submitted_at),
                    "author": actor(r.author),
                },
                first,
                after,
            ),
            "labels": lambda info, first=None, after=None: connection(
                p.labels, lambda n: {"name": n}, first, after
            ),
        }

    def deployment(self, repo: FakeRepo, d: FakeDeployment) -> dict[str, Any]:
        statuses = [
            {"state": s.upper(), "createdAt": iso(at), "updatedAt": iso(at), "description": ""}
            for s, at in d.statuses
        ]
        latest = statuses[-1] if statuses else None
        return {
            "databaseId": d.id,
            "environment": d.environment,
            "originalEnvironment": d.environment,
            "task": d.task,
            "payload": json.dumps(d.payload),
            "description": d.description,
            "createdAt": iso(d.created_at),
            "updatedAt": latest["updatedAt"] if latest else iso(d.created_at),
            "commitOid": d.sha,
            "ref": {"name": d.ref, "target": None},
            "state": (latest["state"] if latest else "PENDING").replace("SUCCESS", "ACTIVE"),
            "latestStatus": latest,
            "creator": actor("deploy-bot"),
            "statuses": lambda info, first=None, after=None: connection(
                list(reversed(statuses)), lambda s: s, first, after
            ),
        }

    def issue(self, repo: FakeRepo, i: FakeIssue) -> dict[str, Any]:
        return {
            "databaseId": i.number * 104729,
            "number": i.number,
            "title": i.title,
            "body": i.body,
            "url": f"{self.web}/{repo.full_name}/issues/{i.number}",
            "state": "CLOSED" if i.closed_at else "OPEN",
            "stateReason": i.state_reason.upper() if i.state_reason else None,
            "createdAt": iso(i.created_at),
            "updatedAt": iso(i.updated_at),
            "closedAt": iso(i.closed_at),
            "author": actor(i.author),
            "labels": lambda info, first=None, after=None: connection(
                i.labels, lambda n: {"name": n}, first, after
            ),
        }


def query_cost(query: str, variables: dict[str, Any]) -> int:
    """GitHub's point cost: connection requests needed (first x parents), / 100, at least 1."""
    document = parse(query)
    requests = 0

    def walk(selections: Any, multiplier: int) -> None:
        nonlocal requests
        for sel in selections or ():
            inner = multiplier
            if isinstance(sel, FieldNode):
                args = {
                    a.name.value: value_from_ast_untyped(a.value, variables)
                    for a in sel.arguments or ()
                }
                if "first" in args and sel.name.value != "parents":
                    requests += multiplier
                    inner = multiplier * int(args["first"] or 1)
            if getattr(sel, "selection_set", None) is not None:
                walk(sel.selection_set.selections, inner)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk(definition.selection_set.selections, 1)
    return max(1, round(requests / 100))
