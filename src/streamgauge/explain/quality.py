"""Explanation of data quality: each record that could not be linked or mapped, with why."""

from __future__ import annotations

from collections import Counter

from streamgauge.explain.rows import Explanation, Query


def data_quality(q: Query) -> Explanation:
    rows = [
        {"reason": p.reason, "kind": p.record.kind, "record": p.record.id}
        for p in q.facts.problems
        if q.wanted(p.group)
    ]
    counts = Counter(row["reason"] for row in rows)
    return Explanation(
        "data_quality",
        "records that could not be linked or mapped, or whose times are impossible, each with "
        "its reason; the gauge counts them by reason",
        None,
        ["reason", "kind", "record"],
        rows,
        dict(sorted(counts.items())),
    )
