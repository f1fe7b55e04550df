"""The Jenkins connector: builds of freestyle, pipeline, folder and multibranch jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import cast

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import Clock, Connector, RawRecord, Stream, system_clock
from streamgauge.connectors.jenkins.client import JenkinsClient
from streamgauge.connectors.jenkins.config import DeploymentRule, JenkinsConfig
from streamgauge.connectors.jenkins.normalize import JenkinsMapping
from streamgauge.connectors.jenkins.report import JobEntry, jobs_report
from streamgauge.connectors.jenkins.streams import BuildsStream, JobsStream, JobTree
from streamgauge.model import Record

__all__ = ["DeploymentRule", "JenkinsConfig", "JenkinsConnector", "JobEntry", "jobs_report"]


class JenkinsConnector(Connector):
    """Reads the jobs of a Jenkins controller (or some of its folders) and their builds."""

    type = "jenkins"
    config_model = JenkinsConfig

    def __init__(
        self,
        config: SourceConfig,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(config, settings, clock=clock)
        self.jenkins_config = config = cast(JenkinsConfig, config)  # checked by Connector.__init__
        self.client = JenkinsClient(
            config, clock=clock, sleep=self.wait if sleep is None else sleep
        )
        self.mapping = JenkinsMapping(config.name, config, settings)
        tree = JobTree(config, self.client)
        self._streams: list[Stream] = [JobsStream(tree), BuildsStream(config, self.client, tree)]

    def streams(self) -> Sequence[Stream]:
        return self._streams

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        return self.mapping.normalize(raw)

    def close(self) -> None:
        self.client.close()
