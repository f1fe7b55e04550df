"""`streamgauge explain METRIC`: the records behind a number, one row each, with its part in it.

Every explanation is read from the same facts :func:`streamgauge.metrics.compute_facts` builds
for the snapshot, so the rows are exactly what the number was computed from: the production
deployments counted for a failure rate (each failed one with why), the changes behind a lead
time (with its parts), the work items behind a flow metric, the problems behind data quality.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from streamgauge.config import Settings, format_duration
from streamgauge.metrics import Facts
from streamgauge.metrics.delivery import rework_reasons
from streamgauge.metrics.dimensions import ALL, Group
from streamgauge.metrics.windows import Window, windows_at
from streamgauge.model import RunResult
from streamgauge.report import human_duration


@dataclass(slots=True)
class Explanation:
    metric: str
    definition: str
    team: str
    app: str
    window: str | None
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "definition": self.definition,
            "team": self.team,
            "app": self.app,
            "window": self.window,
            "summary": self.summary,
            "rows": self.rows,
        }


Explainer = Callable[[Facts, Window, Callable[[Group], bool]], Explanation]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _deployments(facts: Facts, window: Window, wanted: Callable[[Group], bool]) -> Explanation:
    rows = []
    for o in facts.dora.outcomes:
        if o.ended_at is None or not window.contains(o.ended_at) or not wanted(o.group):
            continue
        blamed = [i.key for i in facts.links.incidents_of.get(o.deployment.id, ())]
        rows.append(
            {
                "deployment": o.deployment.id,
                "app": o.deployment.app,
                "ended_at": _iso(o.ended_at),
                "result": o.deployment.result.value,
                "kind": o.deployment.deployment_kind.value,
                # its own job failed; out of the failure rate unless failed_attempts_are_failures
                "failed_attempt": o.deployment.result is RunResult.FAILURE,
                "in_failure_rate": not o.attempt_only,
                "failed": o.failed,
                "why": ", ".join(o.failure_reasons),
                "incidents": ", ".join(blamed),
                "below_min_severity": ", ".join(
                    f"{i.key} ({i.severity.value})"
                    for i in facts.links.set_aside.get(o.deployment.id, ())
                    if i.opened_at <= facts.now
                ),
                "rework": ", ".join(rework_reasons(o.deployment, facts.incident_fixes)),
            }
        )
    rows.sort(key=lambda r: (r["ended_at"], r["deployment"]))
    failed = sum(1 for r in rows if r["failed"])
    reached = sum(1 for r in rows if r["in_failure_rate"])
    attempts = sum(1 for r in rows if r["failed_attempt"])
    rework = sum(1 for r in rows if r["rework"])
    successes = sum(1 for r in rows if r["result"] == RunResult.SUCCESS.value)
    # the same names, units in them, as `report --json`
    summary = {
        "deployments": len(rows),
        "failed_deployments": failed,
        "change_failure_rate_ratio": failed / reached if reached else None,
        "failed_deployment_attempts": attempts,
        "deployment_attempt_failure_rate_ratio": attempts / len(rows) if rows else None,
        "rework_deployments": rework,
        "deployment_rework_rate_ratio": rework / len(rows) if rows else None,
        "successful_deployments": successes,
        "deployments_per_day": successes / window.days,
    }
    columns = [
        "deployment",
        "app",
        "ended_at",
        "result",
        "kind",
        "failed_attempt",
        "failed",
        "why",
        "incidents",
        "below_min_severity",
    ]
    return Explanation(
        "deployments",
        "production deployments that ended in the window; failed attempt = result failure (in "
        "the failure rate only under metrics.failed_attempts_are_failures); failed = rolled "
        "back, followed by a hotfix or caused an incident that counts; below_min_severity = "
        "incidents blamed on it under metrics.incident_min_severity; rework = hotfix, rollback "
        "or incident fix",
        "",
        "",
        window.label,
        [*columns, "rework"],
        rows,
        summary,
    )


def _recoveries(facts: Facts, window: Window, wanted: Callable[[Group], bool]) -> Explanation:
    rows = [
        {
            "deployment": o.deployment.id,
            "app": o.deployment.app,
            "ended_at": _iso(o.ended_at),
            "why": ", ".join(o.failure_reasons),
            "recovered_at": _iso(o.recovered_at),
            "recovery_seconds": _seconds(o.recovery_seconds),
        }
        for o in facts.dora.outcomes
        if o.recovery_seconds is not None and window.contains(o.recovered_at) and wanted(o.group)
    ]
    rows.sort(key=lambda r: (r["recovered_at"], r["deployment"]))
    return Explanation(
        "failed_deployment_recovery_time",
        "failed production deployments whose recovery falls in the window, with the time from "
        "the failed deployment's end to the recovery",
        "",
        "",
        window.label,
        ["deployment", "app", "ended_at", "why", "recovered_at", "recovery_seconds"],
        rows,
        {"recovered_deployments": len(rows)},
    )


def _lead_times(facts: Facts, window: Window, wanted: Callable[[Group], bool]) -> Explanation:
    rows = []
    for lt in facts.dora.lead_times:
        if not window.contains(lt.deployed_at) or not wanted(lt.group):
            continue
        coding, pickup, review, deploy = lt.parts
        rows.append(
            {
                "change": lt.reference,
                "direct_push": lt.change is None,
                "deployment": lt.deployment.id,
                "started_at": _iso(lt.started_at),
                "deployed_at": _iso(lt.deployed_at),
                "lead_time_seconds": _seconds(lt.seconds),
                "coding_seconds": _seconds(coding),
                "pickup_seconds": _seconds(pickup),
                "review_seconds": _seconds(review),
                "deploy_seconds": _seconds(deploy),
            }
        )
    rows.sort(key=lambda r: (r["deployed_at"], r["change"]))
    return Explanation(
        "change_lead_time",
        "changes (and direct pushes) first deployed to production in the window: first commit "
        "to that deployment's end, split into coding, pickup, review and deploy",
        "",
        "",
        window.label,
        list(rows[0]) if rows else ["change", "lead_time_seconds"],
        rows,
        {"changes": len(rows)},
    )


def _done_items(facts: Facts, window: Window, wanted: Callable[[Group], bool]) -> Explanation:
    streams = {s.flow.item.id: s for s in facts.streams}
    rows = []
    for f in facts.flows:
        if f.done_at is None or not window.contains(f.done_at) or not wanted(f.group):
            continue
        stream = streams.get(f.item.id)
        rows.append(
            {
                "item": f.item.key,
                "type": f.item.type.value,
                "started_at": _iso(f.started_at),
                "done_at": _iso(f.done_at),
                "flow_time_seconds": _seconds(f.flow_seconds),
                "active_seconds": _seconds(f.active_seconds),
                "waiting_seconds": _seconds(f.waiting_seconds),
                "stream_lead_time_seconds": _seconds(stream.lead_seconds) if stream else None,
                "changes": ", ".join(f"{c.repo}#{c.number}" for c in stream.changes)
                if stream
                else "",
            }
        )
    rows.sort(key=lambda r: (r["done_at"], r["item"]))
    return Explanation(
        "work_items_done",
        "work items done in the window: flow time from first entry into active or waiting to "
        "done, its active and waiting time, and the value-stream lead time",
        "",
        "",
        window.label,
        list(rows[0]) if rows else ["item", "flow_time_seconds"],
        rows,
        {"work_items": len(rows)},
    )


def _in_progress(facts: Facts, window: Window, wanted: Callable[[Group], bool]) -> Explanation:
    flows = sorted(
        (f for f in facts.flows if f.in_progress and wanted(f.group)),
        key=lambda f: (-(f.age_seconds(facts.now) or 0.0), f.item.key),
    )
    rows = [
        {
            "item": f.item.key,
            "type": f.item.type.value,
            "flow_state": f.state.value,
            "started_at": _iso(f.started_at),
            "age_seconds": _seconds(f.age_seconds(facts.now)),
        }
        for f in flows
    ]
    return Explanation(
        "work_items_in_progress",
        "work items active or waiting now, oldest first",
        "",
        "",
        None,
        ["item", "type", "flow_state", "started_at", "age_seconds"],
        rows,
        {"work_items": len(rows)},
    )


def _data_quality(facts: Facts, window: Window, wanted: Callable[[Group], bool]) -> Explanation:
    rows = [
        {"reason": p.reason, "kind": p.record.kind, "record": p.record.id}
        for p in facts.problems
        if wanted(p.group)
    ]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    return Explanation(
        "data_quality",
        "records that could not be linked or mapped, or whose times are impossible",
        "",
        "",
        None,
        ["reason", "kind", "record"],
        rows,
        counts,
    )


# Metric names a user may give (short, or the exposed family without streamgauge_ and unit).
EXPLAINERS: dict[str, Explainer] = {
    "deployment_frequency": _deployments,
    "deployment_days": _deployments,
    "deployments": _deployments,
    "change_failure_rate": _deployments,
    "deployment_rework_rate": _deployments,
    "failed_deployment_recovery_time": _recoveries,
    "change_lead_time": _lead_times,
    "change_lead_time_part": _lead_times,
    "flow_velocity": _done_items,
    "flow_time": _done_items,
    "flow_efficiency": _done_items,
    "flow_distribution": _done_items,
    "flow_items_done": _done_items,
    "value_stream": _done_items,
    "flow_load": _in_progress,
    "work_item_age": _in_progress,
    "work_items_over_sle": _in_progress,
    "flow_distribution_in_progress": _in_progress,
    "failed_deployments": _deployments,
    "failed_deployment_attempts": _deployments,
    "deployment_attempt_failure_rate": _deployments,
    "data_quality": _data_quality,
}


def metric_key(name: str) -> str | None:
    """The explainer of a metric name, short or exposed: the longest known name it starts with
    (``streamgauge_change_failure_rate_window_ratio`` -> ``change_failure_rate``)."""
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

    def wanted(group: Group) -> bool:
        return team in (ALL, group[0]) and app in (ALL, group[1])

    out = EXPLAINERS[key](facts, windows[label], wanted)
    out.metric, out.team, out.app = key, team, app
    return out


def write_table(explanation: Explanation, out: TextIO, *, width: int | None = None) -> None:
    """The definition, the summary, and one row per record; durations as a person reads them
    (``3h 20m``), where ``--json`` keeps seconds."""
    e = explanation
    console = Console(file=out, width=width, highlight=False, markup=False, emoji=False)
    where = f"team={e.team} app={e.app}" + (f" window={e.window}" if e.window else "")
    console.print(f"{e.metric} ({where}): {e.definition}")
    console.print("  ".join(f"{k}={_cell(k, v)}" for k, v in e.summary.items()))
    console.print()
    if not e.rows:
        console.print("no records")
        return
    cells = {c: [_cell(c, row.get(c)) for row in e.rows] for c in e.columns}
    # Column choice: the first column (what the record is), then the narrowest others while
    # they fit the terminal with values unwrapped, shown in their order; what is left out is
    # named, and `--json` has it all.
    shown = [e.columns[0]]
    rest = sorted(e.columns[1:], key=lambda c: max(len(v) for v in [_header(c), *cells[c]]))
    for column in rest:
        candidate = [c for c in e.columns if c in shown or c == column]
        if _fits(_table(candidate, cells), console.width):
            shown = candidate
    console.print(_table(shown, cells))
    if len(shown) < len(e.columns):
        left = ", ".join(c for c in e.columns if c not in shown)
        console.print(f"not shown for the terminal's width: {left} (see --json)")


def _table(columns: list[str], cells: dict[str, list[str]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for column in columns:
        table.add_column(
            _header(column),
            justify="right" if column.endswith("_seconds") else "left",
            min_width=min(40, max(len(v) for v in cells[column])),
            overflow="fold",
        )
    for i in range(len(cells[columns[0]])):
        table.add_row(*(cells[c][i] for c in columns))
    return table


def _header(column: str) -> str:
    return column.removesuffix("_seconds").replace("_", " ")


def _fits(table: Table, width: int) -> bool:
    # measured on a console wide enough not to clamp the measurement to the terminal
    return Console(width=10_000).measure(table).minimum <= width


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_seconds") and isinstance(value, int | float):
        return ("-" if value < 0 else "") + human_duration(abs(value))
    if key.endswith("_at") and isinstance(value, str):
        return value.replace("T", " ")[:16]  # to the minute: the table is for reading
    if key.endswith("_ratio") and isinstance(value, int | float):
        return f"{value:.0%}"
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:.0f}"
        return f"{value:.4g}"
    return str(value)
