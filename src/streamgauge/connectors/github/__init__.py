"""The GitHub connector: pull requests, commits, Actions runs, deployments and issues."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import cast

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import Clock, Connector, RawRecord, Stream, system_clock
from streamgauge.connectors.github.client import GithubClient
from streamgauge.connectors.github.config import GithubConfig
from streamgauge.connectors.github.deployments import DeploymentsStream
from streamgauge.connectors.github.normalize import GithubMapping
from streamgauge.connectors.github.runs import WorkflowRunsStream
from streamgauge.connectors.github.streams import CommitsStream, IssuesStream, PullRequestsStream
from streamgauge.connectors.github.watch import RepositoriesStream, RepoWatch
from streamgauge.model import Record

__all__ = ["GithubConfig", "GithubConnector"]


class GithubConnector(Connector):
    """Reads a GitHub organisation and/or repositories (github.com or Enterprise Server)."""

    type = "github"
    config_model = GithubConfig

    def __init__(
        self,
        config: SourceConfig,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(config, settings, clock=clock)
        self.github_config = config = cast(GithubConfig, config)  # checked by Connector.__init__
        # Waits between retries end as soon as the process stops.
        self.client = GithubClient(config, clock=clock, sleep=self.wait if sleep is None else sleep)
        self.watch = RepoWatch(config, self.client)
        self.mapping = GithubMapping(config.name, config, settings)
        # order matters: pull requests tell the commit stream how far back merged commits reach,
        # commits feed the deployments' shipped commits, deployments tell runs which repos have them
        self._streams: list[Stream] = [
            RepositoriesStream(self.watch),
            PullRequestsStream(config, self.client, self.watch),
            CommitsStream(config, self.client, self.watch),
            DeploymentsStream(config, self.client, self.watch),
            WorkflowRunsStream(config, self.client, self.watch),
            IssuesStream(config, self.client, self.watch),
        ]

    def streams(self) -> Sequence[Stream]:
        return self._streams

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        return self.mapping.normalize(raw)

    def close(self) -> None:
        self.client.close()
