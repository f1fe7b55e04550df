"""Every metric family streamgauge exposes: name, type, help and label names, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["gauge", "counter", "histogram"]

HOUR = 3600.0
DAY = 86400.0
# Lead-time style buckets: an hour to half a year.
DURATION_BUCKETS: tuple[float, ...] = (
    HOUR,
    4 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    4 * DAY,
    7 * DAY,
    14 * DAY,
    30 * DAY,
    60 * DAY,
    90 * DAY,
    182 * DAY,
)
# Recovery is usually faster: five minutes to a month.
RECOVERY_BUCKETS: tuple[float, ...] = (
    300.0,
    900.0,
    1800.0,
    HOUR,
    4 * HOUR,
    12 * HOUR,
    DAY,
    7 * DAY,
    30 * DAY,
)


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str  # as exposed, with `_total` on counters
    kind: Kind
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


def _d(name: str, kind: Kind, labels: str, help: str, buckets: tuple[float, ...] = ()) -> MetricDef:
    return MetricDef(name, kind, help, tuple(labels.split()), buckets)


# Computed metrics, served from the snapshot.
COMPUTED: tuple[MetricDef, ...] = (
    _d(
        "streamgauge_deployments_total",
        "counter",
        "team app result",
        "Production deployments over the whole stored history, by result.",
    ),
    _d(
        "streamgauge_change_lead_time_seconds",
        "histogram",
        "team app",
        "Change lead time (first commit to first successful production deployment) over the "
        "whole stored history.",
        DURATION_BUCKETS,
    ),
    _d(
        "streamgauge_change_lead_time_window_seconds",
        "gauge",
        "team app window quantile",
        "Quantile of change lead time of changes deployed in the window.",
    ),
    _d(
        "streamgauge_deployment_frequency_window_per_day",
        "gauge",
        "team app window",
        "Successful production deployments per day over the window.",
    ),
    _d(
        "streamgauge_change_failure_rate_window_ratio",
        "gauge",
        "team app window",
        "Share of production deployments in the window that failed, were rolled back, were "
        "followed by a hotfix or caused an incident.",
    ),
    _d(
        "streamgauge_failed_deployment_recovery_time_window_seconds",
        "gauge",
        "team app window quantile",
        "Quantile of the time from a failed production deployment to its recovery, for failures "
        "recovered in the window.",
    ),
    _d(
        "streamgauge_flow_load",
        "gauge",
        "team app type flow_state",
        "Work items in progress now (active or waiting), by flow item type.",
    ),
)

# Health metrics, served from the store's sync log and the process itself.
HEALTH: tuple[MetricDef, ...] = (
    _d(
        "streamgauge_sync_last_success_timestamp_seconds",
        "gauge",
        "source",
        "When the source last synced without error (Unix time).",
    ),
    _d("streamgauge_sync_errors_total", "counter", "source", "Syncs of the source that failed."),
    _d(
        "streamgauge_sync_records_total",
        "counter",
        "source",
        "Model records the source's syncs inserted or changed.",
    ),
    _d(
        "streamgauge_sync_skipped_records_total",
        "counter",
        "source",
        "Malformed records the source's syncs skipped.",
    ),
    _d(
        "streamgauge_sync_api_calls_total",
        "counter",
        "source",
        "API requests the source's syncs made.",
    ),
    _d(
        "streamgauge_sync_rate_limit_remaining",
        "gauge",
        "source",
        "API budget left after the source's last sync, where the API reports one.",
    ),
    _d(
        "streamgauge_snapshot_timestamp_seconds",
        "gauge",
        "",
        "When the metrics served were computed (Unix time).",
    ),
)

QUANTILES: tuple[float, ...] = (0.5, 0.85, 0.95)

BY_NAME: dict[str, MetricDef] = {m.name: m for m in COMPUTED + HEALTH}
