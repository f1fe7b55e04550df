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


# DORA beyond the pipeline's first five families.
DORA_EXTRA: tuple[MetricDef, ...] = (
    _d(
        "streamgauge_deployment_day_window_ratio",
        "gauge",
        "team app window",
        "Share of the window's days (UTC) with at least one successful production deployment.",
    ),
    _d(
        "streamgauge_change_lead_time_part_window_seconds",
        "gauge",
        "team app window part percentile",
        "Quantile of one part of change lead time (coding, pickup, review, deploy) of changes "
        "deployed in the window.",
    ),
    _d(
        "streamgauge_deployment_rework_rate_window_ratio",
        "gauge",
        "team app window",
        "Share of production deployments in the window that were unplanned: hotfixes, rollbacks "
        "and deployments made to fix an incident.",
    ),
    _d(
        "streamgauge_failed_deployment_recovery_time_seconds",
        "histogram",
        "team app",
        "Time from a failed production deployment to its recovery, over the whole stored history.",
        RECOVERY_BUCKETS,
    ),
    _d(
        "streamgauge_failed_deployments_total",
        "counter",
        "team app reason",
        "Production deployments counted as failed over the whole stored history, by reason "
        "(a deployment with several reasons counts once under each).",
    ),
    _d(
        "streamgauge_failed_deployment_attempts_total",
        "counter",
        "team app",
        "Production deployments whose own job failed (result failure: they never reached "
        "production) over the whole stored history.",
    ),
    _d(
        "streamgauge_deployment_attempt_failure_rate_window_ratio",
        "gauge",
        "team app window",
        "Share of the production deployments that ended in the window whose own job failed.",
    ),
)

# Performance levels: 1 on the level each metric reaches under metrics.levels_table, 0 on the
# table's other levels. The published DORA clusters rate four metrics; rework rate has none.
LEVELS: tuple[MetricDef, ...] = tuple(
    _d(
        f"streamgauge_{metric}_window_level",
        "gauge",
        "team app window level",
        f"1 on the performance level the window's {what} reaches under the configured "
        "benchmark table, 0 on the table's other levels.",
    )
    for metric, what in (
        ("deployment_frequency", "deployment frequency"),
        ("change_lead_time", "median change lead time"),
        ("change_failure_rate", "change failure rate"),
        ("failed_deployment_recovery_time", "median failed deployment recovery time"),
    )
)

FLOW_EXTRA: tuple[MetricDef, ...] = (
    _d(
        "streamgauge_flow_velocity_window_per_week",
        "gauge",
        "team app window type",
        "Work items that reached done in the window, per week, by flow item type (type=all: "
        "every type).",
    ),
    _d(
        "streamgauge_flow_items_done_total",
        "counter",
        "team app type",
        "Work items done over the whole stored history, by flow item type.",
    ),
    _d(
        "streamgauge_flow_time_seconds",
        "histogram",
        "team app type",
        "Flow time (first entry into active or waiting to done) of items done, over the whole "
        "stored history.",
        DURATION_BUCKETS,
    ),
    _d(
        "streamgauge_flow_time_window_seconds",
        "gauge",
        "team app window type percentile",
        "Quantile of flow time of the work items done in the window.",
    ),
    _d(
        "streamgauge_flow_time_within_sle_window_ratio",
        "gauge",
        "team app window type",
        "Share of the work items done in the window whose flow time is within the service-level "
        "expectation (metrics.sle_age).",
    ),
    _d(
        "streamgauge_flow_efficiency_window_ratio",
        "gauge",
        "team app window type",
        "Active time over active plus waiting time of the work items done in the window.",
    ),
    _d(
        "streamgauge_flow_distribution_window_ratio",
        "gauge",
        "team app window type",
        "Share of each flow item type among the work items done in the window.",
    ),
    _d(
        "streamgauge_flow_distribution_in_progress_ratio",
        "gauge",
        "team app type",
        "Share of each flow item type among the work items in progress now.",
    ),
    _d(
        "streamgauge_work_item_age_seconds",
        "gauge",
        "team app type percentile",
        "Quantile of the age (now minus first entry into active or waiting) of the work items "
        "in progress now.",
    ),
    _d(
        "streamgauge_work_item_age_oldest_seconds",
        "gauge",
        "team app type",
        "Age of the oldest work item in progress now.",
    ),
    _d(
        "streamgauge_work_items_over_sle",
        "gauge",
        "team app type",
        "Work items in progress now older than the service-level expectation (metrics.sle_age).",
    ),
    _d(
        "streamgauge_work_item_age_sle_seconds",
        "gauge",
        "team app",
        "The service-level expectation of flow time and work-item age that applies to the "
        "group (metrics.sle_age).",
    ),
    _d(
        "streamgauge_work_item_age_sle_ratio",
        "gauge",
        "team app",
        "The share of items expected within the service-level expectation "
        "(metrics.sle_percentile).",
    ),
)

VALUE_STREAM: tuple[MetricDef, ...] = (
    _d(
        "streamgauge_value_stream_stage_time_window_seconds",
        "gauge",
        "team app window stage part",
        "Mean time per work item done in the window spent in a value-stream stage, split into "
        "process and wait time (part).",
    ),
    _d(
        "streamgauge_value_stream_stage_complete_accurate_window_ratio",
        "gauge",
        "team app window stage",
        "Percent complete and accurate of a stage: share of the items done in the window that "
        "entered the stage and left it forward without ever coming back to it.",
    ),
    _d(
        "streamgauge_value_stream_complete_accurate_window_ratio",
        "gauge",
        "team app window",
        "Rolled percent complete and accurate: the product of every stage's ratio.",
    ),
    _d(
        "streamgauge_value_stream_stage_order",
        "gauge",
        "team app stage",
        "Position of a value-stream stage in stream order (metrics.stage_order, then where items "
        "first reach it, then the delivery stages), from 1: what boards sort stages by.",
    ),
    _d(
        "streamgauge_value_stream_lead_time_window_seconds",
        "gauge",
        "team app window percentile",
        "Quantile of the value-stream lead time (idea to production) of the work items done in "
        "the window.",
    ),
    _d(
        "streamgauge_value_stream_efficiency_window_ratio",
        "gauge",
        "team app window",
        "Process time over total value-stream lead time of the work items done in the window.",
    ),
)

# The bottleneck named, with its evidence (streamgauge.metrics.bottleneck and .queues).
BOTTLENECK: tuple[MetricDef, ...] = (
    _d(
        "streamgauge_value_stream_bottleneck",
        "gauge",
        "team app window stage",
        "1 on the stage named the bottleneck of the stream in the window: a growing queue "
        "first, then the highest wait share, then the lowest %C&A; no sample for the others.",
    ),
    _d(
        "streamgauge_value_stream_stage_wait_share_window_ratio",
        "gauge",
        "team app window stage",
        "The stage's wait time over the wait time of every stage, of the items done in the window.",
    ),
    _d(
        "streamgauge_value_stream_stage_queue_items",
        "gauge",
        "team app stage",
        "Work items (changes, for delivery stages) waiting in the stage now.",
    ),
    _d(
        "streamgauge_value_stream_stage_queue_trend_window_items",
        "gauge",
        "team app window stage",
        "The stage's queue now minus its queue at the window's start.",
    ),
    _d(
        "streamgauge_value_stream_stage_arrivals_window_items",
        "gauge",
        "team app window stage",
        "Visits of the stage that began in the window.",
    ),
    _d(
        "streamgauge_value_stream_stage_departures_window_items",
        "gauge",
        "team app window stage",
        "Visits of the stage that ended in the window.",
    ),
)

DATA_QUALITY: tuple[MetricDef, ...] = (
    _d(
        "streamgauge_data_quality_records",
        "gauge",
        "team app reason",
        "Records that could not be linked or mapped, or whose timestamps are impossible, by "
        "reason.",
    ),
)

# Targets (the future-state map) and governance evidence.
TARGETS_AND_GOVERNANCE: tuple[MetricDef, ...] = (
    _d(
        "streamgauge_target",
        "gauge",
        "team app metric stage percentile bound",
        "A configured target: the value (in the unit of the family named by metric) that the "
        "family should stay at most (bound=max) or at least (bound=min); app is empty for a "
        "team-wide target, stage and quantile empty where they do not apply.",
    ),
    _d(
        "streamgauge_governance_deployments_window_ratio",
        "gauge",
        "team app window kind",
        "Share of the successful production deployments finished in the window that shipped a "
        "change merged without an approving review (kind=unreviewed), a change linked to no "
        "work item (unlinked) or a commit of no change (direct_push).",
    ),
    _d(
        "streamgauge_governance_deployments_total",
        "counter",
        "team app kind",
        "Successful production deployments over the whole history that shipped an unreviewed "
        "change, an unlinked change or a direct push, by kind.",
    ),
)

# Monte Carlo forecasts over daily throughput (forecast.*).
FORECASTS: tuple[MetricDef, ...] = (
    _d(
        "streamgauge_forecast_items",
        "gauge",
        "team type horizon confidence",
        "Work items done within the horizon in at least that share (confidence) of the "
        "simulated futures, sampling the daily throughput of forecast.history.",
    ),
    _d(
        "streamgauge_forecast_done_seconds",
        "gauge",
        "team type backlog confidence",
        "Time until the backlog's items now are done, in whole days (86400 s each) from now, in "
        "at least that share (confidence) of the simulated futures.",
    ),
    _d(
        "streamgauge_forecast_backlog_items",
        "gauge",
        "team type backlog",
        "Work items not done now that the configured backlog selects.",
    ),
)

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
        "team app window percentile",
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
        "Share of the production deployments in the window that reached production and were "
        "rolled back, were followed by a hotfix or caused an incident.",
    ),
    _d(
        "streamgauge_failed_deployment_recovery_time_window_seconds",
        "gauge",
        "team app window percentile",
        "Quantile of the time from a failed production deployment to its recovery, for failures "
        "recovered in the window.",
    ),
    _d(
        "streamgauge_flow_load",
        "gauge",
        "team app type flow_state",
        "Work items in progress now (active or waiting), by flow item type.",
    ),
    *DORA_EXTRA,
    *LEVELS,
    *FLOW_EXTRA,
    *VALUE_STREAM,
    *BOTTLENECK,
    *DATA_QUALITY,
    *TARGETS_AND_GOVERNANCE,
    *FORECASTS,
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
        "Records the source's syncs skipped, every reason together.",
    ),
    _d(
        "streamgauge_sync_records_skipped_total",
        "counter",
        "source reason",
        "Records the source's syncs skipped, by reason; `streamgauge skipped` lists them.",
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
        "streamgauge_sync_failures_total",
        "counter",
        "source reason",
        "Syncs of the source that failed, by cause, as this process saw them (counted even when "
        "the store cannot log the sync).",
    ),
    _d(
        "streamgauge_sync_failing_since_timestamp_seconds",
        "gauge",
        "source",
        "When the source's current run of failed syncs began (Unix time); absent while it syncs.",
    ),
    _d(
        "streamgauge_source_paused_until_timestamp_seconds",
        "gauge",
        "source",
        "When the source's rate-limit pause ends (Unix time); absent when it is not paused.",
    ),
    _d(
        "streamgauge_source_leader",
        "gauge",
        "source",
        "1 on the replica that syncs the source now, 0 on the others (several replicas on "
        "PostgreSQL); always 1 on SQLite.",
    ),
    _d(
        "streamgauge_recompute_failures_total",
        "counter",
        "reason",
        "Computations of the metrics that failed, by cause; the previous snapshot stays served.",
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
# The computed families that count over the whole history: never lower than once exported.
CUMULATIVE: frozenset[str] = frozenset(m.name for m in COMPUTED if m.kind != "gauge")
