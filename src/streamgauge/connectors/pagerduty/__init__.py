"""The PagerDuty connector: incidents of the configured services, through REST API v2."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import cast

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import Clock, Connector, RawRecord, Stream, system_clock
from streamgauge.connectors.pagerduty.client import PagerdutyClient
from streamgauge.connectors.pagerduty.config import PagerdutyConfig
from streamgauge.connectors.pagerduty.normalize import normalize_incident
from streamgauge.connectors.pagerduty.streams import OFFSET_CAP, IncidentsStream
from streamgauge.model import Record

__all__ = ["PagerdutyConfig", "PagerdutyConnector"]


class PagerdutyConnector(Connector):
    """Reads the incidents of PagerDuty services (api.pagerduty.com or the EU region)."""

    type = "pagerduty"
    config_model = PagerdutyConfig

    def __init__(
        self,
        config: SourceConfig,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] | None = None,
        offset_cap: int = OFFSET_CAP,
    ) -> None:
        super().__init__(config, settings, clock=clock)
        self.pd_config = config = cast(PagerdutyConfig, config)  # checked by Connector.__init__
        self.client = PagerdutyClient(
            config, clock=clock, sleep=self.wait if sleep is None else sleep
        )
        self._streams: list[Stream] = [IncidentsStream(config, self.client, offset_cap=offset_cap)]

    def streams(self) -> Sequence[Stream]:
        return self._streams

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        return normalize_incident(
            raw, source=self.name, config=self.pd_config, settings=self.settings
        )

    def close(self) -> None:
        self.client.close()
