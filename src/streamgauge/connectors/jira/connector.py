"""The Jira connector: its one stream and the mapping of what it stores."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import (
    Clock,
    Connector,
    RawRecord,
    RetryPolicy,
    Stream,
    system_clock,
)
from streamgauge.connectors.jira.client import JiraClient
from streamgauge.connectors.jira.config import JiraConfig
from streamgauge.connectors.jira.normalize import RuleBook, normalize_issue, unmapped_in
from streamgauge.connectors.jira.streams import IssueStream
from streamgauge.model import Record


class JiraConnector(Connector):
    """Jira Cloud or Data Center, told apart by the server's own ``serverInfo``."""

    type = "jira"
    config_model = JiraConfig

    def __init__(
        self,
        config: SourceConfig,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__(config, settings, clock=clock)
        self.jira_config = config = cast(JiraConfig, config)  # checked by Connector.__init__
        self.client = JiraClient(
            config, policy=policy, sleep=self.wait if sleep is None else sleep, clock=clock
        )  # waits between retries end as soon as the process stops
        self.rules = RuleBook(config)
        # (what, project, name) -> issues seen with it; a data-quality figure, reset per instance.
        self.unmapped: Counter[tuple[str, str, str]] = Counter()

    def streams(self) -> Sequence[Stream]:
        return [IssueStream(self.jira_config, self.client)]

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        records = normalize_issue(
            raw, source=self.name, rules_for=self.rules, settings=self.settings
        )
        self.unmapped.update(unmapped_in(raw.payload, self.rules))
        return records

    def close(self) -> None:
        self.client.close()
