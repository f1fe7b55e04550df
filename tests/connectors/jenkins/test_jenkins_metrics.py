"""DORA numbers of the small fake controller, synced through the pipeline, checked by hand."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.connectors.jenkins.conftest import NOW, SETTINGS, Factory, at, jenkins_config
from tests.fakes.jenkins import FakeJenkins

from streamgauge.app import App
from streamgauge.config import Settings
from streamgauge.connectors.file import FileConfig, FileConnector
from streamgauge.exposition.http import WebApp, make_server, stop_server
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import Snapshot, labels
from streamgauge.store import Store
from streamgauge.sync import sync_source

CHECKOUT = {"team": "payments", "app": "checkout"}
FREQUENCY = "streamgauge_deployment_frequency_window_per_day"
LEAD = "streamgauge_change_lead_time_window_seconds"
FAILURE_RATE = "streamgauge_change_failure_rate_window_ratio"
RECOVERY = "streamgauge_failed_deployment_recovery_time_window_seconds"
ATTEMPT_FAILURE_RATE = "streamgauge_deployment_attempt_failure_rate_window_ratio"

# The worked example (conftest.small_instance), with NOW = 31 Mar 12:00, so the 30d window is
# (1 Mar 12:00, 31 Mar 12:00] and the 7d window (24 Mar 12:00, 31 Mar 12:00].
# Rule 1 makes payments/deploy builds with ENVIRONMENT=production deployments of checkout:
#   #1 4 Mar 10:00-10:10 success  (A), ships c1 (3 Mar 09:00) and c2 (3 Mar 10:00)
#   #2 staging: not a deployment
#   #3 6 Mar 08:00-08:10 FAILURE  (B), lists c3 (5 Mar 08:00) but ships nothing
#   #4 6 Mar 09:00-09:10 success  (C), ships c4 (6 Mar 08:30) and c3, carried past #3
#   #5 started 31 Mar 11:30, still running: ended in no window
# Deployment frequency: A and C succeeded in 30 days: 2 / 30 per day; none in the last 7 days.
# Lead times: c1 -> A 25h10m = 90,600 s; c2 -> A 24h10m = 87,000 s; c3 -> C 25h10m = 90,600 s;
# c4 -> C 40m = 2,400 s. Sorted [2,400, 87,000, 90,600, 90,600]; type 7 quantiles:
# 0.5 -> h = 1.5: 87,000 + 0.5 x 3,600 = 88,800; 0.95 -> h = 2.85: 90,600 + 0.85 x 0 = 90,600.
# B's build failed: a failed deployment attempt, 1 of the 3 attempts A, B, C: 1/3. It never
# reached production, so it is no change failure: 0 of A and C failed, 0.0, and nothing has a
# recovery time (with metrics.failed_attempts_are_failures B would fail, 1/3, and recover at
# C's end 6 Mar 09:10, an hour after its own at 08:10: 3,600 s).
EXPECTED = {
    (FREQUENCY, "30d", None): 2 / 30,
    (FREQUENCY, "7d", None): 0.0,
    (LEAD, "30d", "50"): 88_800,
    (LEAD, "30d", "95"): 90_600,
    (FAILURE_RATE, "30d", None): 0.0,
    (ATTEMPT_FAILURE_RATE, "30d", None): 1 / 3,
}


def numbers(snap: Snapshot) -> dict[tuple[str, str, str | None], float | None]:
    out = {}
    for name, window, quantile in EXPECTED:
        extra = {"percentile": quantile} if quantile else {}
        out[(name, window, quantile)] = snap.values(name).get(
            labels(**CHECKOUT, window=window, **extra)
        )
    return out


def test_deployments_lead_times_and_failure_rate_of_the_small_controller(
    fake_small: FakeJenkins, connector_for: Factory, store: Store
) -> None:
    assert sync_source(connector_for(fake_small), store, clock=lambda: NOW).ok
    snap = compute_all(store.load_dataset(), now=NOW, settings=SETTINGS)
    assert numbers(snap) == pytest.approx(EXPECTED)
    # with failed attempts counted as failures: B failed, 1/3, recovered in 3,600 s
    rules = SETTINGS.metrics.model_copy(update={"failed_attempts_are_failures": True})
    counted = compute_all(
        store.load_dataset(), now=NOW, settings=SETTINGS.model_copy(update={"metrics": rules})
    )
    assert counted.values(FAILURE_RATE)[labels(**CHECKOUT, window="30d")] == pytest.approx(1 / 3)
    quantile = labels(**CHECKOUT, window="30d", percentile="50")
    assert counted.values(RECOVERY)[quantile] == pytest.approx(3_600)


def _line(kind: str, **fields: object) -> str:
    return json.dumps({"kind": kind, **fields}) + "\n"


def test_the_same_history_as_json_lines_gives_the_same_dora_numbers(
    fake_small: FakeJenkins, connector_for: Factory, tmp_path: Path
) -> None:
    """The worked example written by hand as the file source's records: the same numbers."""
    feed = tmp_path / "history.jsonl"
    place = {"team": "payments", "app": "checkout", "repo": "acme/checkout"}
    commits = {"c1": at(3, 9), "c2": at(3, 10), "c3": at(5, 8), "c4": at(6, 8, 30)}
    lines = [
        _line(
            "commit",
            id=f"ci:commit:{sha}",
            sha=sha,
            authored_at=t.isoformat(),
            committed_at=t.isoformat(),
            **place,
        )
        for sha, t in commits.items()
    ]
    deploys = [
        ("A", at(4, 10), at(4, 10, 10), "success", ["c1", "c2"]),
        ("B", at(6, 8), at(6, 8, 10), "failure", ["c3"]),
        ("C", at(6, 9), at(6, 9, 10), "success", ["c3", "c4"]),
    ]
    for name, start, end, result, shas in deploys:
        lines.append(
            _line(
                "deployment",
                id=f"ci:deployment:{name}",
                environment="production",
                started_at=start.isoformat(),
                finished_at=end.isoformat(),
                result=result,
                sha=shas[-1],
                commit_shas=shas,
                **place,
            )
        )
    lines.append(
        _line(
            "deployment",
            id="ci:deployment:D",
            environment="production",
            started_at=at(31, 11, 30).isoformat(),
            result="running",
            **place,
        )
    )
    feed.write_text("".join(lines))
    with Store.open(f"sqlite:///{tmp_path}/file.db") as file_store:
        files = FileConnector(FileConfig(name="ci", type="file", path=feed), SETTINGS)
        assert sync_source(files, file_store, clock=lambda: NOW).ok
        from_file = numbers(compute_all(file_store.load_dataset(), now=NOW, settings=SETTINGS))
    with Store.open(f"sqlite:///{tmp_path}/jenkins.db") as jenkins_store:
        assert sync_source(connector_for(fake_small), jenkins_store, clock=lambda: NOW).ok
        from_jenkins = numbers(
            compute_all(jenkins_store.load_dataset(), now=NOW, settings=SETTINGS)
        )
    assert from_file == pytest.approx(EXPECTED)
    assert from_jenkins == pytest.approx(from_file)


def test_the_same_numbers_reach_metrics_over_http(fake_small: FakeJenkins, tmp_path: Path) -> None:
    """The whole pipeline: App syncs the fake, computes, and serves /metrics over real HTTP."""
    settings = Settings(
        data_dir=tmp_path,
        teams={"payments": {"apps": ["checkout"]}},
        windows=["30d"],
        sources=[jenkins_config(fake_small, backoff=0)],
    )
    app = App(settings, clock=lambda: NOW)
    server = make_server(WebApp(app.exposition, app.readiness), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        (outcome,) = app.sync_all()
        assert outcome.ok, outcome.error
        app.recompute()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{server.effective_port}/metrics", timeout=5
        ) as resp:
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

    def value(name: str, **extra: str) -> float:
        return samples[(name, tuple(sorted({**CHECKOUT, **extra}.items())))]

    # The worked example above: 2 successes in 30 days, lead time median 88,800 s, one of three
    # production deployment attempts failed, no change failed, so no recovery time.
    assert value(FREQUENCY, window="30d") == pytest.approx(2 / 30)
    assert value(LEAD, window="30d", percentile="50") == pytest.approx(88_800)
    assert value(FAILURE_RATE, window="30d") == 0.0
    assert value(ATTEMPT_FAILURE_RATE, window="30d") == pytest.approx(1 / 3)
    assert value("streamgauge_failed_deployment_attempts_total") == 1
    assert not any(name == RECOVERY for name, _ in samples)
    # Deployments by result over the whole history: A and C succeeded, B failed.
    assert value("streamgauge_deployments_total", result="success") == 2
    assert value("streamgauge_deployments_total", result="failure") == 1
    # Four lead times; 2,400 s is the only one under a day (86,400 s), all are under 4 days.
    assert value("streamgauge_change_lead_time_seconds_count") == 4
    assert value("streamgauge_change_lead_time_seconds_bucket", le="86400.0") == 1
    assert value("streamgauge_change_lead_time_seconds_bucket", le="345600.0") == 4
    # Health: the API calls the sync made, as the fake server counted them: 5 folder listings
    # (root, payments, payments/checkout, platform, platform/tools) and 4 jobs with builds.
    calls = samples[("streamgauge_sync_api_calls_total", (("source", "jenkins"),))]
    assert calls == outcome.api_calls == fake_small.total_requests == 9
