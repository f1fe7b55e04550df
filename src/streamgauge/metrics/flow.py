"""Flow Framework metrics over work items: flow load now, by flow item type and flow state.

* **Flow load** at ``now``: work items created by ``now`` whose flow state at ``now`` is
  ``active`` or ``waiting`` (work in progress), counted per flow item type and state.
* The **state at now** comes from the status history when there is one: the state the latest
  status change at or before ``now`` moved the item to; when every change is later, the state
  the first one moved it from. An item without history is in its current ``flow_state``. So
  the same function gives today's load and, for a backfill, the load of any past moment.

Every group (see :mod:`.dimensions`) that has a work item gets all four types times both states,
zeros included, so a series does not vanish when its last item moves on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from streamgauge.metrics.dimensions import Group, LabelFolder, all_groups, groups_of
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import FlowState, FlowType, StatusChange, WorkItem

FLOW_LOAD = "streamgauge_flow_load"
IN_PROGRESS: tuple[FlowState, ...] = (FlowState.ACTIVE, FlowState.WAITING)


@dataclass(frozen=True, slots=True)
class ItemState:
    """A work item with its flow state at ``now`` and its folded group."""

    item: WorkItem
    state: FlowState
    group: Group


def states_at(
    items: Iterable[WorkItem],
    status_changes: Iterable[StatusChange],
    *,
    now: datetime,
    fold: LabelFolder,
) -> list[ItemState]:
    """Each work item created by ``now`` with its flow state at ``now``."""
    # One pass over the history keeps, per item, the last change by now and the first after it.
    last_before: dict[str, StatusChange] = {}
    first_after: dict[str, StatusChange] = {}
    for change in status_changes:
        if change.at <= now:
            known = last_before.get(change.item_id)
            if known is None or (change.at, change.id) > (known.at, known.id):
                last_before[change.item_id] = change
        else:
            known = first_after.get(change.item_id)
            if known is None or (change.at, change.id) < (known.at, known.id):
                first_after[change.item_id] = change
    out: list[ItemState] = []
    for item in items:
        if item.created_at > now:
            continue
        state = item.flow_state
        before = last_before.get(item.id)
        if before is not None:
            state = before.to_state
        else:
            after = first_after.get(item.id)
            if after is not None:
                # Not yet moved by now: it was where its first move took it from (new if unknown).
                state = after.from_state or FlowState.NEW
        out.append(ItemState(item, state, fold.pair(item.team, item.app)))
    return out


def add_flow_metrics(snapshot: Snapshot, states: Iterable[ItemState]) -> None:
    """Add ``streamgauge_flow_load`` for every group that has work items."""
    load: dict[tuple[Group, FlowType, FlowState], int] = defaultdict(int)
    pairs: set[Group] = set()
    for entry in states:
        pairs.add(entry.group)
        if entry.state in IN_PROGRESS:
            for group in groups_of(entry.group):
                load[group, entry.item.type, entry.state] += 1
    if not pairs:
        return  # no work items at all: no flow source configured, so no flow series
    for team, app in sorted(all_groups(pairs)):
        for flow_type in FlowType:
            for state in IN_PROGRESS:
                snapshot.add(
                    FLOW_LOAD,
                    load[(team, app), flow_type, state],
                    team=team,
                    app=app,
                    type=flow_type.value,
                    flow_state=state.value,
                )
