"""`streamgauge explain METRIC`: the records behind a number, one row each, with its part in it,
and the number made again from those rows.

Every explanation is read from the same facts :func:`streamgauge.metrics.compute_facts` builds
for the snapshot, so the rows are exactly what the number was computed from: the production
deployments counted for a failure rate (each failed one with why), the changes behind a lead
time (with its parts), the work items behind a flow metric, each item's way through the value
stream, the problems behind data quality. Each summary recomputes the families' numbers from
the rows: quantiles (type 7, as the calculator), ratios, levels with their bounds, histogram
buckets. :data:`FAMILIES` names the explanation of every computed family.
"""

from __future__ import annotations

from streamgauge.config import Settings, format_duration
from streamgauge.explain.bottleneck import bottleneck
from streamgauge.explain.delivery import (
    deployment_days,
    deployments,
    deployments_history,
    incidents,
    lead_time_history,
    lead_times,
    levels,
    recoveries,
    recovery_history,
)
from streamgauge.explain.forecast import forecast
from streamgauge.explain.governance import governance, targets
from streamgauge.explain.quality import data_quality
from streamgauge.explain.rows import Explainer, Explanation, Query, iso
from streamgauge.explain.stream import value_stream
from streamgauge.explain.table import write_table
from streamgauge.explain.work import done_items, flow_history, in_progress, over_sle
from streamgauge.metrics import Facts
from streamgauge.metrics.dimensions import ALL
from streamgauge.metrics.windows import windows_at

__all__ = ["EXPLAINERS", "FAMILIES", "Explanation", "explain", "metric_key", "write_table"]

# The names an explanation answers to: its own, then the short names of what it explains.
EXPLAINERS: dict[str, Explainer] = {
    "deployments": deployments,
    "deployment_frequency": deployments,
    "change_failure_rate": deployments,
    "deployment_rework_rate": deployments,
    "failed_deployment_attempts": deployments,
    "deployment_attempt_failure_rate": deployments,
    "deployment_days": deployment_days,
    "deployments_history": deployments_history,
    "failed_deployments": deployments_history,
    "failed_deployment_recovery_time": recoveries,
    "failed_deployment_recovery_history": recovery_history,
    "change_lead_time": lead_times,
    "change_lead_time_part": lead_times,
    "change_lead_time_history": lead_time_history,
    "incidents": incidents,
    "levels": levels,
    "work_items_done": done_items,
    "flow_velocity": done_items,
    "flow_time": done_items,
    "flow_efficiency": done_items,
    "flow_distribution": done_items,
    "flow_history": flow_history,
    "flow_items_done": flow_history,
    "work_items_in_progress": in_progress,
    "flow_load": in_progress,
    "work_item_age": in_progress,
    "flow_distribution_in_progress": in_progress,
    "work_items_over_sle": over_sle,
    "value_stream": value_stream,
    "bottleneck": bottleneck,
    "data_quality": data_quality,
    "governance": governance,
    "targets": targets,
    "forecast": forecast,
}

# Every computed family (as exposed) -> the explanation that lists its records and makes its
# number again; a family added to the catalog without one fails the tests.
FAMILIES: dict[str, str] = {
    "streamgauge_deployments_total": "deployments_history",
    "streamgauge_failed_deployments_total": "deployments_history",
    "streamgauge_deployment_frequency_window_per_day": "deployments",
    "streamgauge_change_failure_rate_window_ratio": "deployments",
    "streamgauge_deployment_rework_rate_window_ratio": "deployments",
    "streamgauge_failed_deployment_attempts_total": "deployments_history",
    "streamgauge_deployment_attempt_failure_rate_window_ratio": "deployments",
    "streamgauge_deployment_day_window_ratio": "deployment_days",
    "streamgauge_change_lead_time_window_seconds": "change_lead_time",
    "streamgauge_change_lead_time_part_window_seconds": "change_lead_time",
    "streamgauge_change_lead_time_seconds": "change_lead_time_history",
    "streamgauge_failed_deployment_recovery_time_window_seconds": "failed_deployment_recovery_time",
    "streamgauge_failed_deployment_recovery_time_seconds": "failed_deployment_recovery_history",
    "streamgauge_deployment_frequency_window_level": "levels",
    "streamgauge_change_lead_time_window_level": "levels",
    "streamgauge_change_failure_rate_window_level": "levels",
    "streamgauge_failed_deployment_recovery_time_window_level": "levels",
    "streamgauge_flow_velocity_window_per_week": "work_items_done",
    "streamgauge_flow_time_window_seconds": "work_items_done",
    "streamgauge_flow_time_within_sle_window_ratio": "work_items_done",
    "streamgauge_flow_efficiency_window_ratio": "work_items_done",
    "streamgauge_flow_distribution_window_ratio": "work_items_done",
    "streamgauge_flow_items_done_total": "flow_history",
    "streamgauge_flow_time_seconds": "flow_history",
    "streamgauge_flow_load": "work_items_in_progress",
    "streamgauge_flow_distribution_in_progress_ratio": "work_items_in_progress",
    "streamgauge_work_item_age_seconds": "work_items_in_progress",
    "streamgauge_work_item_age_oldest_seconds": "work_items_in_progress",
    "streamgauge_work_item_age_sle_seconds": "work_items_in_progress",
    "streamgauge_work_item_age_sle_ratio": "work_items_in_progress",
    "streamgauge_work_items_over_sle": "work_items_over_sle",
    "streamgauge_value_stream_stage_time_window_seconds": "value_stream",
    "streamgauge_value_stream_stage_complete_accurate_window_ratio": "value_stream",
    "streamgauge_value_stream_complete_accurate_window_ratio": "value_stream",
    "streamgauge_value_stream_stage_order": "value_stream",
    "streamgauge_value_stream_lead_time_window_seconds": "value_stream",
    "streamgauge_value_stream_efficiency_window_ratio": "value_stream",
    "streamgauge_value_stream_bottleneck": "bottleneck",
    "streamgauge_value_stream_stage_wait_share_window_ratio": "bottleneck",
    "streamgauge_value_stream_stage_queue_items": "bottleneck",
    "streamgauge_value_stream_stage_queue_trend_window_items": "bottleneck",
    "streamgauge_value_stream_stage_arrivals_window_items": "bottleneck",
    "streamgauge_value_stream_stage_departures_window_items": "bottleneck",
    "streamgauge_data_quality_records": "data_quality",
    "streamgauge_target": "targets",
    "streamgauge_governance_deployments_window_ratio": "governance",
    "streamgauge_governance_deployments_total": "governance",
    "streamgauge_forecast_items": "forecast",
    "streamgauge_forecast_done_seconds": "forecast",
    "streamgauge_forecast_backlog_items": "forecast",
}


def metric_key(name: str) -> str | None:
    """The explanation of a metric name: an exposed family or one of its series
    (``streamgauge_flow_time_seconds_bucket`` -> ``flow_history``), else the longest known
    name it starts with (``change_failure_rate_30d`` -> ``change_failure_rate``)."""
    family = "streamgauge_" + name.removeprefix("streamgauge_")
    for suffix in ("", "_bucket", "_sum", "_count"):
        if family.endswith(suffix) and family.removesuffix(suffix) in FAMILIES:
            return FAMILIES[family.removesuffix(suffix)]
    key = name.removeprefix("streamgauge_")
    matches = [k for k in EXPLAINERS if key == k or key.startswith(k + "_")]
    return max(matches, key=len) if matches else None


def explain(
    facts: Facts,
    metric: str,
    settings: Settings,
    *,
    team: str = ALL,
    app: str = ALL,
    window: str | None = None,
) -> Explanation:
    """The records behind ``metric`` for one group and window (default: the first window)."""
    key = metric_key(metric)
    if key is None:
        known = ", ".join(sorted(EXPLAINERS))
        raise ValueError(f"no explanation for {metric!r}; known metrics: {known}")
    windows = {w.label: w for w in windows_at(facts.now, settings.windows)}
    label = window or format_duration(settings.windows[0])
    if label not in windows:
        raise ValueError(f"window {label!r} is not configured; use one of {', '.join(windows)}")
    out = EXPLAINERS[key](Query(facts, windows[label], settings, team, app))
    out.team, out.app, out.at = team, app, iso(facts.now)
    return out
