"""Each work item's flow as seen at ``now``: state, start, finish, active and waiting time.

From the status history up to ``now`` (sorted by time, then id), an item is in the state its
latest change moved it to, and before its first change in the state that change moved it from
(``new`` when unknown). Then:

* **started** is the first moment it was ``active`` or ``waiting`` (its creation when the first
  known state already is), **done** the last entry into ``done`` when it is done at ``now``;
* **flow time** of a done item is ``done - started`` (0 for an item that went straight from new
  to done: time in new is not flow time);
* **active time** is the time in ``active`` between start and done (or ``now`` while in
  progress), **waiting time** the rest of that span, so active + waiting = flow time: an item
  sent back to ``new`` or reopened after ``done`` is waiting meanwhile;
* **age** of an item in progress is ``now - started``.

An item without any status change uses its own ``flow_state``, ``started_at`` and ``done_at``;
its active and waiting time are unknown (None) and flow efficiency leaves it out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from streamgauge.metrics.dimensions import Group, LabelFolder
from streamgauge.metrics.windows import seconds_between
from streamgauge.model import FlowState, StatusChange, WorkItem

STARTED_STATES = (FlowState.ACTIVE, FlowState.WAITING)


@dataclass(frozen=True, slots=True)
class ItemFlow:
    item: WorkItem
    group: Group
    state: FlowState  # at now
    started_at: datetime | None
    done_at: datetime | None  # set when the item is done at now
    active_seconds: float | None  # None: no status history to measure it from
    waiting_seconds: float | None
    history: tuple[StatusChange, ...]  # changes by now, in time order
    # worked out once here: every computation that keeps this flow reads it
    flow_seconds: float | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        seconds: float | None = None
        if self.done_at is not None:
            start = self.started_at
            seconds = 0.0 if start is None else max(0.0, seconds_between(start, self.done_at))
        object.__setattr__(self, "flow_seconds", seconds)

    def age_seconds(self, now: datetime) -> float | None:
        if self.state not in STARTED_STATES or self.started_at is None:
            return None
        return max(0.0, seconds_between(self.started_at, now))

    @property
    def in_progress(self) -> bool:
        return self.state in STARTED_STATES


History = tuple[StatusChange, ...]
# item id -> (the item, its history, its flow): a done item's flow, kept while neither changes
FlowMemo = dict[str, tuple[WorkItem, History, ItemFlow]]


def group_histories(status_changes: Iterable[StatusChange]) -> dict[str, History]:
    """Each item's status changes in time order (then id, so equal times keep one order)."""
    grouped: dict[str, list[StatusChange]] = defaultdict(list)
    for change in status_changes:
        grouped[change.item_id].append(change)
    return {item: tuple(sorted(changes, key=_order)) for item, changes in grouped.items()}


def _order(change: StatusChange) -> tuple[datetime, str]:
    return change.at, change.id


def item_flows(
    items: Iterable[WorkItem],
    histories: Mapping[str, History],
    *,
    now: datetime,
    fold: LabelFolder,
    memo: FlowMemo | None = None,
) -> list[ItemFlow]:
    """The flow of each work item created by ``now``.

    With a ``memo``, a done item whose record and history are the very same objects as last
    time, all of it by ``now``, keeps its flow: nothing it depends on can have moved.
    """
    out: list[ItemFlow] = []
    for item in items:
        if item.created_at > now:
            continue
        history = histories.get(item.id, ())
        if memo is not None:
            cached = memo.get(item.id)
            if (
                cached is not None
                and cached[0] is item
                and cached[1] is history
                and cached[2].done_at is not None
                and cached[2].done_at <= now
                and (not history or history[-1].at <= now)
            ):
                out.append(cached[2])
                continue
        flow = _flow(item, fold.pair(item.team, item.app), history, now)
        if memo is not None and flow.done_at is not None and (not history or history[-1].at <= now):
            memo[item.id] = (item, history, flow)
        out.append(flow)
    return out


def _flow(item: WorkItem, group: Group, history: History, now: datetime) -> ItemFlow:
    if history and history[-1].at <= now:
        return _from_history(item, group, history, now)
    if history:
        seen = tuple(c for c in history if c.at <= now)
        if seen:
            return _from_history(item, group, seen, now)
        # not moved yet by now: it was where its first move took it from (new if unknown)
        state = history[0].from_state or FlowState.NEW
        started = item.created_at if state in STARTED_STATES else None
        return ItemFlow(item, group, state, started, None, None, None, ())
    state = item.flow_state
    started = item.started_at if item.started_at and item.started_at <= now else None
    done = item.done_at if state is FlowState.DONE else None
    if done is not None and done > now:
        done = None
    return ItemFlow(item, group, state, started, done, None, None, ())


def _from_history(
    item: WorkItem, group: Group, history: tuple[StatusChange, ...], now: datetime
) -> ItemFlow:
    state = history[0].from_state or FlowState.NEW
    since = item.created_at
    started: datetime | None = item.created_at if state in STARTED_STATES else None
    done: datetime | None = None
    active = 0.0
    for change in history:
        if started is not None and state is FlowState.ACTIVE:
            active += max(0.0, seconds_between(max(since, started), change.at))
        state = change.to_state
        since = change.at
        if started is None and state in STARTED_STATES:
            started = change.at
        if state is FlowState.DONE:
            done = change.at
    end = now
    if state is FlowState.DONE:
        end = done or now
    elif started is not None and state is FlowState.ACTIVE:
        active += max(0.0, seconds_between(max(since, started), now))
    if state is not FlowState.DONE:
        done = None
    if started is None:
        return ItemFlow(
            item, group, state, None, done, 0.0 if done else None, 0.0 if done else None, history
        )
    span = max(0.0, seconds_between(started, end))
    active = min(active, span)
    return ItemFlow(item, group, state, started, done, active, span - active, history)
