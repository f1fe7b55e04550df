"""A webhook source on each store, served on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes.webhook.sender import SECRET, IntakeServer

from streamgauge.config import Settings
from streamgauge.connectors.webhook import WebhookConfig, WebhookConnector
from streamgauge.connectors.webhook.counters import WebhookCounters
from streamgauge.connectors.webhook.intake import Intake
from streamgauge.store import Store

SOURCE = "cd"
# The spec's artifact is pkg:oci/myapp; its incidents name the service myApp.
SETTINGS = Settings(
    teams={"payments": {"apps": ["checkout"]}},
    apps={"checkout": {"components": ["myapp"]}},
)


def webhook_config(**overrides: Any) -> WebhookConfig:
    return WebhookConfig.model_validate(
        {"name": SOURCE, "type": "webhook", "secret": SECRET, **overrides}
    )


def make_connector(settings: Settings = SETTINGS, **overrides: Any) -> WebhookConnector:
    return WebhookConnector(webhook_config(**overrides), settings)


@pytest.fixture
def connector() -> WebhookConnector:
    return make_connector()


@pytest.fixture
def counters() -> WebhookCounters:
    return WebhookCounters([SOURCE])


@pytest.fixture
def intake(store: Store, connector: WebhookConnector, counters: WebhookCounters) -> Intake:
    return Intake(connector, store, counters)


@pytest.fixture
def server(intake: Intake, counters: WebhookCounters) -> Iterator[IntakeServer]:
    running = IntakeServer(intake, counters).start()
    yield running
    running.stop()
