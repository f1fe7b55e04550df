"""Explanation of the bottleneck: each stage's evidence over the window, the stage named and the
rule that named it, and what waits in front of the named stage now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streamgauge.explain.rows import Explanation, Query, iso
from streamgauge.metrics.bottleneck import bottlenecks
from streamgauge.metrics.frames import StageRows, stream_frame
from streamgauge.metrics.queues import Queues, queues_of
from streamgauge.metrics.stage_metrics import kept_names
from streamgauge.metrics.stage_order import stage_order

_COLUMNS = [
    "stage",
    "order",
    "queue",
    "queue_at_start",
    "queue_trend",
    "arrivals",
    "departures",
    "growing",
    "wait_seconds",
    "wait_share",
    "complete_accurate_ratio",
    "bottleneck",
]


def bottleneck(q: Query) -> Explanation:
    facts, window = q.facts, q.window
    rules = q.settings.metrics
    # the stages folded and ordered as the snapshot has them: over every done item's stream
    kept = kept_names(facts.streams, rules.stage_labels)
    order = stage_order(facts.streams, rules.stage_order) if facts.streams else []
    streams = stream_frame(facts.streams)
    rows = StageRows.of(streams.facts, kept)
    queues = queues_of(facts.flows, facts.changes, facts.links, kept, window.start)
    found = bottlenecks(streams, rows, queues, [window], order, facts.now, (q.team, q.app))
    out: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"bottleneck": None, "rule": None}
    tables: dict[str, list[dict[str, Any]]] = {}
    if found:
        named = found[0]
        summary = {"bottleneck": named.stage, "rule": named.rule}
        for e in named.stages:
            out.append(
                {
                    "stage": e.stage,
                    "order": e.order,
                    "queue": e.queue,
                    "queue_at_start": e.queue_at_start,
                    "queue_trend": e.trend,
                    "arrivals": e.arrivals,
                    "departures": e.departures,
                    "growing": e.growing,
                    "wait_seconds": e.wait_seconds,
                    "wait_share": e.wait_share,
                    "complete_accurate_ratio": e.complete_accurate,
                    "bottleneck": e.bottleneck,
                }
            )
        tables["queued"] = _queued(q, queues, named.stage, facts.now)
    return Explanation(
        "bottleneck",
        "per stage of the stream (stream order): the queue (items waiting in the stage; changes "
        "open without a review in pickup, merged ones not in production in deploy) now and at "
        "the window's start, arrivals and departures in the window, and its share of the wait "
        "time of the items done in the window; a queue grows when its trend is above 0 while "
        "departures are fewer than arrivals. The bottleneck: the largest growing queue, else "
        "the highest wait share, then the lowest %C&A, then stream order; queued lists what "
        "waits in front of it now",
        window.label,
        _COLUMNS,
        out,
        summary,
        tables,
    )


def _queued(q: Query, queues: Queues, stage: str, now: datetime) -> list[dict[str, Any]]:
    """What waits in ``stage`` at ``now`` in the group asked about, oldest first."""
    if stage not in queues.stages:
        return []
    code = queues.stages.index(stage)
    waits = queues.waits
    found = []
    for i in waits.at(now).tolist():
        if waits.stage[i] == code and q.wanted(queues.pairs[waits.pair[i]]):
            found.append((int(waits.begin[i]), queues.names[waits.what[i]]))
    found.sort()
    return [{"what": what, "waiting_since": iso(_instant(begin))} for begin, what in found]


def _instant(us: int) -> datetime:
    """The instant of whole microseconds since the epoch."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
