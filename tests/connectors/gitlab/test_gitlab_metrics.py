"""DORA numbers of the small fake project, synced through the pipeline, checked by hand, and the
same history written as JSON Lines for the `file` source giving the same numbers."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.connectors.gitlab.conftest import NOW, Factory, gitlab_config
from tests.fakes.gitlab import FakeGitLab

from streamgauge.app import App
from streamgauge.config import Settings
from streamgauge.connectors.file import FileConnector
from streamgauge.connectors.file.connector import FileConfig
from streamgauge.exposition.http import WebApp, make_server, stop_server
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import Snapshot, labels
from streamgauge.store import Store
from streamgauge.sync import sync_source

CHECKOUT = {"team": "payments", "app": "checkout"}
SETTINGS = {
    "teams": {"payments": {"apps": ["checkout"]}},
    "apps": {"checkout": {"repos": ["acme/checkout"]}},
    "windows": ["7d", "30d"],
}
# The worked example (docs/gitlab.md). NOW is 31 Mar 12:00, so the 30d window is
# (1 Mar 12:00, 31 Mar 12:00] and the 7d window holds nothing.
# Production deployments: A (merge !1) 4 Mar 10:00-10:10, B (squash of !2) 6 Mar 08:00-08:10,
# and R, A's job run again with merge !1's sha, 6 Mar 10:00-10:10: a rollback. All succeeded.
DORA = {
    # 3 successful production deployments in 30 days
    ("streamgauge_deployment_frequency_window_per_day", "30d", None): 3 / 30,
    ("streamgauge_deployment_frequency_window_per_day", "7d", None): 0.0,
    # lead times: !1 first commit 3 Mar 09:00 -> A done 4 Mar 10:10 = 25h10m = 90,600 s; !2 first
    # commit 5 Mar 08:00 -> B done 6 Mar 08:10 = 24h10m = 87,000 s; the initial commit 1 Mar
    # 00:00, pushed straight to main and shipped by A: 82h10m = 295,800 s. Type 7 quantiles of
    # [87,000, 90,600, 295,800]: 0.5 -> 90,600; 0.95 -> h = 1.9: 90,600 + 0.9 x 205,200 = 275,280.
    ("streamgauge_change_lead_time_window_seconds", "30d", "50"): 90_600,
    ("streamgauge_change_lead_time_window_seconds", "30d", "95"): 275_280,
    # B failed twice over: the next production deployment, R, is a rollback, and the incident
    # opened 6 Mar 09:00, 50 minutes after B ended, is blamed on it. 1 of 3 failed.
    ("streamgauge_change_failure_rate_window_ratio", "30d", None): 1 / 3,
    # B recovered at the first restoration of service: R ended 10:10, before the incident
    # closed at 11:00; 08:10 -> 10:10 = 7,200 s.
    ("streamgauge_failed_deployment_recovery_time_window_seconds", "30d", "50"): 7_200,
    # R, the rollback, is the one unplanned deployment of the three
    ("streamgauge_deployment_rework_rate_window_ratio", "30d", None): 1 / 3,
}


def dora(snap: Snapshot) -> dict[tuple[str, str, str | None], float | None]:
    out = {}
    for name, window, quantile in DORA:
        extra = {"window": window, **({"percentile": quantile} if quantile else {})}
        out[(name, window, quantile)] = snap.values(name).get(labels(**CHECKOUT, **extra))
    return out


def test_lead_times_deployments_and_failures_of_the_small_project(
    fake_small: FakeGitLab, connector_for: Factory, sqlite_store: Store
) -> None:
    settings = Settings(**SETTINGS)  # type: ignore[arg-type]
    assert sync_source(connector_for(fake_small, settings), sqlite_store, clock=lambda: NOW).ok
    snap = compute_all(sqlite_store.load_dataset(), now=NOW, settings=settings)
    assert dora(snap) == pytest.approx(DORA)


# The same history, written by hand in the model's JSON Lines form, with shas of our own naming.
HISTORY = [
    {"kind": "commit", "id": "f:commit:init", "repo": "acme/checkout", "sha": "init",
     "authored_at": "2025-03-01T00:00:00Z", "committed_at": "2025-03-01T00:00:00Z"},
    {"kind": "commit", "id": "f:commit:m1", "repo": "acme/checkout", "sha": "m1",
     "authored_at": "2025-03-03T14:00:00Z", "committed_at": "2025-03-03T14:00:00Z"},
    {"kind": "commit", "id": "f:commit:s2", "repo": "acme/checkout", "sha": "s2",
     "authored_at": "2025-03-05T12:00:00Z", "committed_at": "2025-03-05T12:00:00Z"},
    {"kind": "change", "id": "f:change:1", "repo": "acme/checkout", "number": 1, "state": "merged",
     "created_at": "2025-03-03T11:00:00Z", "first_commit_at": "2025-03-03T09:00:00Z",
     "first_review_at": "2025-03-03T12:00:00Z", "approved_at": "2025-03-03T13:00:00Z",
     "merged_at": "2025-03-03T14:00:00Z", "merge_sha": "m1", "commit_shas": ["c1a", "c1b"]},
    {"kind": "change", "id": "f:change:2", "repo": "acme/checkout", "number": 2, "state": "merged",
     "created_at": "2025-03-05T09:00:00Z", "first_commit_at": "2025-03-05T08:00:00Z",
     "first_review_at": "2025-03-05T10:00:00Z", "approved_at": "2025-03-05T10:00:00Z",
     "merged_at": "2025-03-05T12:00:00Z", "merge_sha": "s2", "commit_shas": ["c2"]},
    {"kind": "deployment", "id": "f:deployment:a", "environment": "production",
     "repo": "acme/checkout", "sha": "m1", "started_at": "2025-03-04T10:00:00Z",
     "finished_at": "2025-03-04T10:10:00Z", "result": "success", "commit_shas": ["m1", "init"]},
    {"kind": "deployment", "id": "f:deployment:staging", "environment": "staging",
     "repo": "acme/checkout", "sha": "s2", "started_at": "2025-03-05T13:00:00Z",
     "finished_at": "2025-03-05T13:10:00Z", "result": "success"},
    {"kind": "deployment", "id": "f:deployment:b", "environment": "production",
     "repo": "acme/checkout", "sha": "s2", "started_at": "2025-03-06T08:00:00Z",
     "finished_at": "2025-03-06T08:10:00Z", "result": "success", "commit_shas": ["s2"]},
    {"kind": "deployment", "id": "f:deployment:r", "environment": "production",
     "repo": "acme/checkout", "sha": "m1", "started_at": "2025-03-06T10:00:00Z",
     "finished_at": "2025-03-06T10:10:00Z", "result": "success", "deployment_kind": "rollback"},
    {"kind": "incident", "id": "f:incident:1", "key": "INC-1", "opened_at": "2025-03-06T09:00:00Z",
     "resolved_at": "2025-03-06T11:00:00Z", "severity": "high"},
]  # fmt: skip


def test_the_same_history_as_json_lines_gives_the_same_dora_numbers(
    fake_small: FakeGitLab, connector_for: Factory, tmp_path: Path
) -> None:
    settings = Settings(**SETTINGS)  # type: ignore[arg-type]
    feed = tmp_path / "history.jsonl"
    feed.write_text(
        "".join(json.dumps({**r, "team": "payments", "app": "checkout"}) + "\n" for r in HISTORY)
    )
    source = FileConnector(FileConfig(name="files", type="file", path=feed), settings)
    with (
        Store.open(f"sqlite:///{tmp_path}/file.db") as from_file,
        Store.open(f"sqlite:///{tmp_path}/gitlab.db") as from_gitlab,
    ):
        assert sync_source(source, from_file, clock=lambda: NOW).ok
        assert sync_source(connector_for(fake_small, settings), from_gitlab, clock=lambda: NOW).ok
        by_file = compute_all(from_file.load_dataset(), now=NOW, settings=settings)
        by_gitlab = compute_all(from_gitlab.load_dataset(), now=NOW, settings=settings)
    assert dora(by_file) == pytest.approx(DORA)
    assert dora(by_gitlab) == pytest.approx(dora(by_file))


def test_the_same_numbers_reach_metrics_over_http(fake_small: FakeGitLab, tmp_path: Path) -> None:
    """The whole pipeline: App syncs the fake, computes, and serves /metrics over real HTTP."""
    settings = Settings(
        data_dir=tmp_path,
        **SETTINGS,  # type: ignore[arg-type]
        sources=[gitlab_config(fake_small)],
    )
    app = App(settings, clock=lambda: NOW)
    server = make_server(WebApp(app.exposition, app.readiness), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        (outcome,) = app.sync_all()
        assert outcome.ok
        app.recompute()
        url = f"http://127.0.0.1:{server.effective_port}"
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        stop_server(server)
        thread.join(timeout=10)
        app.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    for (name, window, quantile), expected in DORA.items():
        extra = {"window": window, **({"percentile": quantile} if quantile else {})}
        got = samples[(name, tuple(sorted({**CHECKOUT, **extra}.items())))]
        assert got == pytest.approx(expected), name
    # A, B and R all succeeded: the failure is B's rollback and incident, not its result
    assert (
        samples[
            (
                "streamgauge_deployments_total",
                tuple(sorted({**CHECKOUT, "result": "success"}.items())),
            )
        ]
        == 3
    )
    # the three lead times (82h10m, 25h10m, 24h10m) are all over 1 d and under 4 d
    lead = "streamgauge_change_lead_time_seconds"
    assert samples[(f"{lead}_count", tuple(sorted(CHECKOUT.items())))] == 3
    assert samples[(f"{lead}_bucket", tuple(sorted({**CHECKOUT, "le": "86400.0"}.items())))] == 0
    assert samples[(f"{lead}_bucket", tuple(sorted({**CHECKOUT, "le": "345600.0"}.items())))] == 3
    calls = samples[("streamgauge_sync_api_calls_total", (("source", "gitlab"),))]
    assert calls == outcome.api_calls == fake_small.total_requests
