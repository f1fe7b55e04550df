"""A delivery history sent as CDEvents gives the same DORA numbers as the same history written
as JSON Lines for the file source, and both give the numbers worked out by hand below.

History of app checkout (team payments), window 30 days ending 2026-02-01 00:00 UTC:

    change 101  first commit Jan 10 08:00, merged Jan 10 12:00 (sha a1)
    change 102  first commit Jan 12 09:00, merged Jan 13 09:00 (sha b1)
    change 103  first commit Jan 20 08:00, merged Jan 20 16:00 (sha c1)
    D1  Jan 11 10:00  production, success, ships a1
    D2  Jan 14 09:00  production, success, ships b1
        INC-1 opened Jan 14 10:00 (within 24 h of D2: blamed on D2), resolved 12:00
    D3  Jan 14 11:30  production rollback, success, made to fix INC-1
    S1  Jan 20 12:00  staging, success (not production: counted nowhere)
    D4  Jan 21 08:00  production, success, ships c1
    D5  Jan 25 10:00  production, failure
    D6  Jan 25 11:00  production, success

- deployment frequency: successful production deployments D1 D2 D3 D4 D6 = 5 in 30 days,
  5 / 30 = 0.1667 per day
- change lead time: 101 26 h (Jan 10 08:00 -> D1), 102 48 h (-> D2), 103 24 h (-> D4);
  median 26 h = 93,600 s
- change failure rate: D5's own job failed, a failed attempt that never reached production
  (out of the rate by default); D2 (caused INC-1; also rolled back by D3) of the 5 that did
  = 1/5; the attempt failure rate: D5 of 6 = 1/6
- recovery: D2 ended 09:00, restored by the rollback D3 at 11:30 (before INC-1's resolution
  at 12:00): 9,000 s (D5, no change failure, has none)
- rework rate: D3 is a rollback: 1 of 6 = 1/6
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.webhook.conftest import SETTINGS
from tests.fakes.webhook.sender import (
    IntakeServer,
    as_body,
    binary,
    post,
    standard_headers,
    structured,
)
from tests.fakes.webhook.spec_examples import ARTIFACT, example

from streamgauge.config import Settings
from streamgauge.connectors.file import FileConfig, FileConnector
from streamgauge.connectors.webhook import WebhookConfig, WebhookConnector
from streamgauge.connectors.webhook.counters import WebhookCounters
from streamgauge.connectors.webhook.intake import Intake
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.store import Store
from streamgauge.sync import sync_source

NOW = datetime(2026, 2, 1, tzinfo=UTC)
SETTINGS_30D = Settings(**{**SETTINGS.model_dump(), "windows": ["30d"]})
CHANGES = [  # number, first commit, created, merged, sha
    (101, "2026-01-10T08:00:00Z", "2026-01-10T09:00:00Z", "2026-01-10T12:00:00Z", "a1"),
    (102, "2026-01-12T09:00:00Z", "2026-01-12T10:00:00Z", "2026-01-13T09:00:00Z", "b1"),
    (103, "2026-01-20T08:00:00Z", "2026-01-20T09:00:00Z", "2026-01-20T16:00:00Z", "c1"),
]
DEPLOYMENTS = [  # name, environment, started, finished, outcome, kind, sha, fixes
    ("D1", "production", "2026-01-11T09:50:00Z", "2026-01-11T10:00:00Z", "success", "", "a1", []),
    ("D2", "production", "2026-01-14T08:50:00Z", "2026-01-14T09:00:00Z", "success", "", "b1", []),
    ("D3", "production", "2026-01-14T11:20:00Z", "2026-01-14T11:30:00Z", "success", "rollback",
     None, ["INC-1"]),
    ("S1", "staging", "2026-01-20T11:50:00Z", "2026-01-20T12:00:00Z", "success", "", None, []),
    ("D4", "production", "2026-01-21T07:50:00Z", "2026-01-21T08:00:00Z", "success", "", "c1", []),
    ("D5", "production", "2026-01-25T09:50:00Z", "2026-01-25T10:00:00Z", "failure", "", None, []),
    ("D6", "production", "2026-01-25T10:50:00Z", "2026-01-25T11:00:00Z", "success", "", None, []),
]  # fmt: skip
INCIDENT = ("INC-1", "2026-01-14T10:00:00Z", "2026-01-14T12:00:00Z")


def json_lines() -> list[dict[str, Any]]:
    """The history in the model's JSON form, as a tool with no connector writes it."""
    out: list[dict[str, Any]] = []
    for number, first, created, merged, sha in CHANGES:
        out.append(
            {
                "kind": "change",
                "id": f"files:change:{number}",
                "repo": "acme/checkout",
                "number": number,
                "state": "merged",
                "created_at": created,
                "first_commit_at": first,
                "merged_at": merged,
                "merge_sha": sha,
            }
        )
    for name, env, started, finished, outcome, kind, sha, fixes in DEPLOYMENTS:
        out.append(
            {
                "kind": "deployment",
                "id": f"files:deployment:{name}",
                "environment": env,
                "started_at": started,
                "finished_at": finished,
                "result": outcome,
                "deployment_kind": kind or "regular",
                "sha": sha,
                "commit_shas": [sha] if sha else [],
                "incident_keys": fixes,
            }
        )
    key, opened, resolved = INCIDENT
    out.append(
        {
            "kind": "incident",
            "id": f"files:incident:{key}",
            "key": key,
            "opened_at": opened,
            "resolved_at": resolved,
        }
    )
    return out


def cdevents() -> list[dict[str, Any]]:
    """The same history as a CD tool, a forge and a monitor send it."""
    out: list[dict[str, Any]] = []
    for number, first, created, merged, sha in CHANGES:
        for kind, stamp in (("change.created", created), ("change.merged", merged)):
            event = example(kind, "0.5.1")
            event["context"].update(id=f"{kind}-{number}", timestamp=stamp)
            event["subject"].update(id=str(number))
            event["subject"]["content"]["repository"]["id"] = "acme/checkout"
            event["customData"] = {"firstCommitAt": first, "sha": sha}
            out.append(event)
    for name, env, started, finished, outcome, kind, sha, fixes in DEPLOYMENTS:
        event_type = "service.rolledback" if kind == "rollback" else "service.deployed"
        event = example(event_type, "0.4.1")
        event["context"].update(id=name, timestamp=finished)
        event["subject"]["content"] = {"environment": {"id": env}, "artifactId": ARTIFACT}
        custom: dict[str, Any] = {"startedAt": started, "outcome": outcome, "incidents": fixes}
        if sha:
            custom.update(sha=sha, commits=[sha], repo="acme/checkout")
        event["customData"] = custom
        out.append(event)
    key, opened, resolved = INCIDENT
    for kind, stamp in (("incident.detected", opened), ("incident.resolved", resolved)):
        event = example(kind, "0.5.1")
        event["context"].update(id=f"{kind}-{key}", timestamp=stamp)
        event["subject"]["id"] = key
        out.append(event)
    return out


def dora(snapshot: Snapshot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The DORA samples of checkout."""
    names = (
        "streamgauge_deployment_frequency_window_per_day",
        "streamgauge_change_lead_time_window_seconds",
        "streamgauge_change_failure_rate_window_ratio",
        "streamgauge_failed_deployment_recovery_time_window_seconds",
        "streamgauge_deployment_rework_rate_window_ratio",
        "streamgauge_deployment_attempt_failure_rate_window_ratio",
        "streamgauge_deployments_total",
        "streamgauge_failed_deployments_total",
    )
    return {
        (s.name, s.labels): s.value
        for s in snapshot.samples
        if s.name in names and dict(s.labels).get("app") == "checkout"
    }


def via_file(tmp_path: Path) -> Snapshot:
    feed = tmp_path / "history.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in json_lines()), encoding="utf-8")
    config = FileConfig(name="files", type="file", path=feed, team="payments", app="checkout")
    with Store.open(f"sqlite:///{tmp_path / 'file.db'}") as store:
        outcome = sync_source(FileConnector(config, SETTINGS_30D), store, clock=lambda: NOW)
        assert outcome.ok
        assert outcome.skipped == 0
        return compute_all(store.load_dataset(), now=NOW, settings=SETTINGS_30D)


def via_webhook(store: Store) -> Snapshot:
    config = WebhookConfig.model_validate(
        {
            "name": "cd",
            "type": "webhook",
            "secret": "whsec_" + "c3RyZWFtZ2F1Z2UtdGVzdC1zZWNyZXQtMzItYnl0ZXM=",
        }
    )
    counters = WebhookCounters(["cd"])
    intake = Intake(WebhookConnector(config, SETTINGS_30D), store, counters)
    server = IntakeServer(intake, counters).start()
    events = cdevents()
    random.Random(7).shuffle(events)  # out of order: a merge may come before its creation
    try:
        for n, event in enumerate(events):
            mode = (
                structured,
                binary,
                lambda e: (as_body(e), {"Content-Type": "application/json"}),
            )
            body, headers = mode[n % 3](event)
            assert post(server.url, body, {**headers, **standard_headers(body)}) == 202
            if n % 2:
                intake.normalize_pending()  # part merged in a batch, part with stored records
        intake.normalize_pending()
    finally:
        server.stop()
    assert store.event_counts() == {("cd", "normalized"): len(events)}
    return compute_all(store.load_dataset(), now=NOW, settings=SETTINGS_30D)


def test_cdevents_and_json_lines_give_the_same_dora_numbers(tmp_path: Path, store: Store) -> None:
    by_file = dora(via_file(tmp_path))
    by_webhook = dora(via_webhook(store))
    assert by_file == by_webhook

    def value(name: str, **labels: str) -> float:
        wanted = {"team": "payments", "app": "checkout", "window": "30d", **labels}
        (found,) = [v for (n, ls), v in by_webhook.items() if n == name and dict(ls) == wanted]
        return found

    assert value("streamgauge_deployment_frequency_window_per_day") == pytest.approx(5 / 30)
    assert value("streamgauge_change_lead_time_window_seconds", percentile="50") == 93_600
    assert value("streamgauge_change_failure_rate_window_ratio") == pytest.approx(1 / 5)
    attempts = "streamgauge_deployment_attempt_failure_rate_window_ratio"
    assert value(attempts) == pytest.approx(1 / 6)
    recovery = "streamgauge_failed_deployment_recovery_time_window_seconds"
    assert value(recovery, percentile="50") == 9_000
    assert value("streamgauge_deployment_rework_rate_window_ratio") == pytest.approx(1 / 6)
