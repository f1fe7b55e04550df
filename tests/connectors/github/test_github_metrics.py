"""DORA numbers of the small fake repository, synced through the pipeline, checked by hand."""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.connectors.github.conftest import NOW, Factory, github_config
from tests.fakes.github import FakeGitHub

from streamgauge.app import App
from streamgauge.config import Settings
from streamgauge.exposition.http import WebApp, make_server, stop_server
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import labels
from streamgauge.store import Store
from streamgauge.sync import sync_source

CHECKOUT = {"team": "payments", "app": "checkout"}


def test_lead_times_deployments_and_incidents_of_the_small_repository(
    fake_small: FakeGitHub, connector_for: Factory, sqlite_store: Store
) -> None:
    settings = Settings(
        teams={"payments": {"apps": ["checkout"]}},
        apps={"checkout": {"repos": ["acme/checkout"]}},
        windows=["7d", "30d"],
    )
    assert sync_source(connector_for(fake_small, settings), sqlite_store, clock=lambda: NOW).ok
    snap = compute_all(sqlite_store.load_dataset(), now=NOW, settings=settings)

    def value(name: str, **extra: str) -> float | None:
        return snap.values(name).get(labels(**CHECKOUT, **extra))

    # NOW is 31 Mar 12:00, so the 30d window is (1 Mar 12:00, 31 Mar 12:00] and 7d holds nothing.
    # Deployment A finished 4 Mar 10:10 and B 6 Mar 08:10, both successful: 2 in 30 days.
    assert value("streamgauge_deployment_frequency_window_per_day", window="30d") == pytest.approx(
        2 / 30
    )
    assert value("streamgauge_deployment_frequency_window_per_day", window="7d") == 0.0
    # Lead times: PR #1 first commit 3 Mar 09:00 -> A done 4 Mar 10:10 = 25h10m = 90,600 s;
    # PR #2 first commit 5 Mar 08:00 -> B done 6 Mar 08:10 = 24h10m = 87,000 s; and the initial
    # commit (1 Mar 00:00), pushed straight to main and shipped by A, the repository's first
    # deployment: 82h10m = 295,800 s.
    # Type 7 quantiles of [87,000, 90,600, 295,800]: 0.5 -> 90,600;
    # 0.95 -> h = 1.9: 90,600 + 0.9 x 205,200 = 275,280.
    lead = "streamgauge_change_lead_time_window_seconds"
    assert value(lead, window="30d", percentile="50") == pytest.approx(90_600)
    assert value(lead, window="30d", percentile="95") == pytest.approx(275_280)
    # The incident opened 6 Mar 09:00, 50 minutes after B finished, within the 24h window: B is
    # blamed, so 1 of 2 deployments failed; it recovered when the incident closed 6 Mar 11:00,
    # 2h50m = 10,200 s after B finished.
    assert value("streamgauge_change_failure_rate_window_ratio", window="30d") == pytest.approx(0.5)
    recovery = "streamgauge_failed_deployment_recovery_time_window_seconds"
    assert value(recovery, window="30d", percentile="50") == pytest.approx(10_200)


def test_the_same_numbers_reach_metrics_over_http(fake_small: FakeGitHub, tmp_path: Path) -> None:
    """The whole pipeline: App syncs the fake, computes, and serves /metrics over real HTTP."""
    settings = Settings(
        data_dir=tmp_path,
        teams={"payments": {"apps": ["checkout"]}},
        apps={"checkout": {"repos": ["acme/checkout"]}},
        windows=["30d"],
        sources=[github_config(fake_small)],
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
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        stop_server(server)
        thread.join(timeout=10)
        app.close()
    assert not thread.is_alive()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **extra: str) -> float:
        return samples[(name, tuple(sorted({**CHECKOUT, **extra}.items())))]

    # The worked example above: 2 deployments in 30 days, lead time median 90,600 s, one of two
    # deployments failed, recovered in 10,200 s.
    assert value("streamgauge_deployment_frequency_window_per_day", window="30d") == pytest.approx(
        2 / 30
    )
    assert value(
        "streamgauge_change_lead_time_window_seconds", window="30d", percentile="50"
    ) == pytest.approx(90_600)
    assert value("streamgauge_change_failure_rate_window_ratio", window="30d") == pytest.approx(0.5)
    assert value(
        "streamgauge_failed_deployment_recovery_time_window_seconds", window="30d", percentile="50"
    ) == pytest.approx(10_200)
    # Both deployments succeeded (the incident makes B count as failed for the rate, not its result).
    assert value("streamgauge_deployments_total", result="success") == 2
    # Histogram: the three lead times (82h10m, 25h10m, 24h10m) are all over 1 d and under 4 d.
    assert value("streamgauge_change_lead_time_seconds_count") == 3
    assert value("streamgauge_change_lead_time_seconds_bucket", le="86400.0") == 0
    assert value("streamgauge_change_lead_time_seconds_bucket", le="345600.0") == 3
    # Health: the API calls the sync made, counted by the fake server too, and the budget left.
    calls = samples[("streamgauge_sync_api_calls_total", (("source", "github"),))]
    assert calls == outcome.api_calls > 0
    assert ("streamgauge_sync_rate_limit_remaining", (("source", "github"),)) in samples
