"""Shared pieces of the metric tests: settings, label lookups and the worked-example clock."""

from __future__ import annotations

from typing import Any

from tests.builders import at

from streamgauge.config import Settings
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels

NOW = at(days=30)  # windows: 7d = (day 23, day 30], 30d = (day 0, day 30]
FREQUENCY = "streamgauge_deployment_frequency_window_per_day"
FAILURE_RATE = "streamgauge_change_failure_rate_window_ratio"
ATTEMPT_FAILURE_RATE = "streamgauge_deployment_attempt_failure_rate_window_ratio"
ATTEMPTS = "streamgauge_failed_deployment_attempts_total"
LEAD_TIME = "streamgauge_change_lead_time_window_seconds"
RECOVERY = "streamgauge_failed_deployment_recovery_time_window_seconds"
HOUR = 3600.0
DAY = 86400.0


def settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "teams": {"payments": {"apps": ["checkout"]}},
        "windows": ["7d", "30d"],
    }
    base.update(overrides)
    return Settings(**base)


def gauge(snap: Snapshot, name: str, **label_values: str) -> float | None:
    return snap.values(name).get(labels(**label_values))


def checkout(name: str, snap: Snapshot, window: str, **extra: str) -> float | None:
    return gauge(snap, name, team="payments", app="checkout", window=window, **extra)


def lead_time_histogram(snap: Snapshot) -> HistogramSample:
    (h,) = [h for h in snap.histograms if h.name == "streamgauge_change_lead_time_seconds"]
    return h
