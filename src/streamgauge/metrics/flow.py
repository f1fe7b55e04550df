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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streamgauge.metrics.catalog import BY_NAME, QUANTILES
from streamgauge.metrics.columns import Frame, count, exact_sum, histogram, type7
from streamgauge.metrics.dimensions import Group, LabelFolder, all_groups, groups_of
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.metrics.stats import bucket_edges, format_percentile, quantiles
from streamgauge.metrics.windows import Window
from streamgauge.model import FlowState, FlowType, StatusChange, WorkItem

if TYPE_CHECKING:
    from streamgauge.metrics.frames import Frames

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


def add_flow_metrics(snapshot: Snapshot, states: Iterable[ItemState | ItemFlow]) -> None:
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


# --- the rest of the Flow Framework, from each item's flow (:mod:`.items`) ----------------------

VELOCITY = "streamgauge_flow_velocity_window_per_week"
DONE_COUNTER = "streamgauge_flow_items_done_total"
FLOW_TIME_HISTOGRAM = "streamgauge_flow_time_seconds"
FLOW_TIME_WINDOW = "streamgauge_flow_time_window_seconds"
WITHIN_SLE = "streamgauge_flow_time_within_sle_window_ratio"
EFFICIENCY = "streamgauge_flow_efficiency_window_ratio"
DISTRIBUTION = "streamgauge_flow_distribution_window_ratio"
DISTRIBUTION_NOW = "streamgauge_flow_distribution_in_progress_ratio"
AGE = "streamgauge_work_item_age_seconds"
OLDEST = "streamgauge_work_item_age_oldest_seconds"
OVER_SLE = "streamgauge_work_items_over_sle"
SLE_SECONDS = "streamgauge_work_item_age_sle_seconds"
SLE_RATIO = "streamgauge_work_item_age_sle_ratio"
ALL_TYPES = "all"
NONE = np.empty(0, dtype=np.intp)
FLOW_TIME_BUCKETS = bucket_edges(BY_NAME[FLOW_TIME_HISTOGRAM].buckets)
TYPES: tuple[str, ...] = (*(t.value for t in FlowType), ALL_TYPES)


def _cuts(group: Group, flow_type: FlowType) -> list[tuple[Group, str]]:
    """Every (group, type) an item counts in: its groups times its own type and ``all``."""
    return [(g, t) for g in groups_of(group) for t in (flow_type.value, ALL_TYPES)]


Cut = tuple[Group, str]  # (group, type)


def add_flow_item_metrics(
    snapshot: Snapshot,
    flows: Sequence[ItemFlow],
    frames: Frames,
    windows: Sequence[Window],
    *,
    now: datetime,
    sle_age: timedelta,
    sle_percentile: float,
) -> None:
    """Velocity, flow time, efficiency, distribution, age and the service-level expectation.

    ``frames.done`` holds the done items of ``flows`` by when they were done.
    """
    if not flows:
        return
    groups = sorted(all_groups({f.group for f in flows}))
    sle = sle_age.total_seconds()
    for team, app in groups:
        # one rule for everyone today; per group, so a dashboard joins it to any group's series
        snapshot.add(SLE_SECONDS, sle, team=team, app=app)
        snapshot.add(SLE_RATIO, sle_percentile, team=team, app=app)
    # Whole history: done counter and flow-time histogram at the (team, app, type) grain.
    done = frames.done
    history = done.by_cut(done.everything())
    for team, app in sorted({f.group for f in flows}):
        for flow_type in FlowType:
            found = history.get(((team, app), flow_type.value), NONE)
            h = histogram(done["flow"][found], FLOW_TIME_BUCKETS)
            snapshot.add(DONE_COUNTER, h.count, team=team, app=app, type=flow_type.value)
            snapshot.histograms.append(
                HistogramSample(
                    FLOW_TIME_HISTOGRAM,
                    labels(team=team, app=app, type=flow_type.value),
                    h.bounds,
                    h.counts,
                    h.count,
                    h.sum,
                )
            )
    for window in windows:
        _add_window(snapshot, done, done.by_cut(done.within(window)), window, groups, sle)
    _add_now(snapshot, flows, groups, now, sle)


def _add_window(
    snapshot: Snapshot,
    done: Frame[ItemFlow],
    cuts: dict[Cut, npt.NDArray[np.intp]],
    window: Window,
    groups: list[Group],
    sle: float,
) -> None:
    weeks = window.days / 7.0
    for team, app in groups:
        total = len(cuts.get(((team, app), ALL_TYPES), NONE))
        for flow_type in TYPES:
            rows = cuts.get(((team, app), flow_type), NONE)
            times = done["flow"][rows]
            spent = exact_sum(done["spent"][rows])
            common = {"team": team, "app": app, "window": window.label, "type": flow_type}
            snapshot.add(VELOCITY, len(rows) / weeks, **common)
            if total and flow_type != ALL_TYPES:
                snapshot.add(DISTRIBUTION, len(rows) / total, **common)
            if spent > 0:
                snapshot.add(EFFICIENCY, exact_sum(done["active"][rows]) / spent, **common)
            if len(rows):
                snapshot.add(WITHIN_SLE, count(times <= sle) / len(rows), **common)
            for p, value in type7(times, QUANTILES).items():
                snapshot.add(FLOW_TIME_WINDOW, value, **common, percentile=format_percentile(p))


def _add_now(
    snapshot: Snapshot, flows: Sequence[ItemFlow], groups: list[Group], now: datetime, sle: float
) -> None:
    ages: dict[tuple[Group, str], list[float]] = defaultdict(list)
    for f in flows:
        age = f.age_seconds(now)
        if age is not None:
            for cut in _cuts(f.group, f.item.type):
                ages[cut].append(age)
    for team, app in groups:
        in_progress = len(ages[(team, app), ALL_TYPES])
        for flow_type in TYPES:
            values = ages[(team, app), flow_type]
            common = {"team": team, "app": app, "type": flow_type}
            snapshot.add(OVER_SLE, sum(1 for a in values if a > sle), **common)
            if in_progress and flow_type != ALL_TYPES:
                snapshot.add(DISTRIBUTION_NOW, len(values) / in_progress, **common)
            if values:
                snapshot.add(OLDEST, max(values), **common)
            for p, value in quantiles(values, QUANTILES).items():
                snapshot.add(AGE, value, **common, percentile=format_percentile(p))
