"""A CDEvents sender as CI tools are: signs the raw body and POSTs it with requests."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from streamgauge.connectors.webhook.auth import (
    github_signature,
    standard_key,
    standard_signature,
)
from streamgauge.connectors.webhook.counters import WebhookCounters
from streamgauge.connectors.webhook.intake import Intake
from streamgauge.exposition.collector import Exposition
from streamgauge.exposition.http import WebApp, make_server, stop_server

SECRET = "whsec_" + "c3RyZWFtZ2F1Z2UtdGVzdC1zZWNyZXQtMzItYnl0ZXM="  # base64 of 32 bytes


def standard_headers(
    body: bytes, *, secret: str = SECRET, msg_id: str | None = None, at: float | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for ``body``."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    stamp = str(int(time.time() if at is None else at))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": standard_signature(standard_key(secret), msg_id, stamp, body),
    }


def github_headers(body: bytes, *, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": github_signature(secret, body)}


def as_body(event: Any) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def structured(event: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A CDEvent as a structured-mode CloudEvent: attributes and data in the body."""
    context = event["context"]
    cloudevent = {
        "specversion": "1.0",
        "id": context["id"],
        "source": context["source"],
        "type": context["type"],
        "time": context["timestamp"],
        "datacontenttype": "application/json",
        "data": event,
    }
    return as_body(cloudevent), {"Content-Type": "application/cloudevents+json"}


def binary(event: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A CDEvent in binary mode: attributes in ce-* headers, the CDEvent as the body."""
    context = event["context"]
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": context["id"],
        "ce-source": requests.utils.quote(context["source"], safe=""),
        "ce-type": context["type"],
        "ce-time": context["timestamp"],
    }
    return as_body(event), headers


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float = 10) -> int:
    return requests.post(url, data=body, headers=dict(headers), timeout=timeout).status_code


class IntakeServer:
    """The real WSGI app on a real waitress port, serving one intake (in this process)."""

    def __init__(self, intake: Intake, counters: WebhookCounters, threads: int = 8) -> None:
        self.intake = intake
        self.app = WebApp(
            Exposition(), lambda: (True, "ready"), webhooks={intake.source: intake}, live=counters
        )
        self.server = make_server(self.app, host="127.0.0.1", port=0, threads=threads)
        self.port = int(self.server.effective_port)  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}/webhooks/{intake.source}"
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> IntakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        stop_server(self.server)
        self._thread.join(timeout=10)


def now() -> datetime:
    return datetime.now(UTC)
