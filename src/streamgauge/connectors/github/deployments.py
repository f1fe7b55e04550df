"""GitHub Deployments with their statuses, and the commits each production deployment shipped."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from streamgauge.connectors.base import FatalError, Page, RawRecord, SyncContext, parse_time
from streamgauge.connectors.github.streams import RepoBatchStream
from streamgauge.connectors.github.watch import CommitNode, SyncMemory

log = logging.getLogger(__name__)

RUNNING_STATES = {"PENDING", "QUEUED", "IN_PROGRESS", "WAITING"}
KEEP = 50  # recent successful production deployments remembered per repository


def shipped_commits(
    graph: dict[str, CommitNode], sha: str, previous: str | None, bound: int
) -> list[str] | None:
    """Commits reachable from ``sha`` and not from ``previous``; None when the graph cannot tell.

    Without a previous deployment at most ``bound`` commits are claimed, so the first deployment
    of a repository does not ship its whole history. Commits older than the graph's window stop
    the walk.
    """
    if sha not in graph or (previous is not None and previous not in graph):
        return None
    excluded = ancestors(graph, previous) if previous else set()
    out: list[str] = []
    seen: set[str] = set()
    todo = [sha]
    while todo and len(out) < (bound if previous is None else 1_000_000):
        current = todo.pop(0)
        if current in seen or current in excluded or current not in graph:
            continue
        seen.add(current)
        out.append(current)
        todo.extend(graph[current].parents)
    return out


def ancestors(graph: dict[str, CommitNode], sha: str) -> set[str]:
    seen: set[str] = set()
    todo = [sha]
    while todo:
        current = todo.pop()
        if current in seen or current not in graph:
            continue
        seen.add(current)
        todo.extend(graph[current].parents)
    return seen


class DeploymentsStream(RepoBatchStream):
    """Deployments, newest first, re-read while any is still running."""

    name = "deployments"
    time_field = "createdAt"

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        memory = self.watch.ensure(ctx)
        for repo, entry in json.loads(cursor or "{}").items():
            memory.has_deployments[repo] = bool(entry.get("has"))
        self._buffer: dict[str, list[dict[str, Any]]] = {}
        yield from super().read(cursor, ctx)

    def wanted(
        self, repo: str, entry: dict[str, Any] | None, memory: SyncMemory, ctx: SyncContext
    ) -> bool:
        if super().wanted(repo, entry, memory, ctx) or entry is None or entry.get("pending"):
            return True
        # deployment statuses raise no repository event: look again every `deployments_poll`
        return ctx.started_at - parse_time(entry["since"]) >= self.config.deployments_poll

    def since(
        self, repo: str, entry: dict[str, Any] | None, memory: SyncMemory, ctx: SyncContext
    ) -> datetime:
        since = super().since(repo, entry, memory, ctx)
        if entry and entry.get("pending"):
            since = min(since, parse_time(entry["pending"]) - self.config.overlap)
        return since

    def selection(self, repo: str, since: datetime, after: str | None) -> str:
        return (
            f"deployments(first: 100, after: {json.dumps(after)}, "
            "orderBy: {field: CREATED_AT, direction: DESC}) { pageInfo { hasNextPage endCursor } "
            "nodes { databaseId environment originalEnvironment task payload description createdAt "
            "updatedAt commitOid ref { name } creator { login } latestStatus { state createdAt } "
            "statuses(first: 10) { nodes { state createdAt } } } }"
        )

    def connection(self, node: dict[str, Any]) -> dict[str, Any]:
        return node["deployments"]  # type: ignore[no-any-return]

    def native_id(self, repo: str, item: dict[str, Any]) -> str:
        return str(item["databaseId"])

    def emit(
        self,
        repo: str,
        items: list[dict[str, Any]],
        done: bool,
        entry: dict[str, Any],
        memory: SyncMemory,
        ctx: SyncContext,
    ) -> list[RawRecord]:
        # shipped commits need the deployments in time order: hold them until the repo is read
        buffer = self._buffer.setdefault(repo, [])
        buffer.extend(items)
        if not done:
            return []
        items = sorted(self._buffer.pop(repo), key=lambda d: (d["createdAt"], d["databaseId"]))
        entry["has"] = bool(items) or bool(entry.get("has"))
        memory.has_deployments[repo] = entry["has"]
        running = [d["createdAt"] for d in items if _state(d) in RUNNING_STATES]
        entry["pending"] = min(running) if running else None
        prod: list[list[Any]] = entry.get("prod") or []  # [created_at, id, sha] ascending
        shipped: dict[str, list[str]] = entry.get("shipped") or {}
        production = [d for d in items if self._production(d) and _succeeded(d)]
        graph = memory.graph.setdefault(repo, {})
        if production and production[-1]["commitOid"] not in graph:
            # one query from the newest deployment usually covers all of them
            self._fill(ctx, repo, production[-1]["commitOid"], graph)
        raws = []
        for item in items:
            facts: dict[str, Any] = {}
            env = (item.get("environment") or "").lower()
            if env in {e.lower() for e in self.config.production_environments} and _succeeded(item):
                key = str(item["databaseId"])
                earlier = [p for p in prod if p[0] < item["createdAt"] and str(p[1]) != key]
                previous = earlier[-1] if earlier else None
                facts = self._ship(ctx, repo, item, previous, shipped.get(key), memory)
                if facts.get("shipped") is not None:
                    shipped[key] = facts["shipped"]
                if not any(str(p[1]) == key for p in prod):
                    prod = sorted(
                        [*prod, [item["createdAt"], item["databaseId"], item["commitOid"]]]
                    )
            raw = self.raw(repo, item, ctx)
            raws.append(
                RawRecord(
                    raw.stream,
                    raw.native_id,
                    {**raw.payload, "_streamgauge": facts},
                    raw.fetched_at,
                    raw.url,
                )
            )
        entry["prod"] = prod[-KEEP:]
        entry["shipped"] = {
            k: v for k, v in shipped.items() if int(k) in {p[1] for p in prod[-KEEP:]}
        }
        return raws

    def _ship(
        self,
        ctx: SyncContext,
        repo: str,
        item: dict[str, Any],
        previous: list[Any] | None,
        known: list[str] | None,
        memory: SyncMemory,
    ) -> dict[str, Any]:
        graph = memory.graph.setdefault(repo, {})
        sha, prev_sha = item["commitOid"], previous[2] if previous else None
        commits = known
        if commits is None and (sha not in graph or (prev_sha and prev_sha not in graph)):
            self._fill(ctx, repo, sha, graph)  # this sync's commit read did not reach it
        bound = self.config.max_first_deployment_commits
        if commits is None:
            commits = shipped_commits(graph, sha, prev_sha, bound)
            if commits is not None and _cut_short(
                graph, commits, bound if prev_sha is None else None
            ):
                # the walk reached the edge of what this sync read: read back from this commit
                self._fill(ctx, repo, sha, graph)
                commits = shipped_commits(graph, sha, prev_sha, bound)
        if commits is None and prev_sha is not None:
            commits = self._compare(ctx, repo, prev_sha, sha)
        facts: dict[str, Any] = {"shipped": commits, "previous": previous[1] if previous else None}
        if prev_sha and sha != prev_sha and sha in ancestors(graph, prev_sha):
            facts["redeploy"] = True  # an older commit deployed again: a rollback
        pulls = [memory.merged_pulls.get(repo, {}).get(c) for c in commits or []]
        facts["pull_labels"] = sorted(
            {lbl["name"] for p in pulls if p for lbl in (p.get("labels") or {}).get("nodes") or []}
        )
        facts["pull_branches"] = sorted({p["headRefName"] for p in pulls if p})
        facts["reverts"] = any(
            graph[c].headline.startswith("Revert ") for c in commits or [] if c in graph
        )
        return facts

    def _production(self, item: dict[str, Any]) -> bool:
        env = (item.get("environment") or "").lower()
        return env in {e.lower() for e in self.config.production_environments}

    def _fill(self, ctx: SyncContext, repo: str, sha: str, graph: dict[str, CommitNode]) -> None:
        """Load the newest 100 ancestors of ``sha`` into the graph with one GraphQL query."""
        owner, name = repo.split("/")
        query = (
            f"query {{ repository(owner: {json.dumps(owner)}, name: {json.dumps(name)}) {{ "
            f"object(oid: {json.dumps(sha)}) {{ ... on Commit {{ history(first: 100) {{ nodes {{ "
            "oid messageHeadline parents(first: 3) { nodes { oid } } } } } } } "
            "rateLimit { cost remaining resetAt } }"
        )
        answer = self.client.graphql(ctx, query, {}, what=f"history of {sha[:7]} in {repo}")
        target = (answer["data"].get("repository") or {}).get("object") or {}
        for node in (target.get("history") or {}).get("nodes") or []:
            if node and node["oid"] not in graph:
                parents = tuple(
                    p["oid"] for p in (node.get("parents") or {}).get("nodes") or [] if p
                )
                graph[node["oid"]] = CommitNode(parents, node.get("messageHeadline") or "")

    def _compare(self, ctx: SyncContext, repo: str, base: str, head: str) -> list[str] | None:
        """GitHub's compare API: the fallback when the commit graph does not reach back."""
        try:
            answer = self.client.rest(
                ctx,
                f"/repos/{repo}/compare/{base}...{head}",
                what=f"compare {base[:7]}...{head[:7]} of {repo}",
            )
        except FatalError as exc:
            log.warning("shipped commits of %s unknown: %s", head[:7], exc)
            return None
        return [c["sha"] for c in reversed(answer.data.get("commits") or [])]


def _cut_short(graph: dict[str, CommitNode], commits: list[str], bound: int | None) -> bool:
    if bound is not None and len(commits) >= bound:
        return False
    return any(p not in graph for c in commits for p in graph[c].parents)


def _statuses(item: dict[str, Any]) -> list[str]:
    nodes = (item.get("statuses") or {}).get("nodes") or []
    return [str(n.get("state")) for n in nodes if n]


def _state(item: dict[str, Any]) -> str:
    latest = item.get("latestStatus") or {}
    return str(latest.get("state") or "PENDING")


def _succeeded(item: dict[str, Any]) -> bool:
    return _state(item) == "SUCCESS" or "SUCCESS" in _statuses(item)
