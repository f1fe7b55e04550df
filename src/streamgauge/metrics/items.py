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
from collections.abc import Iterable
from dataclasses import dataclass
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

    @property
    def flow_seconds(self) -> float | None:
        if self.done_at is None:
            return None
        if self.started_at is None:
            return 0.0
        return max(0.0, seconds_between(self.started_at, self.done_at))

    def age_seconds(self, now: datetime) -> float | None:
        if self.state not in STARTED_STATES or self.started_at is None:
            return None
        return max(0.0, seconds_between(self.started_at, now))

    @property
    def in_progress(self) -> bool:
        return self.state in STARTED_STATES


def item_flows(
    items: Iterable[WorkItem],
    status_changes: Iterable[StatusChange],
    *,
    now: datetime,
    fold: LabelFolder,
) -> list[ItemFlow]:
    """The flow of each work item created by ``now``."""
    before: dict[str, list[StatusChange]] = defaultdict(list)
    first_after: dict[str, StatusChange] = {}
    for change in status_changes:
        if change.at <= now:
            before[change.item_id].append(change)
        else:
            known = first_after.get(change.item_id)
            if known is None or (change.at, change.id) < (known.at, known.id):
                first_after[change.item_id] = change
    out: list[ItemFlow] = []
    for item in items:
        if item.created_at > now:
            continue
        group = fold.pair(item.team, item.app)
        history = before.get(item.id)
        if history:
            history.sort(key=lambda c: (c.at, c.id))
            out.append(_from_history(item, group, tuple(history), now))
            continue
        after = first_after.get(item.id)
        if after is not None:  # not moved yet by now
            state = after.from_state or FlowState.NEW
            started = item.created_at if state in STARTED_STATES else None
            out.append(ItemFlow(item, group, state, started, None, None, None, ()))
            continue
        state = item.flow_state
        started = item.started_at if item.started_at and item.started_at <= now else None
        done = item.done_at if state is FlowState.DONE else None
        if done is not None and done > now:
            done = None
        out.append(ItemFlow(item, group, state, started, done, None, None, ()))
    return out


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
