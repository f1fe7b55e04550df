"""`streamgauge report`: the snapshot's headline numbers per team, app and window, as a table that
fits the terminal or as JSON whose keys carry their units."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from streamgauge.config import Settings
from streamgauge.metrics.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # the JSON key: snake_case, its unit in the name, as `explain --json` says it
    title: str  # the table's header, its unit in it where the cell shows none
    metric: str
    extra: tuple[tuple[str, str], ...] = ()  # labels beyond team, app and window
    unit: str = ""  # "duration", "ratio", "rate" or "" for a count


COLUMNS: tuple[Column, ...] = (
    Column(
        "deployments_per_day",
        "deploys /day",
        "streamgauge_deployment_frequency_window_per_day",
        unit="rate",
    ),
    Column(
        "lead_time_p50_seconds",
        "lead time p50",
        "streamgauge_change_lead_time_window_seconds",
        (("percentile", "50"),),
        "duration",
    ),
    Column(
        "lead_time_p85_seconds",
        "lead time p85",
        "streamgauge_change_lead_time_window_seconds",
        (("percentile", "85"),),
        "duration",
    ),
    Column(
        "change_failure_rate_ratio",
        "change fail %",
        "streamgauge_change_failure_rate_window_ratio",
        unit="ratio",
    ),
    Column(
        "failed_deployment_recovery_time_p50_seconds",
        "recovery p50",
        "streamgauge_failed_deployment_recovery_time_window_seconds",
        (("percentile", "50"),),
        "duration",
    ),
    Column(
        "deployment_days_ratio",
        "deploy days %",
        "streamgauge_deployment_day_window_ratio",
        unit="ratio",
    ),
    Column(
        "deployment_rework_rate_ratio",
        "rework %",
        "streamgauge_deployment_rework_rate_window_ratio",
        unit="ratio",
    ),
    Column(
        "items_done_per_week",
        "items done /week",
        "streamgauge_flow_velocity_window_per_week",
        (("type", "all"),),
        "rate",
    ),
    Column(
        "flow_time_p50_seconds",
        "flow time p50",
        "streamgauge_flow_time_window_seconds",
        (("type", "all"), ("percentile", "50")),
        "duration",
    ),
    Column(
        "flow_efficiency_ratio",
        "flow efficiency %",
        "streamgauge_flow_efficiency_window_ratio",
        (("type", "all"),),
        "ratio",
    ),
)
FLOW_LOAD = "flow_load_items"
DATA_ISSUES = "data_quality_records"
# the columns no window gauge gives: work in progress now, and the records with a problem
EXTRA_TITLES = {FLOW_LOAD: "flow load (items)", DATA_ISSUES: "data issues (records)"}
DATA_QUALITY = "streamgauge_data_quality_records"

# The tables a report is split into when one does not fit the terminal: fewer, wider ones first.
LAYOUTS: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = (
    (
        (
            "delivery",
            (
                "deployments_per_day",
                "lead_time_p50_seconds",
                "lead_time_p85_seconds",
                "change_failure_rate_ratio",
                "failed_deployment_recovery_time_p50_seconds",
                "deployment_days_ratio",
                "deployment_rework_rate_ratio",
            ),
        ),
        (
            "flow",
            (
                "items_done_per_week",
                "flow_time_p50_seconds",
                "flow_efficiency_ratio",
                FLOW_LOAD,
                DATA_ISSUES,
            ),
        ),
    ),
    (
        (
            "deployments",
            (
                "deployments_per_day",
                "deployment_days_ratio",
                "change_failure_rate_ratio",
                "deployment_rework_rate_ratio",
            ),
        ),
        (
            "times",
            (
                "lead_time_p50_seconds",
                "lead_time_p85_seconds",
                "failed_deployment_recovery_time_p50_seconds",
                "flow_time_p50_seconds",
            ),
        ),
        (
            "flow",
            ("items_done_per_week", "flow_efficiency_ratio", FLOW_LOAD, DATA_ISSUES),
        ),
    ),
)


def human_duration(seconds: float) -> str:
    """A duration as a person reads it: ``45s``, ``12m``, ``3h 20m``, ``2d 4h``."""
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


FORMATS: dict[str, Callable[[float], str]] = {
    "duration": human_duration,
    "ratio": lambda v: f"{v * 100:.0f}",
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
                row[column.key] = sample.value
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
            row[FLOW_LOAD] = load[(team, app)]
        if (team, app) in quality:
            # the total is the table's column; JSON keeps the count of each reason
            row[DATA_ISSUES] = sum(quality[(team, app)].values())
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


def write_table(rows: list[dict[str, Any]], out: TextIO, *, width: int | None = None) -> None:
    """The rows as a table that fits the terminal: one table when it is wide enough, else the
    columns split over two or three tables (:data:`LAYOUTS`), each with the team, app and window."""
    console = Console(file=out, width=width, highlight=False, markup=False, emoji=False)
    if not rows:
        console.print("no metrics yet: sync a source first (streamgauge sync)")
        return
    keys = [*(c.key for c in COLUMNS), FLOW_LOAD, DATA_ISSUES]
    tables = [_table(rows, keys)]
    for layout in LAYOUTS:
        if all(_fits(table, console) for table in tables):
            break
        tables = [_table(rows, list(part), title) for title, part in layout]
    for i, table in enumerate(tables):
        if i:
            console.print()
        if table.title:
            console.print(table.title)  # on its own line: a table's title is padded to its width
            table.title = None
        console.print(table)


def _fits(table: Table, console: Console) -> bool:
    """Whether the table fits with its headers wrapped onto their words and no value wrapped
    (measured on a console wide enough not to clamp the measurement to the terminal)."""
    return Console(width=10_000).measure(table).minimum <= console.width


def _table(rows: list[dict[str, Any]], keys: list[str], title: str | None = None) -> Table:
    columns = {c.key: c for c in COLUMNS}
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
    )
    body = []
    for row in rows:
        cells = [str(row["team"]), str(row["app"]), str(row["window"])]
        for key in keys:
            value = row.get(key)
            unit = columns[key].unit if key in columns else ""
            cells.append("-" if value is None else FORMATS[unit](value))
        body.append(cells)
    # A header may wrap onto two lines; a value never does, so each column is at least as wide
    # as its widest value.
    for i, name in enumerate(["team", "app", "window", *keys]):
        header = columns[name].title if name in columns else EXTRA_TITLES.get(name, name)
        table.add_column(
            header,
            justify="left" if i < 3 else "right",
            min_width=max(len(cells[i]) for cells in body),
        )
    for cells in body:
        table.add_row(*cells)
    return table
