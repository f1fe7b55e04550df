"""The bottleneck of each value stream: the one stage work piles up in front of.

Per group (the whole, each team, each pair) and window ``(now - w, now]``, the **stages** are
those of the group's value-stream map in the window (every stage the items done in the window
spent time in or entered, :mod:`.stage_metrics`). For each, from :mod:`.queues`:

* **queue**: what waits in the stage at ``now``; **queue trend**: the queue at ``now`` minus
  the queue at the window's start ``now - w``;
* **arrivals** and **departures**: visits of the stage that began, and that ended, in the window;
* **wait share**: the stage's wait time over the wait time of every stage, of the items done in
  the window (the ``part="wait"`` of the stage-time family; 0 when nothing waited);
* **%C&A** as the map has it (a stage without one ranks as 1).

A stage's queue **grows** when its trend is above 0 while its departures are fewer than its
arrivals. The **bottleneck** is the first stage of this ranking: when any queue grows, the
growing stages only, the largest queue first, then the highest wait share; else every stage by
the highest wait share; ties then go to the lowest %C&A, then to the first in stream order. The
**rule** that named it is the first of those keys on which it beats the runner-up
(``growing_queue`` when it is the only growing stage). Exactly one stage per group and window
with a stage is named, with ``1``; the others get no bottleneck sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt

from streamgauge.linking import Links
from streamgauge.metrics.columns import Frame, exact_sum
from streamgauge.metrics.dimensions import ALL, Group, all_groups
from streamgauge.metrics.frames import Frames, StageRows
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.queues import Queues, queues_of
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.stage_order import order_of
from streamgauge.metrics.stages import WAIT, ItemStream
from streamgauge.metrics.windows import Window
from streamgauge.model import Change

BOTTLENECK = "streamgauge_value_stream_bottleneck"
WAIT_SHARE = "streamgauge_value_stream_stage_wait_share_window_ratio"
QUEUE = "streamgauge_value_stream_stage_queue_items"
QUEUE_TREND = "streamgauge_value_stream_stage_queue_trend_window_items"
ARRIVALS = "streamgauge_value_stream_stage_arrivals_window_items"
DEPARTURES = "streamgauge_value_stream_stage_departures_window_items"

GROWING_QUEUE, WAIT_SHARE_RULE = "growing_queue", "wait_share"
COMPLETE_ACCURATE, STREAM_ORDER = "complete_accurate", "stream_order"
Counts = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class StageEvidence:
    """What one stage of one group's stream shows over one window."""

    stage: str
    order: int  # position in stream order
    queue: int  # at now
    queue_at_start: int  # at the window's start
    arrivals: int
    departures: int
    wait_seconds: float  # of the items done in the window, summed
    wait_share: float
    complete_accurate: float | None
    bottleneck: bool = False

    @property
    def trend(self) -> int:
        return self.queue - self.queue_at_start

    @property
    def growing(self) -> bool:
        return self.trend > 0 and self.departures < self.arrivals


@dataclass(frozen=True, slots=True)
class StreamBottleneck:
    """One group's stream over one window: every stage's evidence, the one named, and why."""

    group: Group
    window: str
    stages: tuple[StageEvidence, ...]  # in stream order, the named one flagged
    stage: str
    rule: str


def _ranks(stage: StageEvidence, growing: bool) -> tuple[tuple[str, float | tuple[int, str]], ...]:
    """The keys ``stage`` is ranked by (lowest first), each with the rule it stands for."""
    ca = 1.0 if stage.complete_accurate is None else stage.complete_accurate
    keys: tuple[tuple[str, float | tuple[int, str]], ...] = (
        (WAIT_SHARE_RULE, -stage.wait_share),
        (COMPLETE_ACCURATE, ca),
        (STREAM_ORDER, (stage.order, stage.stage)),
    )
    return ((GROWING_QUEUE, float(-stage.queue)), *keys) if growing else keys


def name_bottleneck(stages: Sequence[StageEvidence]) -> tuple[str, str]:
    """The stage named the bottleneck among ``stages`` (one at least) and the rule that did."""
    growing = [s for s in stages if s.growing]
    pool = growing or list(stages)
    ranked = sorted(pool, key=lambda s: [key for _, key in _ranks(s, bool(growing))])
    first = ranked[0]
    if len(ranked) == 1:
        return first.stage, GROWING_QUEUE if growing else WAIT_SHARE_RULE
    ahead, behind = _ranks(first, bool(growing)), _ranks(ranked[1], bool(growing))
    rule = next(r for (r, a), (_, b) in zip(ahead, behind, strict=True) if a != b)
    return first.stage, rule


def bottlenecks(
    streams: Frame[ItemStream],
    rows: StageRows,
    queues: Queues,
    windows: Sequence[Window],
    order: Sequence[str],
    now: datetime,
    wanted: Group | None = None,
) -> list[StreamBottleneck]:
    """The named stage of every group with a stream in each window (only ``wanted``, if given),
    in window then group order."""
    groups = sorted(all_groups(streams.pairs)) if wanted is None else [wanted]
    # which pairs each group sums: a groups x pairs matrix
    member = np.array(
        [[t in (ALL, p[0]) and a in (ALL, p[1]) for p in queues.pairs] for t, a in groups],
        dtype=np.int64,
    ).reshape(len(groups), len(queues.pairs))
    queue_now = _by_group(member, queues.queued(now), groups)
    code = {stage: i for i, stage in enumerate(queues.stages)}
    out: list[StreamBottleneck] = []
    for window in windows:
        found = streams.by_group(streams.within(window))
        queue_start = _by_group(member, queues.queued(window.start), groups)
        arrived, departed = (
            _by_group(member, m, groups) for m in queues.moves(window.start, window.end)
        )
        for group in groups:
            members = found.get(group)
            if members is None or not len(members):
                continue
            wait, accurate = _stream_stages(streams, rows, members)
            total_wait = exact_sum(np.array(list(wait.values()), dtype=np.float64))
            evidence = []
            for stage in sorted(set(wait) | set(accurate), key=lambda s: (order_of(order, s), s)):
                i = code.get(stage)
                now_, start_, in_, out_ = (
                    (int(m[group][i]) for m in (queue_now, queue_start, arrived, departed))
                    if i is not None
                    else (0, 0, 0, 0)
                )
                evidence.append(
                    StageEvidence(
                        stage,
                        order_of(order, stage),
                        now_,
                        start_,
                        in_,
                        out_,
                        wait.get(stage, 0.0),
                        wait.get(stage, 0.0) / total_wait if total_wait > 0 else 0.0,
                        accurate.get(stage),
                    )
                )
            if not evidence:  # items done without a stage: no stream to name one in
                continue
            named, rule = name_bottleneck(evidence)
            flagged = tuple(replace(e, bottleneck=e.stage == named) for e in evidence)
            out.append(StreamBottleneck(group, window.label, flagged, named, rule))
    return out


def _by_group(member: Counts, matrix: Counts, groups: Sequence[Group]) -> dict[Group, Counts]:
    """Each group's row: the sum of its pairs' rows (``member``) of a pairs x stages
    ``matrix``."""
    return dict(zip(groups, member @ matrix, strict=True))


def _stream_stages(
    streams: Frame[ItemStream], rows: StageRows, members: npt.NDArray[np.intp]
) -> tuple[dict[str, float], dict[str, float]]:
    """The stages of the streams ``members``: each one's wait seconds (every stage they spent
    time in, 0 for process only) and each entered one's %C&A."""
    member = np.zeros(len(streams), dtype=np.bool_)
    member[members] = True
    timed = np.flatnonzero(member[rows.time_stream])
    wait: dict[str, float] = {}
    for key in np.unique(rows.time_key[timed]).tolist():
        stage, part = rows.time_keys[key]
        seconds = exact_sum(rows.seconds[timed[rows.time_key[timed] == key]]) if part == WAIT else 0
        wait[stage] = wait.get(stage, 0.0) + seconds
    visited = np.flatnonzero(member[rows.visit_stream])
    entered = np.bincount(rows.visit_stage[visited], minlength=len(rows.stages))
    good = np.bincount(
        rows.visit_stage[visited], weights=rows.accurate[visited], minlength=len(rows.stages)
    )
    accurate = {rows.stages[i]: float(good[i] / entered[i]) for i in np.flatnonzero(entered)}
    return wait, accurate


def add_bottleneck_metrics(
    snapshot: Snapshot,
    flows: Sequence[ItemFlow],
    changes: Iterable[Change],
    links: Links,
    frames: Frames,
    windows: Sequence[Window],
    order: Sequence[str],
    kept: frozenset[str],
    now: datetime,
) -> None:
    """The bottleneck families (see the module) of every group with a stream."""
    if not len(frames.streams) or not windows:
        return
    queues = queues_of(flows, changes, links, kept, min(w.start for w in windows))
    shown: dict[Group, dict[str, int]] = {}
    for found in bottlenecks(frames.streams, frames.stages, queues, windows, order, now):
        team, app = found.group
        common = {"team": team, "app": app, "window": found.window}
        snapshot.add(BOTTLENECK, 1, **common, stage=found.stage)
        for e in found.stages:
            snapshot.add(WAIT_SHARE, e.wait_share, **common, stage=e.stage)
            snapshot.add(QUEUE_TREND, e.trend, **common, stage=e.stage)
            snapshot.add(ARRIVALS, e.arrivals, **common, stage=e.stage)
            snapshot.add(DEPARTURES, e.departures, **common, stage=e.stage)
            shown.setdefault(found.group, {})[e.stage] = e.queue
    for (team, app), queued in sorted(shown.items()):
        for stage in sorted(queued, key=lambda s: (order_of(order, s), s)):
            snapshot.add(QUEUE, queued[stage], team=team, app=app, stage=stage)
