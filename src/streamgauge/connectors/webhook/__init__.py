"""The webhook source: CDEvents and model records pushed over HTTP, stored before the answer."""

from streamgauge.connectors.webhook.config import WebhookConfig
from streamgauge.connectors.webhook.connector import WebhookConnector

__all__ = ["WebhookConfig", "WebhookConnector"]
