"""GitLab deployments of each project, with the commits each production deployment shipped."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from streamgauge.connectors.base import Page, RawRecord, SyncContext, iso
from streamgauge.connectors.gitlab.client import GitlabClient, ProjectRefused
from streamgauge.connectors.gitlab.config import GitlabConfig
from streamgauge.connectors.gitlab.projects import CommitNode, Project, ProjectWatch, SyncMemory
from streamgauge.connectors.gitlab.streams import CommitsStream, ProjectStream

log = logging.getLogger(__name__)

FINAL = {"success", "failed", "canceled", "skipped"}
KEEP = 50  # recent successful production deployments remembered per project and environment


def first_parents(
    graph: dict[str, CommitNode], sha: str, previous: str | None, bound: int
) -> tuple[list[str], bool]:
    """The first-parent line from ``sha`` back to ``previous`` (excluded), and whether the walk
    ended where it should (at ``previous``, the bound, or a root) rather than at the graph's edge.

    Without a previous deployment at most ``bound`` commits are claimed, so a project's first
    deployment does not ship its whole history.
    """
    line: list[str] = []
    current: str | None = sha
    while current is not None and current != previous:
        node = graph.get(current)
        if node is None:
            return line, False
        line.append(current)
        if previous is None and len(line) >= bound:
            return line, True
        current = node.parents[0] if node.parents else None
    return line, True


class DeploymentsStream(ProjectStream):
    """Deployments updated since the last read, oldest first (``order_by=updated_at``).

    A deployment that is still running is updated when it ends, so ``updated_after`` brings it
    back. Which deployment came before which, per environment, is kept in the cursor, so the
    commits a new production deployment shipped are the first-parent line since the last one.
    """

    name = "deployments"

    def __init__(
        self,
        config: GitlabConfig,
        client: GitlabClient,
        watch: ProjectWatch,
        commits: CommitsStream,
    ) -> None:
        super().__init__(config, client, watch)
        self.commits = commits

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        memory = self.watch.ensure(ctx)
        state: dict[str, dict[str, Any]] = json.loads(cursor or "{}")
        for project in memory.readable():
            entry = dict(state.get(project.path) or {})
            params = {
                "updated_after": iso(self.since(entry, ctx)),
                "order_by": "updated_at",
                "sort": "asc",
            }
            items: list[dict[str, Any]] = []
            try:
                for page in self.client.pages(
                    ctx,
                    f"/projects/{project.id}/deployments",
                    what=f"deployments of {project.path}",
                    params=params,
                ):
                    items += page
                raws = self._emit(project, items, entry, memory, ctx)
            except ProjectRefused as exc:
                memory.refuse(project.path, exc)
                continue
            entry["since"] = iso(ctx.started_at)
            state[project.path] = entry
            yield Page(raws, json.dumps(state, sort_keys=True))

    def production(self, item: dict[str, Any]) -> bool:
        env = item.get("environment") or {}
        if env.get("tier") == "production":
            return True
        names = {e.lower() for e in self.config.production_environments}
        return str(env.get("name") or "").lower() in names

    def _emit(
        self,
        project: Project,
        items: list[dict[str, Any]],
        entry: dict[str, Any],
        memory: SyncMemory,
        ctx: SyncContext,
    ) -> list[RawRecord]:
        # shipped commits need the deployments in time order, whatever order updates came in
        # a deployment without these is stored raw and skipped by the mapping, never a stop
        malformed = [d for d in items if not _well_formed(d)]
        items = sorted(
            (d for d in items if _well_formed(d)), key=lambda d: (d["created_at"], d["id"])
        )
        history: dict[str, list[list[Any]]] = entry.get("prod") or {}  # env -> [[at, id, sha]]
        # what was worked out for a successful production deployment holds for good, and a
        # later read (the overlap) may no longer have the commits and merge requests it took
        known: dict[str, dict[str, Any]] = entry.get("facts") or {}
        raws = []
        for item in items:
            facts: dict[str, Any] = {}
            if self.production(item) and item.get("status") == "success":
                env = str((item.get("environment") or {}).get("name") or "")
                prod = history.setdefault(env, [])
                key = str(item["id"])
                earlier = [p for p in prod if p[0] < item["created_at"] and str(p[1]) != key]
                facts = known.get(key) or self._ship(ctx, project, item, earlier, memory)
                known[key] = facts
                if not any(str(p[1]) == key for p in prod):
                    history[env] = sorted([*prod, [item["created_at"], item["id"], item["sha"]]])[
                        -KEEP:
                    ]
            raws.append(
                self.raw(
                    project.path,
                    f"{project.path}/{item['id']}",
                    {**item, "_streamgauge": facts},
                    ctx,
                )
            )
        raws += [self.raw(project.path, f"{project.path}/{d.get('id')}", d, ctx) for d in malformed]
        kept = {str(p[1]) for prod in history.values() for p in prod}
        entry["prod"] = history
        entry["facts"] = {k: v for k, v in known.items() if k in kept}
        return raws

    def _ship(
        self,
        ctx: SyncContext,
        project: Project,
        item: dict[str, Any],
        earlier: list[list[Any]],
        memory: SyncMemory,
    ) -> dict[str, Any]:
        graph = memory.graph.setdefault(project.path, {})
        sha = item["sha"]
        previous = earlier[-1][2] if earlier else None
        facts: dict[str, Any] = {}
        if previous is not None and sha != previous:
            # GitLab rolls back by re-running an older deployment's job: its sha was deployed
            # before, or lies behind the one in production now
            behind, _ = first_parents(graph, previous, None, 10_000)
            if sha in {p[2] for p in earlier[:-1]} or sha in behind:
                facts["redeploy"] = True
        commits: list[str]
        if previous == sha or facts.get("redeploy"):
            commits = []  # nothing production did not have before
        else:
            bound = self.config.max_first_deployment_commits
            commits, whole = first_parents(graph, sha, previous, bound)
            if not whole:
                # this sync's commit read did not reach back to the previous deployment
                self.commits.fill(ctx, project, commits[-1] if commits else sha, memory)
                commits, _ = first_parents(graph, sha, previous, bound)
        facts["shipped"] = commits
        merged = memory.merged.get(project.path, {})
        mrs = [merged[c] for c in facts["shipped"] if c in merged]
        facts["mr_labels"] = sorted(
            {lbl["title"] for mr in mrs for lbl in (mr.get("labels") or {}).get("nodes") or []}
        )
        facts["mr_branches"] = sorted({mr["sourceBranch"] for mr in mrs if mr.get("sourceBranch")})
        facts["reverts"] = any(
            graph[c].title.startswith("Revert ") for c in facts["shipped"] if c in graph
        )
        return facts


def _well_formed(item: dict[str, Any]) -> bool:
    return all(
        isinstance(item.get(k), str) for k in ("created_at", "sha", "status")
    ) and isinstance(item.get("id"), int)
