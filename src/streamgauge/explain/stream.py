"""Explanation of the value-stream map: each item's stage path with its process and wait time
and the stages it came back to, and per stage where its time and its %C&A come from."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from streamgauge.explain.rows import Explanation, Query, iso, quantile_summary, ratio, seconds
from streamgauge.metrics.stage_metrics import kept_names
from streamgauge.metrics.stage_order import order_of, stage_order, stage_path
from streamgauge.metrics.stages import DELIVERY, PROCESS, WAIT


def value_stream(q: Query) -> Explanation:
    facts, window = q.facts, q.window
    rules = q.settings.metrics
    # stage names folded as the snapshot folds them: over every done item's stream
    kept = kept_names(facts.streams, rules.stage_labels)
    order = stage_order(facts.streams, rules.stage_order)
    streams = [
        s
        for s in facts.streams
        if s.flow.done_at is not None and window.contains(s.flow.done_at) and q.wanted(s.flow.group)
    ]
    streams.sort(key=lambda s: (s.flow.done_at, s.flow.item.key))
    spent: dict[tuple[str, str], list[float]] = defaultdict(list)
    entered: dict[str, int] = defaultdict(int)
    good: dict[str, int] = defaultdict(int)
    rows = []
    for s in streams:
        times, accurate = s.fold(kept)
        for key, value in times.items():
            spent[key].append(value)
        for stage, ok in accurate.items():
            entered[stage] += 1
            good[stage] += ok
        delivery = [d for d in DELIVERY if (d, PROCESS) in times or (d, WAIT) in times]
        rows.append(
            {
                "item": s.flow.item.key,
                "done_at": iso(s.flow.done_at),
                "path": " > ".join([*stage_path(s.flow.history), *delivery]),
                "process_seconds": seconds(s.process_seconds),
                "wait_seconds": seconds(s.lead_seconds - s.process_seconds),
                "lead_time_seconds": seconds(s.lead_seconds),
                "came_back_to": ", ".join(
                    _ordered([k for k, ok in accurate.items() if not ok], order)
                ),
            }
        )
    n = len(streams)
    names = _ordered({stage for stage, _ in spent} | set(entered), order)
    stages: list[dict[str, Any]] = []
    rolled = 1.0
    for stage in names:
        ca = ratio(good[stage], entered[stage])
        if ca is not None:
            rolled *= ca
        stages.append(
            {
                "stage": stage,
                "order": order_of(order, stage),
                "process_seconds": math.fsum(spent.get((stage, PROCESS), [])) / n,
                "wait_seconds": math.fsum(spent.get((stage, WAIT), [])) / n,
                "entered": entered[stage],
                "complete_accurate": good[stage],
                "complete_accurate_ratio": ca,
            }
        )
    lead_total = math.fsum([s.lead_seconds for s in streams])
    process = math.fsum([s.process_seconds for s in streams])
    summary: dict[str, Any] = {
        "work_items": n,
        "complete_accurate_ratio": rolled if n else None,
        "efficiency_ratio": process / lead_total if lead_total > 0 else None,
        **quantile_summary("lead_time", (s.lead_seconds for s in streams)),
    }
    return Explanation(
        "value_stream",
        "work items done in the window, each with its stage path (a stage shown twice was come "
        "back to), process and wait time and the stages it came back to or left backward; per "
        "stage (stream order): the mean time per item and %C&A = items that left it forward "
        "and never came back over items that entered it; rolled %C&A is their product",
        window.label,
        [
            "item",
            "done_at",
            "path",
            "process_seconds",
            "wait_seconds",
            "lead_time_seconds",
            "came_back_to",
        ],
        rows,
        summary,
        {"stages": stages} if n else {},
    )


def _ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    return sorted(names, key=lambda s: (order_of(order, s), s))
