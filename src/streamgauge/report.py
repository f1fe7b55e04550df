"""`streamgauge report`: the snapshot's headline numbers per team, app and window."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from streamgauge.config import Settings
from streamgauge.metrics.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    metric: str
    extra: tuple[tuple[str, str], ...] = ()  # labels beyond team, app and window
    unit: str = ""  # "duration", "ratio", "rate" or "" for a count


COLUMNS: tuple[Column, ...] = (
    Column("deploys/day", "streamgauge_deployment_frequency_window_per_day", unit="rate"),
    Column(
        "lead time p50",
        "streamgauge_change_lead_time_window_seconds",
        (("percentile", "50"),),
        "duration",
    ),
    Column(
        "lead time p85",
        "streamgauge_change_lead_time_window_seconds",
        (("percentile", "85"),),
        "duration",
    ),
    Column("change fail rate", "streamgauge_change_failure_rate_window_ratio", unit="ratio"),
    Column(
        "recovery p50",
        "streamgauge_failed_deployment_recovery_time_window_seconds",
        (("percentile", "50"),),
        "duration",
    ),
    Column("deploy days", "streamgauge_deployment_day_window_ratio", unit="ratio"),
    Column("rework rate", "streamgauge_deployment_rework_rate_window_ratio", unit="ratio"),
    Column(
        "items/wk", "streamgauge_flow_velocity_window_per_week", (("type", "all"),), unit="rate"
    ),
    Column(
        "flow time p50",
        "streamgauge_flow_time_window_seconds",
        (("type", "all"), ("percentile", "50")),
        "duration",
    ),
    Column(
        "flow efficiency",
        "streamgauge_flow_efficiency_window_ratio",
        (("type", "all"),),
        "ratio",
    ),
)
DATA_QUALITY = "streamgauge_data_quality_records"


def human_duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


FORMATS: dict[str, Callable[[float], str]] = {
    "duration": human_duration,
    "ratio": lambda v: f"{v:.0%}",
    "rate": lambda v: f"{v:.2f}",
    "": lambda v: f"{v:.0f}",
}


def report_rows(
    snapshot: Snapshot, settings: Settings, *, window: str | None = None
) -> list[dict[str, Any]]:
    """One row per (team, app, window) that has any value; values in base units (seconds, 0–1)."""
    windows = [window] if window else settings.window_labels
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    wanted = {c.metric for c in COLUMNS}
    for sample in snapshot.samples:
        if sample.name not in wanted:
            continue
        lbl = dict(sample.labels)
        if lbl.get("window") not in windows:
            continue
        key = (lbl.get("team", ""), lbl.get("app", ""), lbl["window"])
        for column in COLUMNS:
            if column.metric == sample.name and all(lbl.get(k) == v for k, v in column.extra):
                row = rows.setdefault(key, {"team": key[0], "app": key[1], "window": key[2]})
                row[column.title] = sample.value
    load: dict[tuple[str, str], float] = defaultdict(float)
    for sample in snapshot.samples:
        if sample.name == "streamgauge_flow_load":
            lbl = dict(sample.labels)
            load[(lbl.get("team", ""), lbl.get("app", ""))] += sample.value
    quality: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for sample in snapshot.samples:
        if sample.name == DATA_QUALITY:
            lbl = dict(sample.labels)
            quality[(lbl.get("team", ""), lbl.get("app", ""))][lbl["reason"]] = sample.value
    for (team, app, _), row in rows.items():
        if (team, app) in load:
            row["flow load"] = load[(team, app)]
        if (team, app) in quality:
            # the total is the table's column; JSON keeps the count of each reason
            row["data issues"] = sum(quality[(team, app)].values())
            row["data_quality"] = quality[(team, app)]
    order = {w: i for i, w in enumerate(windows)}
    return sorted(
        rows.values(),
        key=lambda r: (
            r["team"] != "all",
            r["team"],
            r["app"] != "all",
            r["app"],
            order[r["window"]],
        ),
    )


def write_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        out.write("no metrics yet: sync a source first (streamgauge sync)\n")
        return
    titles = ["team", "app", "window", *(c.title for c in COLUMNS), "flow load", "data issues"]
    units = {c.title: c.unit for c in COLUMNS} | {"flow load": "", "data issues": ""}
    table = [titles]
    for row in rows:
        cells = []
        for title in titles:
            value = row.get(title)
            if value is None:
                cells.append("-")
            elif title in units:
                cells.append(FORMATS[units[title]](value))
            else:
                cells.append(str(value))
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(titles))]
    for n, cells in enumerate(table):
        out.write(
            "  ".join(
                c.ljust(w) if i < 3 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
            + "\n"
        )
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
