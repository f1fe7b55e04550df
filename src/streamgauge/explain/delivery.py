"""Explanations of the DORA families: production deployments, their days, failures, recoveries,
changes and their lead times, incidents and whom they are blamed on, and performance levels."""

from __future__ import annotations

from collections import Counter
from typing import Any

from streamgauge.config import format_duration
from streamgauge.explain.rows import (
    Explanation,
    Query,
    columns_of,
    histogram_summary,
    iso,
    quantile_summary,
    ratio,
    seconds,
)
from streamgauge.linking import is_production
from streamgauge.metrics.catalog import DURATION_BUCKETS, RECOVERY_BUCKETS
from streamgauge.metrics.delivery import FAILURE_REASONS, rework_reasons
from streamgauge.metrics.deployments import DeploymentOutcome
from streamgauge.metrics.dimensions import LabelFolder
from streamgauge.metrics.leadtime import PARTS
from streamgauge.metrics.levels import load_table
from streamgauge.model import Incident, RunResult


def deployments(q: Query) -> Explanation:
    facts, window = q.facts, q.window
    rows = []
    for o in facts.dora.outcomes:
        if o.ended_at is None or not window.contains(o.ended_at) or not q.wanted(o.group):
            continue
        blamed = [i.key for i in facts.links.incidents_of.get(o.deployment.id, ())]
        rows.append(
            {
                "deployment": o.deployment.id,
                "app": o.deployment.app,
                "ended_at": iso(o.ended_at),
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
        "change_failure_rate_ratio": ratio(failed, reached),
        "failed_deployment_attempts": attempts,
        "deployment_attempt_failure_rate_ratio": ratio(attempts, len(rows)),
        "rework_deployments": rework,
        "deployment_rework_rate_ratio": ratio(rework, len(rows)),
        "successful_deployments": successes,
        "window_days": window.days,
        "deployments_per_day": successes / window.days,
    }
    return Explanation(
        "deployments",
        "production deployments that ended in the window; failed attempt = result failure (in "
        "the failure rate only under metrics.failed_attempts_are_failures); failed = rolled "
        "back, followed by a hotfix or caused an incident that counts; below_min_severity = "
        "incidents blamed on it under metrics.incident_min_severity; rework = hotfix, rollback "
        "or incident fix; deployments per day = successful ones over the window's days",
        window.label,
        [
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
            "rework",
        ],
        rows,
        summary,
    )


def deployment_days(q: Query) -> Explanation:
    window = q.window
    per_day: Counter[str] = Counter()
    for o in q.facts.dora.outcomes:
        if (
            o.ended_at is not None
            and window.contains(o.ended_at)
            and q.wanted(o.group)
            and o.deployment.result is RunResult.SUCCESS
        ):
            per_day[o.ended_at.date().isoformat()] += 1
    rows = [{"day": day, "successful_deployments": n} for day, n in sorted(per_day.items())]
    return Explanation(
        "deployment_days",
        "the UTC days of the window on which at least one successful production deployment "
        "ended; the ratio is those days over the window's length in days",
        window.label,
        ["day", "successful_deployments"],
        rows,
        {
            "deployment_days": len(rows),
            "window_days": window.days,
            "deployment_days_ratio": len(rows) / window.days,
        },
    )


def recoveries(q: Query) -> Explanation:
    window = q.window
    rows = [
        _recovery_row(o)
        for o in q.facts.dora.outcomes
        if o.recovery_seconds is not None and window.contains(o.recovered_at) and q.wanted(o.group)
    ]
    rows.sort(key=lambda r: (r["recovered_at"], r["deployment"]))
    return Explanation(
        "failed_deployment_recovery_time",
        "failed production deployments whose recovery falls in the window, with the time from "
        f"the failed deployment's end to the recovery (metrics.recovery: "
        f"{q.settings.metrics.recovery})",
        window.label,
        ["deployment", "app", "ended_at", "why", "recovered_at", "recovery_seconds"],
        rows,
        {
            "recovered_deployments": len(rows),
            **quantile_summary(
                "failed_deployment_recovery_time", (r["recovery_seconds"] for r in rows)
            ),
        },
    )


def _recovery_row(o: DeploymentOutcome) -> dict[str, Any]:
    return {
        "deployment": o.deployment.id,
        "app": o.deployment.app,
        "ended_at": iso(o.ended_at),
        "why": ", ".join(o.failure_reasons),
        "recovered_at": iso(o.recovered_at),
        "recovery_seconds": seconds(o.recovery_seconds),
    }


def lead_times(q: Query) -> Explanation:
    rows = _lead_rows(q, in_window=True)
    summary: dict[str, Any] = {
        "changes": len(rows),
        **quantile_summary("lead_time", (r["lead_time_seconds"] for r in rows)),
    }
    for part in PARTS:
        summary.update(quantile_summary(part, (r[f"{part}_seconds"] for r in rows)))
    return Explanation(
        "change_lead_time",
        "changes (and direct pushes) first deployed to production in the window: first commit "
        "to that deployment's end, split into coding, pickup, review and deploy",
        q.window.label,
        columns_of(rows, ["change", "lead_time_seconds"]),
        rows,
        summary,
    )


def _lead_rows(q: Query, *, in_window: bool) -> list[dict[str, Any]]:
    rows = []
    for lt in q.facts.dora.lead_times:
        if (in_window and not q.window.contains(lt.deployed_at)) or not q.wanted(lt.group):
            continue
        row: dict[str, Any] = {
            "change": lt.reference,
            "direct_push": lt.change is None,
            "deployment": lt.deployment.id,
            "started_at": iso(lt.started_at),
            "deployed_at": iso(lt.deployed_at),
            "lead_time_seconds": seconds(lt.seconds),
        }
        for part, value in zip(PARTS, lt.parts, strict=True):
            row[f"{part}_seconds"] = seconds(value)
        rows.append(row)
    rows.sort(key=lambda r: (r["deployed_at"], r["change"]))
    return rows


def deployments_history(q: Query) -> Explanation:
    rows: list[dict[str, Any]] = []
    for o in q.facts.dora.outcomes:
        if o.ended_at is None or not q.wanted(o.group):
            continue
        rows.append(
            {
                "deployment": o.deployment.id,
                "app": o.deployment.app,
                "ended_at": iso(o.ended_at),
                "result": o.deployment.result.value,
                "why": ", ".join(o.failure_reasons),
            }
        )
    rows.sort(key=lambda r: (r["ended_at"], r["deployment"]))
    results = Counter(r["result"] for r in rows)
    reasons = Counter(reason for r in rows for reason in r["why"].split(", ") if reason)
    summary: dict[str, Any] = {f"{r.value}_deployments": results[r.value] for r in RunResult}
    summary |= {f"failed_{reason}_deployments": reasons[reason] for reason in FAILURE_REASONS}
    return Explanation(
        "deployments_history",
        "every production deployment that ended by now, whole stored history: the deployments "
        "counter by result, the failed-deployments counter once under each reason",
        None,
        ["deployment", "app", "ended_at", "result", "why"],
        rows,
        {k: v for k, v in summary.items() if v or k.startswith(("success", "failed_"))},
    )


def lead_time_history(q: Query) -> Explanation:
    rows = _lead_rows(q, in_window=False)
    values = [r["lead_time_seconds"] for r in rows]
    return Explanation(
        "change_lead_time_history",
        "every change (and direct push) deployed to production by now, whole stored history: "
        "the lead-time histogram's buckets (le, cumulative), count and sum",
        None,
        columns_of(rows, ["change", "lead_time_seconds"]),
        rows,
        {"changes": len(rows), **histogram_summary(values, DURATION_BUCKETS)},
    )


def recovery_history(q: Query) -> Explanation:
    rows = [
        _recovery_row(o)
        for o in q.facts.dora.outcomes
        if o.recovery_seconds is not None and q.wanted(o.group)
    ]
    rows.sort(key=lambda r: (r["recovered_at"], r["deployment"]))
    values = [r["recovery_seconds"] for r in rows]
    return Explanation(
        "failed_deployment_recovery_history",
        "every recovery of a failed production deployment known by now, whole stored history: "
        "the recovery histogram's buckets (le, cumulative), count and sum",
        None,
        ["deployment", "app", "ended_at", "why", "recovered_at", "recovery_seconds"],
        rows,
        {"recovered_deployments": len(rows), **histogram_summary(values, RECOVERY_BUCKETS)},
    )


def incidents(q: Query) -> Explanation:
    facts = q.facts
    links = facts.links
    rows = []
    for incident in _incidents(q):
        blamed = links.blame.get(incident.id)
        rows.append(
            {
                "incident": incident.key,
                "app": incident.app,
                "opened_at": iso(incident.opened_at),
                "resolved_at": iso(incident.resolved_at),
                "severity": incident.severity.value,
                "blamed_on": blamed.id if blamed is not None else None,
                "counted": blamed is not None and is_production(blamed),
                "why": _blame_reason(q, incident),
            }
        )
    rows.sort(key=lambda r: (r["opened_at"], r["incident"]))
    counted = sum(1 for r in rows if r["counted"])
    return Explanation(
        "incidents",
        "incidents opened in the window, the production deployment each is blamed on, or why "
        f"none is (metrics.incident_window: {format_duration(q.settings.metrics.incident_window)})",
        q.window.label,
        ["incident", "app", "opened_at", "severity", "blamed_on", "counted", "why"],
        rows,
        {"incidents": len(rows), "blamed": counted, "unattributed": len(rows) - counted},
    )


def _incidents(q: Query) -> list[Incident]:
    """The incidents opened in the window, of the group asked about (by their app's group)."""
    fold = LabelFolder.from_settings(q.settings)
    found: dict[str, Incident] = {}
    for dep_incidents in q.facts.links.incidents_of.values():
        for i in dep_incidents:
            found[i.id] = i
    for p in q.facts.problems:
        if isinstance(p.record, Incident):
            found[p.record.id] = p.record
    return [
        i
        for i in found.values()
        if q.window.contains(i.opened_at) and q.wanted(fold.pair(i.team, i.app))
    ]


def _blame_reason(q: Query, incident: Incident) -> str:
    links = q.facts.links
    blamed = links.blame.get(incident.id)
    window = format_duration(q.settings.metrics.incident_window)
    if blamed is not None:
        if not is_production(blamed):
            return (
                f"its deployment_id names {blamed.id}, a deployment to {blamed.environment}, "
                "not production: counted in no DORA number"
            )
        if incident.id in links.blame_explicit:
            return "its deployment_id names this deployment"
        return f"the app's latest successful production deployment, within {window} before it"
    if incident.deployment_id:
        return f"its deployment_id {incident.deployment_id} names no stored deployment"
    if incident.app is None:
        return "it names no app and no deployment"
    if incident.app not in links.app_finishes:
        return f"app {incident.app} has no successful production deployment"
    return f"no successful production deployment of {incident.app} in the {window} before it"


def levels(q: Query) -> Explanation:
    """Each rated metric's value, recomputed from its own explanation, and the level it reaches
    under the benchmark table, with the bound that decided it."""
    table = load_table(q.settings.metrics.levels_table)
    d = deployments(q).summary
    lt = lead_times(q).summary
    rec = recoveries(q).summary
    values: dict[str, float | None] = {
        # a group with production deployments has a frequency in every window, 0 included
        "deployment_frequency": d["deployments_per_day"]
        if any(q.wanted(o.group) for o in q.facts.dora.outcomes)
        else None,
        "change_lead_time": lt.get("lead_time_p50_seconds"),
        "change_failure_rate": d["change_failure_rate_ratio"],
        "failed_deployment_recovery_time": rec.get("failed_deployment_recovery_time_p50_seconds"),
    }
    rows = []
    for metric, value in values.items():
        rated = table.metrics.get(metric)
        if rated is None or value is None:
            continue
        reached = rated.rate(value)
        bound = dict(rated.levels)[reached]
        rows.append(
            {
                "metric": metric,
                "value": value,
                "level": reached,
                "bound": bound,
                "rule": ("at least" if rated.higher_is_better else "at most")
                if bound is not None
                else "none of the bounds above",
            }
        )
    return Explanation(
        "levels",
        f"the level each DORA metric of the window reaches under {table.name} ({table.source}): "
        "the first level, best first, whose bound the value meets",
        q.window.label,
        ["metric", "value", "level", "rule", "bound"],
        rows,
        {"levels_table": table.name},
    )
