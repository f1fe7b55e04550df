"""Which repositories a GitHub source covers and which changed since the last sync (by ETag)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamgauge.connectors.base import Page, Paginator, Stream, SyncContext
from streamgauge.connectors.github.client import GithubClient
from streamgauge.connectors.github.config import GithubConfig

log = logging.getLogger(__name__)


@dataclass
class CommitNode:
    parents: tuple[str, ...]
    headline: str


@dataclass
class SyncMemory:
    """What one sync learnt that a later stream of the same sync uses; rebuilt every sync."""

    started_at: datetime | None = None
    repos: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)  # repo -> events ETag
    default_branches: dict[str, str] = field(default_factory=dict)
    cursor: str | None = None  # what the repositories stream stores
    graph: dict[str, dict[str, CommitNode]] = field(default_factory=dict)  # repo -> sha -> node
    merged_pulls: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # repo -> sha -> PR
    commit_floor: dict[str, str] = field(default_factory=dict)  # repo -> oldest new PR commit date
    has_deployments: dict[str, bool] = field(default_factory=dict)


class RepoWatch:
    """Lists the repositories and asks GitHub, with conditional requests, which ones changed.

    GraphQL has no conditional requests, so each repository's event feed is read with
    ``If-None-Match``: a 304 costs no rate limit and tells that nothing happened in it
    (https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api).
    """

    def __init__(self, config: GithubConfig, client: GithubClient) -> None:
        self.config = config
        self.client = client
        self.memory = SyncMemory()

    def ensure(self, ctx: SyncContext) -> SyncMemory:
        """This sync's memory, checking the repositories first if this sync has not yet."""
        if self.memory.started_at != ctx.started_at:
            self.check(ctx)
        return self.memory

    def check(self, ctx: SyncContext, cursor: str | None = None) -> SyncMemory:
        previous = json.loads(cursor or ctx.cursors.get(RepositoriesStream.name) or "{}")
        memory = SyncMemory(started_at=ctx.started_at)
        names = list(self.config.repos)
        org_state: dict[str, Any] = previous.get("org", {})
        if self.config.org:
            org_state = self._org_repos(ctx, org_state)
            names += [n for n in org_state["repos"] if n not in names]
        names = [n for n in names if n not in self.config.exclude_repos]
        etags: dict[str, str] = previous.get("events", {})
        for name in names:
            answer = self.client.rest(
                ctx,
                f"/repos/{name}/events",
                params={"per_page": 1},
                etag=etags.get(name),
                what=f"repository {name}",
            )
            memory.fingerprints[name] = answer.etag or ""
            if answer.status == 304:
                log.debug("repository %s unchanged since the last sync (304)", name)
        memory.repos = names
        memory.default_branches = {**previous.get("branches", {}), **org_state.get("branches", {})}
        memory.cursor = json.dumps(
            {"org": org_state, "events": memory.fingerprints, "branches": memory.default_branches},
            sort_keys=True,
        )
        self.memory = memory
        return memory

    def _org_repos(self, ctx: SyncContext, state: dict[str, Any]) -> dict[str, Any]:
        first = self.client.rest(
            ctx,
            f"/orgs/{self.config.org}/repos",
            params={"per_page": 100, "type": "all"},
            etag=state.get("etag"),
            what=f"organisation {self.config.org}",
        )
        if first.status == 304:
            return state
        repos: list[str] = []
        branches: dict[str, str] = {}
        paginator = Paginator(what=f"repositories of {self.config.org}")
        answer = first
        while True:
            for repo in answer.data:
                if not repo.get("archived") and not repo.get("disabled"):
                    repos.append(repo["full_name"])
                    branches[repo["full_name"]] = repo.get("default_branch") or "main"
            if answer.next_url is None:
                break
            paginator.advance(answer.next_url)
            answer = self.client.rest(ctx, answer.next_url, what=f"organisation {self.config.org}")
        return {"etag": first.etag, "repos": repos, "branches": branches}


class RepositoriesStream(Stream):
    """The change check as a stream, so its ETags are stored like any cursor."""

    name = "repositories"

    def __init__(self, watch: RepoWatch) -> None:
        self.watch = watch

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        memory = self.watch.check(ctx, cursor)
        yield Page([], memory.cursor)
