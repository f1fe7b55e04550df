"""Which projects a GitLab source covers: groups expanded to their projects, plus explicit ones."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamgauge.connectors.base import FatalError, Page, Stream, SyncContext
from streamgauge.connectors.gitlab.client import GitlabClient, ProjectRefused, project_path
from streamgauge.connectors.gitlab.config import GitlabConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Project:
    path: str  # path_with_namespace
    id: int
    default_branch: str | None


@dataclass
class CommitNode:
    parents: tuple[str, ...]
    title: str


@dataclass
class SyncMemory:
    """What one sync learnt that a later stream of the same sync uses; rebuilt every sync."""

    started_at: datetime | None = None
    projects: list[Project] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # projects that refused this token this sync
    cursor: str | None = None
    graph: dict[str, dict[str, CommitNode]] = field(default_factory=dict)  # project -> sha -> node
    merged: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=dict
    )  # project -> any of a merged MR's three shas -> the MR

    def readable(self) -> list[Project]:
        return [p for p in self.projects if p.path not in self.refused]

    def refuse(self, project: str, exc: FatalError) -> None:
        """A project that answered 403 or 404 is left out of this sync; the others go on."""
        log.error("project %s left out of this sync: %s", project, exc)
        self.refused.add(project)


class ProjectWatch:
    """Lists the projects of the configured groups and the explicit projects, once a sync."""

    def __init__(self, config: GitlabConfig, client: GitlabClient) -> None:
        self.config = config
        self.client = client
        self.memory = SyncMemory()

    def ensure(self, ctx: SyncContext) -> SyncMemory:
        if self.memory.started_at != ctx.started_at:
            self.check(ctx)
        return self.memory

    def check(self, ctx: SyncContext) -> SyncMemory:
        """List the projects again: one request per group page and per explicit project, so a
        project added to a group, moved or archived is seen at the next sync."""
        memory = SyncMemory(started_at=ctx.started_at)
        found: dict[str, Project] = {}
        for group in self.config.groups:
            try:
                for page in self.client.pages(
                    ctx,
                    f"/groups/{project_path(group)}/projects",
                    what=f"projects of group {group}",
                    params={
                        "include_subgroups": str(self.config.include_subgroups).lower(),
                        "archived": "false",
                        "order_by": "id",
                        "sort": "asc",
                        "simple": "true",
                    },
                ):
                    for item in page:
                        found.setdefault(item["path_with_namespace"], _project(item))
            except ProjectRefused as exc:
                memory.refuse(group, exc)
        for path in self.config.projects:
            if path in found:
                continue
            try:
                item = self.client.get(
                    ctx, f"/projects/{project_path(path)}", what=f"project {path}"
                ).data
            except ProjectRefused as exc:
                memory.refuse(path, exc)
                continue
            found[item["path_with_namespace"]] = _project(item)
        if not found and memory.refused:
            raise FatalError(
                f"no project of this source is readable ({', '.join(sorted(memory.refused))}): "
                "check the paths and that the token's user is at least a Reporter"
            )
        excluded = set(self.config.exclude_projects)
        memory.projects = [p for path, p in found.items() if path not in excluded]
        known = {p.path: {"id": p.id, "default_branch": p.default_branch} for p in memory.projects}
        memory.cursor = json.dumps({"projects": known}, sort_keys=True)
        self.memory = memory
        return memory


def _project(item: dict[str, Any]) -> Project:
    return Project(item["path_with_namespace"], int(item["id"]), item.get("default_branch"))


class ProjectsStream(Stream):
    """The project list as a stream, so what each sync covered is stored like any cursor."""

    name = "projects"

    def __init__(self, watch: ProjectWatch) -> None:
        self.watch = watch

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        memory = self.watch.check(ctx)
        yield Page([], memory.cursor)
