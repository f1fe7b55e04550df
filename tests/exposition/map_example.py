"""A hand-made snapshot of one small value stream, for the map page's tests.

Team ``pay``, app ``api``, window ``30d``; stages in stream order (which is not alphabetical):

| stage       | wait before | process | %C&A |
|-------------|-------------|---------|------|
| triage      | 12h (43200) | 1h      | 100% |
| build       | 2h (7200)   | 4h      | 75%  |
| coding      | 0s          | 10h     | 80%  |
| pickup      | 4h (14400)  | 0s      | 100% |
| code_review | 2h (7200)   | 30m     | 50%  |
| deploy      | 0s          | 10m     | 90%  |

Waits sum to 43200 + 7200 + 0 + 14400 + 7200 + 0 = 72000 s, so triage holds 43200 / 72000 = 60%
of the wait: it is the bottleneck. Rolled %C&A = 1 * 0.75 * 0.8 * 1 * 0.5 * 0.9 = 0.27.
Process sums to 3600 + 14400 + 36000 + 0 + 1800 + 600 = 56400 s of a 128400 s mean lead time:
activity ratio 56400 / 128400 = 0.43925... (44%).
"""

from __future__ import annotations

from datetime import UTC, datetime

from streamgauge.metrics.snapshot import Snapshot

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STAGES = (
    ("triage", 43200.0, 3600.0, 1.0),
    ("build", 7200.0, 14400.0, 0.75),
    ("coding", 0.0, 36000.0, 0.8),
    ("pickup", 14400.0, 0.0, 1.0),
    ("code_review", 7200.0, 1800.0, 0.5),
    ("deploy", 0.0, 600.0, 0.9),
)
VS = "streamgauge_value_stream"


def stream(snap: Snapshot, team: str = "pay", app: str = "api", window: str = "30d") -> None:
    """The value-stream families of one stream (see the module)."""
    common = {"team": team, "app": app, "window": window}
    for position, (stage, wait, process, ca) in enumerate(STAGES, start=1):
        snap.add(f"{VS}_stage_order", position, team=team, app=app, stage=stage)
        snap.add(f"{VS}_stage_time_window_seconds", process, **common, stage=stage, part="process")
        snap.add(f"{VS}_stage_time_window_seconds", wait, **common, stage=stage, part="wait")
        snap.add(f"{VS}_stage_complete_accurate_window_ratio", ca, **common, stage=stage)
    snap.add(f"{VS}_complete_accurate_window_ratio", 1 * 0.75 * 0.8 * 1 * 0.5 * 0.9, **common)
    snap.add(f"{VS}_efficiency_window_ratio", 56400 / 128400, **common)
    snap.add(f"{VS}_lead_time_window_seconds", 100000.0, **common, percentile="50")


def example(*, extras: bool = True) -> Snapshot:
    """The stream above with its DORA and flow numbers; ``extras`` adds the bottleneck, queue
    and forecast families that other parts of streamgauge add."""
    snap = Snapshot(computed_at=NOW)
    stream(snap)
    stream(snap, app="all")
    common = {"team": "pay", "app": "api", "window": "30d"}
    snap.add("streamgauge_deployment_frequency_window_per_day", 1.5, **common)
    for level, value in (("elite", 1), ("high", 0), ("medium", 0), ("low", 0)):
        snap.add("streamgauge_deployment_frequency_window_level", value, **common, level=level)
    snap.add("streamgauge_change_lead_time_window_seconds", 86400.0, **common, percentile="50")
    snap.add("streamgauge_change_lead_time_window_seconds", 259200.0, **common, percentile="85")
    snap.add("streamgauge_change_failure_rate_window_ratio", 0.1, **common)
    snap.add("streamgauge_flow_velocity_window_per_week", 7.0, **common, type="all")
    snap.add("streamgauge_flow_load", 2, team="pay", app="api", type="feature", flow_state="active")
    snap.add(
        "streamgauge_flow_load", 3, team="pay", app="api", type="feature", flow_state="waiting"
    )
    snap.add("streamgauge_flow_distribution_window_ratio", 1.0, **common, type="feature")

    def target(value: float, app: str, metric: str, bound: str, **where: str) -> None:
        where = {"stage": "", "percentile": ""} | where
        snap.add(
            "streamgauge_target", value, team="pay", app=app, metric=metric, **where, bound=bound
        )

    # the team's lead-time target: p85 at most 2 days, and 3 days is over it
    target(172800, "", "streamgauge_change_lead_time_window_seconds", "max", percentile="85")
    # the team wants 2 deployments a day, the app only 1: the app's own target applies to it
    target(2, "", "streamgauge_deployment_frequency_window_per_day", "min")
    target(1, "api", "streamgauge_deployment_frequency_window_per_day", "min")
    # WIP at most 4, and 2 + 3 = 5 items are in progress
    target(4, "", "streamgauge_flow_load", "max")
    # pickup's wait at most 1 day (4h is within it)
    target(86400, "api", f"{VS}_stage_time_window_seconds", "max", stage="pickup")
    if extras:
        for stage, *_ in STAGES:
            snap.add(f"{VS}_bottleneck", 1 if stage == "triage" else 0, **common, stage=stage)
        snap.add(f"{VS}_stage_wait_share_window_ratio", 43200 / 72000, **common, stage="triage")
        snap.add(f"{VS}_stage_queue_items", 7, team="pay", app="api", stage="triage")
        snap.add(f"{VS}_stage_queue_trend_window_items", 3, **common, stage="triage")
        fc = {"team": "pay", "type": "all"}
        snap.add("streamgauge_forecast_items", 12, **fc, horizon="14d", confidence="0.85")
        snap.add("streamgauge_forecast_backlog_items", 30, **fc, backlog="next")
        snap.add(
            "streamgauge_forecast_done_seconds",
            9.5 * 86400,
            **fc,
            backlog="next",
            confidence="0.85",
        )
    return snap
