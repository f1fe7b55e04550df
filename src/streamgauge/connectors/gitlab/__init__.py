"""The GitLab connector: merge requests, commits, pipelines, deployments and incidents."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import cast

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import Clock, Connector, RawRecord, Stream, system_clock
from streamgauge.connectors.gitlab.client import GitlabClient
from streamgauge.connectors.gitlab.config import GitlabConfig
from streamgauge.connectors.gitlab.deployments import DeploymentsStream
from streamgauge.connectors.gitlab.normalize import GitlabMapping
from streamgauge.connectors.gitlab.projects import ProjectsStream, ProjectWatch
from streamgauge.connectors.gitlab.streams import (
    CommitsStream,
    IssuesStream,
    MergeRequestsStream,
    PipelinesStream,
)
from streamgauge.model import Record

__all__ = ["GitlabConfig", "GitlabConnector"]


class GitlabConnector(Connector):
    """Reads GitLab groups and/or projects (GitLab.com or a self-managed instance)."""

    type = "gitlab"
    config_model = GitlabConfig

    def __init__(
        self,
        config: SourceConfig,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(config, settings, clock=clock)
        self.gitlab_config = config = cast(GitlabConfig, config)  # checked by Connector.__init__
        self.client = GitlabClient(config, clock=clock, sleep=self.wait if sleep is None else sleep)
        self.watch = ProjectWatch(config, self.client)
        self.mapping = GitlabMapping(config.name, config, settings)
        commits = CommitsStream(config, self.client, self.watch)
        # order matters: merge requests tell deployments which labels and branches they shipped,
        # commits give deployments the first-parent line they walk
        self._streams: list[Stream] = [
            ProjectsStream(self.watch),
            MergeRequestsStream(config, self.client, self.watch),
            commits,
            DeploymentsStream(config, self.client, self.watch, commits),
            PipelinesStream(config, self.client, self.watch),
            IssuesStream(config, self.client, self.watch),
        ]

    def streams(self) -> Sequence[Stream]:
        return self._streams

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        return self.mapping.normalize(raw)

    def close(self) -> None:
        self.client.close()
