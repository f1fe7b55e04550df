"""The collector serves exactly what the snapshot and sync log hold, in Prometheus' formats."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamgauge import __version__
from streamgauge.exposition.collector import Exposition, ServedState, StateCollector
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.store.types import SourceHealth

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def snapshot() -> Snapshot:
    snap = Snapshot(computed_at=NOW)
    snap.add("streamgauge_deployments_total", 5, team="pay", app="checkout", result="success")
    snap.add("streamgauge_deployments_total", 1, team="pay", app="checkout", result="failure")
    snap.add(
        "streamgauge_deployment_frequency_window_per_day", 0.5, team="all", app="all", window="7d"
    )
    snap.add(
        "streamgauge_change_lead_time_window_seconds",
        7200,
        team="pay",
        app="checkout",
        window="30d",
        percentile="50",
    )
    # Three changes with lead times 30 min, 2 h and 3 days: cumulative counts at the bounds
    # 1 h, 1 d and 7 d are 1, 2 and 3; the sum is 1800 + 7200 + 259200 = 268200 s.
    snap.histograms.append(
        HistogramSample(
            "streamgauge_change_lead_time_seconds",
            labels(team="pay", app="checkout"),
            (3600.0, 86400.0, 604800.0),
            (1, 2, 3),
            3,
            268200.0,
        )
    )
    return snap


def scrape(state: ServedState) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    registry = CollectorRegistry()  # fresh, so nothing else registered leaks in
    registry.register(StateCollector(state))
    text = generate_latest(registry).decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def test_snapshot_values_are_served_as_stored() -> None:
    got = scrape(ServedState(snapshot=snapshot()))
    deployments = got["streamgauge_deployments_total"]
    assert deployments[(("app", "checkout"), ("result", "success"), ("team", "pay"))] == 5
    assert deployments[(("app", "checkout"), ("result", "failure"), ("team", "pay"))] == 1
    freq = got["streamgauge_deployment_frequency_window_per_day"]
    assert freq == {(("app", "all"), ("team", "all"), ("window", "7d")): 0.5}
    lead = got["streamgauge_change_lead_time_window_seconds"]
    assert (
        lead[(("app", "checkout"), ("percentile", "50"), ("team", "pay"), ("window", "30d"))]
        == 7200
    )
    assert got["streamgauge_snapshot_timestamp_seconds"][()] == NOW.timestamp()


def test_histogram_is_cumulative_with_inf_bucket() -> None:
    got = scrape(ServedState(snapshot=snapshot()))
    buckets = {
        dict(k)["le"]: v for k, v in got["streamgauge_change_lead_time_seconds_bucket"].items()
    }
    assert buckets == {"3600.0": 1, "86400.0": 2, "604800.0": 3, "+Inf": 3}
    key = (("app", "checkout"), ("team", "pay"))
    assert got["streamgauge_change_lead_time_seconds_count"][key] == 3
    assert got["streamgauge_change_lead_time_seconds_sum"][key] == 268200


def test_health_per_configured_source_even_before_a_sync() -> None:
    synced = SourceHealth(
        source="gh",
        last_success_at=NOW,
        errors_total=2,
        records_total=40,
        skipped_total=1,
        api_calls_total=12,
        rate_limit_remaining=4990,
        last_error=None,
    )
    got = scrape(ServedState(health=[synced], sources=["gh", "jira"]))
    assert got["streamgauge_sync_errors_total"] == {
        (("source", "gh"),): 2,
        (("source", "jira"),): 0,
    }
    assert got["streamgauge_sync_records_total"][(("source", "gh"),)] == 40
    assert got["streamgauge_sync_skipped_records_total"][(("source", "gh"),)] == 1
    assert got["streamgauge_sync_api_calls_total"][(("source", "gh"),)] == 12
    assert got["streamgauge_sync_rate_limit_remaining"] == {(("source", "gh"),): 4990}
    # never synced: no last-success sample rather than a misleading 0
    assert got["streamgauge_sync_last_success_timestamp_seconds"] == {
        (("source", "gh"),): NOW.timestamp()
    }
    assert got["streamgauge_info"] == {(("version", __version__),): 1}
    # no snapshot yet: no computed families and no snapshot time
    assert "streamgauge_deployments_total" not in got
    assert "streamgauge_snapshot_timestamp_seconds" not in got


def test_rendering_happens_on_update_not_on_scrape() -> None:
    exposition = Exposition()
    before = exposition.rendered
    assert b"streamgauge_deployments_total" not in before.text
    exposition.update(ServedState(snapshot=snapshot()))
    after = exposition.rendered
    assert after is not before
    assert (
        b'streamgauge_deployments_total{app="checkout",result="success",team="pay"} 5.0'
        in after.text
    )
    assert gzip.decompress(after.text_gzip) == after.text
    assert after.openmetrics.endswith(b"# EOF\n")
    # reading twice returns the same bytes object: a scrape computes nothing
    assert exposition.rendered is after
