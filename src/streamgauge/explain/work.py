"""Explanations of the Flow families: the work items done in a window, those in progress now,
those older than the service-level expectation, and every item done over the whole history."""

from __future__ import annotations

import math
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
from streamgauge.metrics.catalog import DURATION_BUCKETS
from streamgauge.metrics.items import ItemFlow
from streamgauge.model import FlowState, FlowType


def _done(q: Query, *, in_window: bool) -> list[ItemFlow]:
    return [
        f
        for f in q.facts.flows
        if f.done_at is not None
        and (not in_window or q.window.contains(f.done_at))
        and q.wanted(f.group)
    ]


def done_items(q: Query) -> Explanation:
    facts, window = q.facts, q.window
    sle = q.settings.metrics.sle_age.total_seconds()
    streams = {s.flow.item.id: s for s in facts.streams}
    flows = _done(q, in_window=True)
    rows = []
    for f in flows:
        stream = streams.get(f.item.id)
        flow_time = f.flow_seconds or 0.0
        rows.append(
            {
                "item": f.item.key,
                "type": f.item.type.value,
                "started_at": iso(f.started_at),
                "done_at": iso(f.done_at),
                "flow_time_seconds": seconds(flow_time),
                "within_sle": flow_time <= sle,
                "active_seconds": seconds(f.active_seconds),
                "waiting_seconds": seconds(f.waiting_seconds),
                "stream_lead_time_seconds": seconds(stream.lead_seconds) if stream else None,
                "changes": ", ".join(f"{c.repo}#{c.number}" for c in stream.changes)
                if stream
                else "",
            }
        )
    rows.sort(key=lambda r: (r["done_at"], r["item"]))
    measured = [f for f in flows if f.active_seconds is not None]
    active = math.fsum([f.active_seconds or 0.0 for f in measured])
    spent = math.fsum([(f.active_seconds or 0.0) + (f.waiting_seconds or 0.0) for f in measured])
    types = Counter(f.item.type.value for f in flows)
    summary: dict[str, Any] = {
        "work_items": len(rows),
        "items_done_per_week": len(rows) / (window.days / 7.0),
        **quantile_summary("flow_time", (f.flow_seconds or 0.0 for f in flows)),
        "sle_seconds": sle,
        "within_sle_ratio": ratio(sum(1 for r in rows if r["within_sle"]), len(rows)),
        "flow_efficiency_ratio": ratio(active, spent) if spent > 0 else None,
    }
    for flow_type in FlowType:
        summary[f"{flow_type.value}_ratio"] = ratio(types[flow_type.value], len(rows))
    return Explanation(
        "work_items_done",
        "work items done in the window: flow time from first entry into active or waiting to "
        "done (within the service-level expectation or not), its active and waiting time, and "
        "the value-stream lead time; velocity is items per week, efficiency active over active "
        "plus waiting time, distribution each type's share",
        window.label,
        columns_of(rows, ["item", "flow_time_seconds"]),
        rows,
        summary,
    )


def _in_progress_rows(q: Query) -> list[dict[str, Any]]:
    now = q.facts.now
    sle = q.settings.metrics.sle_age.total_seconds()
    flows = sorted(
        (f for f in q.facts.flows if f.in_progress and q.wanted(f.group)),
        key=lambda f: (-(f.age_seconds(now) or 0.0), f.item.key),
    )
    rows = []
    for f in flows:
        age = f.age_seconds(now)
        rows.append(
            {
                "item": f.item.key,
                "type": f.item.type.value,
                "flow_state": f.state.value,
                "started_at": iso(f.started_at),
                "age_seconds": seconds(age),
                "over_sle": age is not None and age > sle,
                "over_sle_seconds": seconds(age - sle) if age is not None and age > sle else None,
            }
        )
    return rows


def in_progress(q: Query) -> Explanation:
    rows = _in_progress_rows(q)
    ages = [r["age_seconds"] for r in rows if r["age_seconds"] is not None]
    states = Counter(r["flow_state"] for r in rows)
    types = Counter(r["type"] for r in rows)
    rules = q.settings.metrics
    summary: dict[str, Any] = {
        "flow_load_items": len(rows),
        **{f"{s.value}_work_items": states[s.value] for s in (FlowState.ACTIVE, FlowState.WAITING)},
        **quantile_summary("age", ages),
        "oldest_age_seconds": max(ages) if ages else None,
        "sle_seconds": rules.sle_age.total_seconds(),
        "sle_ratio": rules.sle_percentile,
        "over_sle": sum(1 for r in rows if r["over_sle"]),
    }
    for flow_type in FlowType:
        summary[f"{flow_type.value}_ratio"] = ratio(types[flow_type.value], len(rows))
    return Explanation(
        "work_items_in_progress",
        "work items active or waiting now, oldest first: flow load, their ages, each type's "
        "share, and the service-level expectation (metrics.sle_age, metrics.sle_percentile)",
        None,
        ["item", "type", "flow_state", "started_at", "age_seconds", "over_sle"],
        rows,
        summary,
    )


def over_sle(q: Query) -> Explanation:
    rows = [r for r in _in_progress_rows(q) if r["over_sle"]]
    sle = q.settings.metrics.sle_age
    return Explanation(
        "work_items_over_sle",
        f"work items in progress now older than the service-level expectation "
        f"(metrics.sle_age: {format_duration(sle)}), oldest first, with how much older",
        None,
        ["item", "type", "flow_state", "started_at", "age_seconds", "over_sle_seconds"],
        rows,
        {"work_items_over_sle": len(rows), "sle_seconds": sle.total_seconds()},
    )


def flow_history(q: Query) -> Explanation:
    flows = sorted(_done(q, in_window=False), key=lambda f: (f.done_at, f.item.key))
    rows = [
        {
            "item": f.item.key,
            "type": f.item.type.value,
            "done_at": iso(f.done_at),
            "flow_time_seconds": seconds(f.flow_seconds or 0.0),
        }
        for f in flows
    ]
    types = Counter(r["type"] for r in rows)
    summary: dict[str, Any] = {f"{t.value}_done": types[t.value] for t in FlowType}
    summary |= histogram_summary([f.flow_seconds or 0.0 for f in flows], DURATION_BUCKETS)
    return Explanation(
        "flow_history",
        "every work item done by now, whole stored history: the done counter by type, the "
        "flow-time histogram's buckets (le, cumulative, every type), count and sum",
        None,
        ["item", "type", "done_at", "flow_time_seconds"],
        rows,
        summary,
    )
