"""Where work sits in the value stream at any instant: each stage's visits and its queue.

A **visit** of a stage is a span of time a work item (tracker stages) or one of its changes
(delivery stages) spent in it; the item **arrives** at the stage when the visit begins and
**departs** when it ends. Its **queue** at an instant is what waits in it then, in the stage's
wait part, as the value-stream map counts wait time (:mod:`.stages`):

* tracker stages, from each item's status history (up to ``now``): from its creation the item is
  in the stage and state its first move left, then in those each move took it to; it is in the
  stage of its status (``unmapped`` without one) unless its state is ``done`` or ``canceled``,
  and queued there while its state is not ``active`` (``new`` or ``waiting``). Consecutive
  statuses of one stage are one visit. An item without a status history is in no stage.
* delivery stages, from each open or merged change naming the item's key (counted once per
  group, in the item's group; closed ones are left out: when they closed is not known), with
  milestones made monotone as for lead-time parts: ``coding`` from its first commit to its
  opening, ``pickup`` from its opening to its first review (its merge without one, still there
  while open without one), ``code_review`` from its first review to its merge (still there
  while open) and ``deploy`` from its merge to the end of the first production deployment that
  shipped it (still there until one did). ``pickup`` is the queue in front of code review:
  changes open without a review; ``deploy`` the merged changes not yet in production.
  ``coding`` and ``code_review`` are process stages: their queue is always empty.

A visit or a wait of no duration is none. Stage names outside the kept ones fold to ``other``.
Everything is placed by the instants of the records, so the queue at any earlier instant (the
start of a window) is read from the same rows as the queue at ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from streamgauge.linking import Links
from streamgauge.metrics.columns import micros
from streamgauge.metrics.dimensions import OTHER, Group
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.leadtime import milestones
from streamgauge.metrics.stages import UNMAPPED
from streamgauge.model import Change, ChangeState, FlowState

OPEN_END = int(np.iinfo(np.int64).max)  # the end of a visit or a wait still going on
_OUT = (FlowState.DONE, FlowState.CANCELED)
Int64s = npt.NDArray[np.int64]
Index = npt.NDArray[np.intp]


@dataclass(slots=True)
class Spans:
    """Visits (or waits) as columns: pair and stage codes, begin (included) and end
    (excluded) in microseconds since the epoch, and what was there (item key or change id)."""

    pair: Index
    stage: Index
    begin: Int64s
    end: Int64s
    what: list[str]

    @classmethod
    def of(cls, rows: list[tuple[int, int, int, int, str]]) -> Spans:
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty.astype(np.intp), empty.astype(np.intp), empty, empty.copy(), [])
        pair, stage, begin, end, what = zip(*rows, strict=True)
        return cls(
            np.array(pair, dtype=np.intp),
            np.array(stage, dtype=np.intp),
            np.array(begin, dtype=np.int64),
            np.array(end, dtype=np.int64),
            list(what),
        )

    def at(self, instant: datetime) -> Index:
        """The rows going on at ``instant``: begun by it and not ended."""
        t = micros(instant)
        return np.flatnonzero((self.begin <= t) & (self.end > t))


@dataclass(slots=True)
class Queues:
    """Every stage visit and every wait in a stage, with the names their codes stand for."""

    pairs: list[Group]
    stages: list[str]
    visits: Spans
    waits: Spans

    def counts(self, rows: Index, spans: Spans) -> npt.NDArray[np.int64]:
        """How many of ``rows`` of ``spans`` each (pair, stage) has: a pairs x stages matrix."""
        flat = spans.pair[rows] * len(self.stages) + spans.stage[rows]
        size = len(self.pairs) * len(self.stages)
        found = np.bincount(flat, minlength=size).astype(np.int64)
        return found.reshape(len(self.pairs), len(self.stages))

    def queued(self, instant: datetime) -> npt.NDArray[np.int64]:
        """The queue of each (pair, stage) at ``instant``."""
        return self.counts(self.waits.at(instant), self.waits)

    def moves(self, start: datetime, end: datetime) -> tuple[npt.NDArray[np.int64], ...]:
        """Arrivals and departures of each (pair, stage) in ``(start, end]``."""
        a, b = micros(start), micros(end)
        v = self.visits
        arrived = np.flatnonzero((v.begin > a) & (v.begin <= b))
        departed = np.flatnonzero((v.end > a) & (v.end <= b))
        return self.counts(arrived, v), self.counts(departed, v)


class _Builder:
    __slots__ = ("kept", "pairs", "stages", "visits", "waits")

    def __init__(self, kept: frozenset[str]) -> None:
        self.kept = kept
        self.pairs: dict[Group, int] = {}
        self.stages: dict[str, int] = {}
        self.visits: list[tuple[int, int, int, int, str]] = []
        self.waits: list[tuple[int, int, int, int, str]] = []

    def code(self, stage: str) -> int:
        name = stage if stage in self.kept else OTHER
        found = self.stages.get(name)
        if found is None:
            found = self.stages[name] = len(self.stages)
        return found

    def steps(self, pair: int, what: str, steps: Iterable[tuple[int, int | None, bool]]) -> None:
        """Visits and waits from (instant, stage code or None: in no stage, queued) steps, each
        lasting until the next (the last one until now and on)."""
        visit: tuple[int, int] | None = None  # (stage, since)
        wait: tuple[int, int] | None = None
        for t, stage, queued in steps:
            if visit is not None and visit[0] != stage:
                if t > visit[1]:
                    self.visits.append((pair, visit[0], visit[1], t, what))
                visit = None
            if visit is None and stage is not None:
                visit = (stage, t)
            waiting = stage if queued else None
            if wait is not None and wait[0] != waiting:
                if t > wait[1]:
                    self.waits.append((pair, wait[0], wait[1], t, what))
                wait = None
            if wait is None and waiting is not None:
                wait = (waiting, t)
        if visit is not None:
            self.visits.append((pair, visit[0], visit[1], OPEN_END, what))
        if wait is not None:
            self.waits.append((pair, wait[0], wait[1], OPEN_END, what))

    def tracker(self, pair: int, flow: ItemFlow) -> None:
        history = flow.history
        first = history[0]
        state = first.from_state or FlowState.NEW
        stage = self.code(first.from_stage or UNMAPPED) if state not in _OUT else None
        steps = [(micros(flow.item.created_at), stage, state is not FlowState.ACTIVE)]
        since = steps[0][0]
        for move in history:
            t = micros(move.at)
            since = t if t > since else since
            state = move.to_state
            stage = self.code(move.to_stage or UNMAPPED) if state not in _OUT else None
            steps.append((since, stage, state is not FlowState.ACTIVE))
        self.steps(pair, flow.item.key, steps)

    def delivery(self, pair: int, change: Change, links: Links) -> None:
        first_commit = change.first_commit_at or change.created_at
        opened, reviewed, merged = milestones(change, first_commit)
        steps: list[tuple[int, int | None, bool]] = [
            (micros(first_commit), self.code("coding"), False),
            (micros(opened), self.code("pickup"), True),
        ]
        if change.state is ChangeState.MERGED and change.merged_at is not None:
            if change.first_review_at is not None:
                steps.append((micros(reviewed), self.code("code_review"), False))
            steps.append((micros(merged), self.code("deploy"), True))
            shipped = links.shipping_deployment(change)
            if shipped is not None:
                end = shipped.finished_at or shipped.started_at
                steps.append((micros(end if end > merged else merged), None, False))
        elif change.first_review_at is not None:
            reviewed = max(opened, change.first_review_at)
            steps.append((micros(reviewed), self.code("code_review"), False))
        self.steps(pair, change.id, steps)


def queues_of(
    flows: Iterable[ItemFlow], changes: Iterable[Change], links: Links, kept: frozenset[str]
) -> Queues:
    """The visits and waits of every stage (see the module) of ``flows`` and of the
    ``changes`` naming their keys."""
    built = _Builder(kept)
    by_key: dict[str, list[Change]] = {}
    for change in changes:
        if change.state is not ChangeState.CLOSED:
            for key in change.work_item_keys:
                by_key.setdefault(key, []).append(change)
    seen: set[tuple[int, str]] = set()  # (pair, change id): a change counts once per pair
    for flow in flows:
        pair = built.pairs.get(flow.group)
        if pair is None:
            pair = built.pairs[flow.group] = len(built.pairs)
        if flow.history:
            built.tracker(pair, flow)
        for change in by_key.get(flow.item.key, ()):
            if (pair, change.id) not in seen:
                seen.add((pair, change.id))
                built.delivery(pair, change, links)
    return Queues(
        list(built.pairs), list(built.stages), Spans.of(built.visits), Spans.of(built.waits)
    )
