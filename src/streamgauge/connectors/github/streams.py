"""GitHub's GraphQL streams: pull requests, default-branch commits and issues, many repos a query."""

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
from streamgauge.connectors.github.client import GithubClient
from streamgauge.connectors.github.config import GithubConfig
from streamgauge.connectors.github.watch import CommitNode, RepoWatch, SyncMemory

log = logging.getLogger(__name__)


class RepoBatchStream(Stream):
    """A GraphQL connection read for several repositories per query, each under its own alias.

    The cursor holds, per repository, the time the last complete read started (``since``) and the
    change fingerprint it saw (``seen``); a repository whose fingerprint did not change is not
    queried at all. Connections ordered newest first are read until they pass ``since`` minus
    the overlap; the repository's entry advances only once its read is complete.
    """

    newest_first: ClassVar[bool] = True
    time_field: ClassVar[str] = "updatedAt"

    def __init__(self, config: GithubConfig, client: GithubClient, watch: RepoWatch) -> None:
        self.config = config
        self.client = client
        self.watch = watch

    # hooks ------------------------------------------------------------------------------------

    def selection(self, repo: str, since: datetime, after: str | None) -> str:
        raise NotImplementedError

    def connection(self, node: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def native_id(self, repo: str, item: dict[str, Any]) -> str:
        return f"{repo}#{item['number']}"

    def wanted(
        self, repo: str, entry: dict[str, Any] | None, memory: SyncMemory, ctx: SyncContext
    ) -> bool:
        return entry is None or entry.get("seen") != memory.fingerprints.get(repo)

    def since(
        self, repo: str, entry: dict[str, Any] | None, memory: SyncMemory, ctx: SyncContext
    ) -> datetime:
        if entry is None:
            return ctx.started_at - self.config.history
        return parse_time(entry["since"]) - self.config.overlap

    def emit(
        self,
        repo: str,
        items: list[dict[str, Any]],
        done: bool,
        entry: dict[str, Any],
        memory: SyncMemory,
        ctx: SyncContext,
    ) -> list[RawRecord]:
        return [self.raw(repo, item, ctx) for item in items]

    # machinery --------------------------------------------------------------------------------

    def raw(self, repo: str, item: dict[str, Any], ctx: SyncContext) -> RawRecord:
        return RawRecord(
            self.name,
            self.native_id(repo, item),
            {"repository": repo, **item},
            ctx.started_at,
            item.get("url"),
        )

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        memory = self.watch.ensure(ctx)
        state: dict[str, dict[str, Any]] = json.loads(cursor or "{}")
        todo = [r for r in memory.repos if self.wanted(r, state.get(r), memory, ctx)]
        skipped = len(memory.repos) - len(todo)
        if skipped:
            log.debug("%s: %d repositories unchanged, not queried", self.name, skipped)
        size = self.config.graphql_batch
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            since = {r: self.since(r, state.get(r), memory, ctx) for r in batch}
            after: dict[str, str | None] = dict.fromkeys(batch)
            pending: dict[str, dict[str, Any]] = {r: dict(state.get(r) or {}) for r in batch}
            paginator = Paginator(what=f"{self.name} of {', '.join(batch)}")
            while after:
                aliases = {f"r{i}": repo for i, repo in enumerate(after)}
                parts = [
                    f"{alias}: repository(owner: {json.dumps(repo.split('/')[0])}, "
                    f"name: {json.dumps(repo.split('/')[1])}) "
                    f"{{ {self.selection(repo, since[repo], after[repo])} }}"
                    for alias, repo in aliases.items()
                ]
                query = "query { " + " ".join(parts) + " rateLimit { cost remaining resetAt } }"
                answer = self.client.graphql(
                    ctx, query, {}, what=f"{self.name} of {', '.join(after)}"
                )
                raws: list[RawRecord] = []
                for alias, repo in aliases.items():
                    conn = self.connection(answer["data"][alias])
                    nodes = [n for n in conn.get("nodes") or [] if n]
                    done = not conn["pageInfo"]["hasNextPage"]
                    items = []
                    for item in nodes:
                        if self.newest_first and parse_time(item[self.time_field]) < since[repo]:
                            done = True
                            continue
                        items.append(item)
                    if done:
                        del after[repo]
                        pending[repo]["since"] = iso(ctx.started_at)
                        pending[repo]["seen"] = memory.fingerprints.get(repo)
                        raws += self.emit(repo, items, True, pending[repo], memory, ctx)
                        state[repo] = pending[repo]
                    else:
                        after[repo] = conn["pageInfo"]["endCursor"]
                        paginator.advance((repo, after[repo]))
                        raws += self.emit(repo, items, False, pending[repo], memory, ctx)
                yield Page(raws, json.dumps(state, sort_keys=True))


class PullRequestsStream(RepoBatchStream):
    """Open, merged and closed pull requests with what lead time needs, 100 per repo per query."""

    name = "pull_requests"

    def selection(self, repo: str, since: datetime, after: str | None) -> str:
        return (
            f"pullRequests(first: 100, after: {json.dumps(after)}, "
            "orderBy: {field: UPDATED_AT, direction: DESC}) { pageInfo { hasNextPage endCursor } "
            "nodes { databaseId number title body url state isDraft createdAt updatedAt mergedAt "
            "closedAt baseRefName headRefName author { login } mergeCommit { oid } "
            "commits(first: 100) { totalCount nodes { commit { oid authoredDate committedDate } } } "
            "reviews(first: 50) { nodes { state submittedAt author { login } } } "
            "labels(first: 20) { nodes { name } } } }"
        )

    def connection(self, node: dict[str, Any]) -> dict[str, Any]:
        return node["pullRequests"]  # type: ignore[no-any-return]

    def emit(
        self,
        repo: str,
        items: list[dict[str, Any]],
        done: bool,
        entry: dict[str, Any],
        memory: SyncMemory,
        ctx: SyncContext,
    ) -> list[RawRecord]:
        merged = memory.merged_pulls.setdefault(repo, {})
        for item in items:
            if item.get("mergeCommit"):
                merged[item["mergeCommit"]["oid"]] = item
                # a merge brings commits committed before it; the commit stream must reach back
                first = (item.get("commits") or {}).get("nodes") or []
                if first and first[0].get("commit"):
                    at = first[0]["commit"]["committedDate"]
                    memory.commit_floor[repo] = min(memory.commit_floor.get(repo, at), at)
        return super().emit(repo, items, done, entry, memory, ctx)


class CommitsStream(RepoBatchStream):
    """Commits reachable from the default branch, since the last read (git log order)."""

    name = "commits"
    newest_first = False

    def selection(self, repo: str, since: datetime, after: str | None) -> str:
        return (
            "defaultBranchRef { name target { ... on Commit { "
            f"history(first: 100, after: {json.dumps(after)}, since: {json.dumps(iso(since))}) "
            "{ pageInfo { hasNextPage endCursor } nodes { oid messageHeadline message authoredDate "
            "committedDate url author { name user { login } } parents(first: 3) { nodes { oid } } } } "
            "} } }"
        )

    def connection(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("defaultBranchRef") or {}
        target = ref.get("target") or {}
        empty: dict[str, Any] = {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
        history = target.get("history") or empty
        nodes: list[dict[str, Any]] = [n for n in history.get("nodes") or [] if n]
        for item in nodes:
            item["branch"] = ref.get("name")
        return {"nodes": nodes, "pageInfo": history["pageInfo"]}

    def native_id(self, repo: str, item: dict[str, Any]) -> str:
        return f"{repo}@{item['oid']}"

    def since(
        self, repo: str, entry: dict[str, Any] | None, memory: SyncMemory, ctx: SyncContext
    ) -> datetime:
        since = super().since(repo, entry, memory, ctx)
        floor = memory.commit_floor.get(repo)
        return min(since, parse_time(floor) - self.config.overlap) if floor else since

    def emit(
        self,
        repo: str,
        items: list[dict[str, Any]],
        done: bool,
        entry: dict[str, Any],
        memory: SyncMemory,
        ctx: SyncContext,
    ) -> list[RawRecord]:
        graph = memory.graph.setdefault(repo, {})
        for item in items:
            parents = tuple(p["oid"] for p in (item.get("parents") or {}).get("nodes") or [] if p)
            graph[item["oid"]] = CommitNode(parents, item.get("messageHeadline") or "")
        return super().emit(repo, items, done, entry, memory, ctx)


class IssuesStream(RepoBatchStream):
    """Issues updated since the last read; GraphQL's issues, unlike REST's, exclude pull requests."""

    name = "issues"
    newest_first = False  # filterBy.since already bounds it

    def selection(self, repo: str, since: datetime, after: str | None) -> str:
        return (
            f"issues(first: 100, after: {json.dumps(after)}, "
            "orderBy: {field: UPDATED_AT, direction: DESC}, "
            f"filterBy: {{since: {json.dumps(iso(since))}}}) "
            "{ pageInfo { hasNextPage endCursor } nodes { databaseId number title url state "
            "stateReason createdAt updatedAt closedAt author { login } "
            "labels(first: 20) { nodes { name } } } }"
        )

    def connection(self, node: dict[str, Any]) -> dict[str, Any]:
        return node["issues"]  # type: ignore[no-any-return]
