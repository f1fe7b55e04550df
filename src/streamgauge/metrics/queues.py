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
  An item's tracker stages and its changes' delivery stages are counted each on its own.

A visit or a wait of no duration is none. Stage names outside the kept ones fold to ``other``.
Everything is placed by the instants of the records, so the queue at any earlier instant (the
start of a window) is read from the same rows as the queue at ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from streamgauge.linking import Links
from streamgauge.metrics.columns import micros
from streamgauge.metrics.dimensions import OTHER, Group
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.stages import UNMAPPED
from streamgauge.model import Change, ChangeState, FlowState

OPEN_END = int(np.iinfo(np.int64).max)  # the end of a visit or a wait still going on
Int64s = npt.NDArray[np.int64]
Index = npt.NDArray[np.intp]
Counts = npt.NDArray[np.int64]

# What a step of a stream puts the item or change in: no stage, a stage's wait, its process.
_OUT, _QUEUED, _PROCESS = 0, 1, 2
_KIND = {
    FlowState.NEW: _QUEUED,
    FlowState.WAITING: _QUEUED,
    FlowState.ACTIVE: _PROCESS,
    FlowState.DONE: _OUT,
    FlowState.CANCELED: _OUT,
}
_ENDED = (FlowState.DONE, FlowState.CANCELED)
_AT, _TO_STAGE, _TO_STATE = attrgetter("at"), attrgetter("to_stage"), attrgetter("to_state")


@dataclass(slots=True)
class Spans:
    """Visits (or waits) as columns: pair and stage codes, begin (included) and end
    (excluded) in microseconds since the epoch, and what was there (an index into
    :attr:`Queues.names`)."""

    pair: Index
    stage: Index
    begin: Int64s
    end: Int64s
    what: Index

    def at(self, instant: datetime) -> Index:
        """The rows going on at ``instant``: begun by it and not ended."""
        t = micros(instant)
        return np.flatnonzero((self.begin <= t) & (self.end > t))


@dataclass(slots=True)
class Queues:
    """Every stage visit and every wait in a stage, with the names their codes stand for:
    pairs, stages, and what was there (item keys, change ids)."""

    pairs: list[Group]
    stages: list[str]
    names: list[str]
    visits: Spans
    waits: Spans

    def counts(self, rows: Index, spans: Spans) -> Counts:
        """How many of ``rows`` of ``spans`` each (pair, stage) has: a pairs x stages matrix."""
        flat = spans.pair[rows] * len(self.stages) + spans.stage[rows]
        size = len(self.pairs) * len(self.stages)
        found = np.bincount(flat, minlength=size).astype(np.int64)
        return found.reshape(len(self.pairs), len(self.stages))

    def queued(self, instant: datetime) -> Counts:
        """The queue of each (pair, stage) at ``instant``."""
        return self.counts(self.waits.at(instant), self.waits)

    def moves(self, start: datetime, end: datetime) -> tuple[Counts, Counts]:
        """Arrivals and departures of each (pair, stage) in ``(start, end]``."""
        a, b = micros(start), micros(end)
        v = self.visits
        arrived = np.flatnonzero((v.begin > a) & (v.begin <= b))
        departed = np.flatnonzero((v.end > a) & (v.end <= b))
        return self.counts(arrived, v), self.counts(departed, v)


def queues_of(
    flows: Iterable[ItemFlow],
    changes: Iterable[Change],
    links: Links,
    kept: frozenset[str],
    since: datetime,
) -> Queues:
    """The visits and waits of every stage (see the module) of ``flows`` and of the
    ``changes`` naming their keys, but those of items and changes out of every stage by
    ``since`` (the earliest instant asked about: no count from then on sees them)."""
    by_key: dict[str, list[Change]] = {}
    for change in changes:
        if change.state is not ChangeState.CLOSED and not _shipped_by(change, links, since):
            for key in change.work_item_keys:
                by_key.setdefault(key, []).append(change)
    pairs: dict[Group, int] = {}
    names: list[str] = []
    owner_pair: list[int] = []  # each owner's pair: items with a history, then changes
    # the tracker steps, owner by owner: when, to which stage (None: unmapped), in what state
    ats: list[datetime] = []
    stages: list[str | None] = []
    states: list[FlowState] = []
    steps: list[int] = []  # how many each owner has
    linked: list[Change] = []
    linked_pair: list[int] = []
    seen: set[tuple[int, str]] = set()  # (pair, change id): a change counts once per pair
    for flow in flows:
        pair = pairs.get(flow.group)
        if pair is None:
            pair = pairs[flow.group] = len(pairs)
        history = flow.history
        if history and not (flow.state in _ENDED and history[-1].at <= since):
            first = history[0]
            steps.append(len(history) + 1)
            names.append(flow.item.key)
            owner_pair.append(pair)
            ats.append(flow.item.created_at)
            ats.extend(map(_AT, history))
            stages.append(first.from_stage)
            stages.extend(map(_TO_STAGE, history))
            states.append(first.from_state or FlowState.NEW)
            states.extend(map(_TO_STATE, history))
        for change in by_key.get(flow.item.key, ()):
            if (pair, change.id) not in seen:
                seen.add((pair, change.id))
                linked.append(change)
                linked_pair.append(pair)
    codes: dict[str, int] = {}
    lookup = {name: _code(codes, name or UNMAPPED, kept) for name in set(stages)}
    at = np.fromiter(map(micros, ats), np.int64, len(ats))
    counts = np.array(steps, dtype=np.intp)
    owner = np.repeat(np.arange(len(counts), dtype=np.intp), counts)
    # moves before the creation count from it: each owner's instants ascend
    starts = np.cumsum(counts) - counts
    at = np.maximum(at, np.repeat(at[starts], counts))
    stage = np.fromiter(map(lookup.__getitem__, stages), np.intp, len(stages))
    kind = np.fromiter(map(_KIND.__getitem__, states), np.intp, len(states))
    first_change = len(names)
    names.extend(c.id for c in linked)
    owner_pair.extend(linked_pair)
    d_owner, d_at, d_stage, d_kind = _delivery(linked, links, codes, first_change)
    owner, at = np.r_[owner, d_owner], np.r_[at, d_at]
    stage, kind = np.r_[stage, d_stage], np.r_[kind, d_kind]
    by_owner = np.array(owner_pair, dtype=np.intp)
    return Queues(
        list(pairs),
        list(codes),
        names,
        _runs(owner, np.where(kind != _OUT, stage, -1), at, by_owner),
        _runs(owner, np.where(kind == _QUEUED, stage, -1), at, by_owner),
    )


def _shipped_by(change: Change, links: Links, since: datetime) -> bool:
    """Whether ``change`` was merged and in production by ``since``."""
    merged = change.merged_at
    if change.state is not ChangeState.MERGED or merged is None or merged > since:
        return False
    shipping = links.shipping_deployment(change)
    return shipping is not None and (shipping.finished_at or shipping.started_at) <= since


def _code(codes: dict[str, int], stage: str, kept: frozenset[str]) -> int:
    name = stage if stage in kept else OTHER
    return codes.setdefault(name, len(codes))


def _delivery(
    changes: Sequence[Change], links: Links, codes: dict[str, int], first: int
) -> tuple[Index, Int64s, Index, Index]:
    """The steps of each change's delivery stages (owners from ``first`` on), owner by owner:
    milestones made monotone as for lead-time parts (see :func:`.leadtime.milestones`)."""
    n = len(changes)

    def instants(values: Iterable[datetime | None]) -> tuple[Int64s, npt.NDArray[np.bool_]]:
        found = np.fromiter(map(micros, values), np.int64, n)
        return found, found != np.iinfo(np.int64).min

    created, _ = instants(c.created_at for c in changes)
    commit, _ = instants(c.first_commit_at or c.created_at for c in changes)
    review, reviewed_ = instants(c.first_review_at for c in changes)
    merge, merged_ = instants(
        c.merged_at if c.state is ChangeState.MERGED else None for c in changes
    )
    shipping = [links.shipping_deployment(c) if c.merged_at else None for c in changes]
    shipped, shipped_ = instants(d.finished_at or d.started_at if d else None for d in shipping)
    opened = np.maximum(created, commit)
    merged = np.maximum(merge, opened)
    reviewed = np.maximum(review, opened)
    reviewed = np.where(merged_, np.minimum(reviewed, merged), reviewed)
    shipped = np.maximum(shipped, merged)
    every = np.ones(n, dtype=np.bool_)
    steps = [  # (which changes, when, stage, kind), in the order a change takes them
        (every, commit, codes.setdefault("coding", len(codes)), _PROCESS),
        (every, opened, codes.setdefault("pickup", len(codes)), _QUEUED),
        (reviewed_, reviewed, codes.setdefault("code_review", len(codes)), _PROCESS),
        (merged_, merged, codes.setdefault("deploy", len(codes)), _QUEUED),
        (merged_ & shipped_, shipped, -1, _OUT),
    ]
    owner = np.concatenate([np.flatnonzero(mask) for mask, *_ in steps]).astype(np.intp)
    at = np.concatenate([when[mask] for mask, when, *_ in steps])
    stage = np.concatenate([np.full(int(mask.sum()), code) for mask, _, code, _ in steps])
    kind = np.concatenate([np.full(int(mask.sum()), k) for mask, _, _, k in steps])
    order = np.argsort(owner, kind="stable")  # owner by owner, each in step order
    return owner[order] + first, at[order], stage[order].astype(np.intp), kind[order]


def _runs(owner: Index, stage: Index, at: Int64s, pair_of_owner: Index) -> Spans:
    """Spans from steps (owner by owner, in time order) each lasting until the next step of
    its owner (the last one until now and on): consecutive steps of one stage are one span,
    steps in no stage (-1) and spans of no duration none."""
    n = len(stage)
    if not n:
        empty = np.zeros(0, dtype=np.intp)
        return Spans(empty, empty, empty.astype(np.int64), empty.astype(np.int64), empty)
    new = np.r_[True, (owner[1:] != owner[:-1]) | (stage[1:] != stage[:-1])]
    starts = np.flatnonzero(new)
    following = np.r_[starts[1:], n]
    end = np.full(len(starts), OPEN_END, dtype=np.int64)
    same = following < n
    same[same] = owner[following[same]] == owner[starts[same]]
    end[same] = at[following[same]]
    begin = at[starts]
    keep = (stage[starts] >= 0) & (end > begin)
    who = owner[starts][keep]
    return Spans(pair_of_owner[who], stage[starts][keep], begin[keep], end[keep], who)
