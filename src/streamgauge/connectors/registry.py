"""The connectors streamgauge knows: built-ins listed here, others from entry points."""

from __future__ import annotations

import importlib
import logging
from functools import cache
from importlib.metadata import entry_points

from streamgauge.config import SourceConfig
from streamgauge.connectors.base import Connector

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "streamgauge.connectors"

# type -> "module:Class". Imported on first use so a source type nobody configures costs nothing.
BUILTIN: dict[str, str] = {
    "demo": "streamgauge.connectors.demo:DemoConnector",
    "file": "streamgauge.connectors.file:FileConnector",
    "github": "streamgauge.connectors.github:GithubConnector",
    "gitlab": "streamgauge.connectors.gitlab:GitlabConnector",
    "jenkins": "streamgauge.connectors.jenkins:JenkinsConnector",
    "jira": "streamgauge.connectors.jira:JiraConnector",
    "pagerduty": "streamgauge.connectors.pagerduty:PagerdutyConnector",
    "webhook": "streamgauge.connectors.webhook:WebhookConnector",
}


def _load(target: str) -> type[Connector]:
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise TypeError(f"{target} is not a Connector class")
    return cls


@cache
def connectors() -> dict[str, type[Connector]]:
    """Every connector class by its ``type``: built-ins first, then third-party entry points."""
    found = {name: _load(target) for name, target in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            log.warning("connector %r from %s ignored: the name is taken", ep.name, ep.value)
            continue
        try:
            cls = ep.load()
        except Exception:  # a broken plug-in must not stop the built-ins
            log.exception("connector %r from %s could not be loaded", ep.name, ep.value)
            continue
        if isinstance(cls, type) and issubclass(cls, Connector):
            found[ep.name] = cls
        else:
            log.warning("connector %r from %s is not a Connector class", ep.name, ep.value)
    return found


def config_models() -> dict[str, type[SourceConfig]]:
    return {name: cls.config_model for name, cls in connectors().items()}
