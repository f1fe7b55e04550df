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

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING

from streamgauge.metrics.catalog import BY_NAME, QUANTILES
from streamgauge.metrics.days import (
    DayTallies,
    added_buckets,
    by_pair,
    histogram_of,
    joined,
    merged,
    rolled,
)
from streamgauge.metrics.dimensions import Group, LabelFolder, all_groups, groups_of
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.metrics.stats import (
    SortedUnion,
    bucket_counts,
    bucket_edges,
    format_percentile,
    quantiles,
)
from streamgauge.metrics.windows import Window
from streamgauge.model import FlowState, FlowType, StatusChange, WorkItem

if TYPE_CHECKING:
    from streamgauge.metrics.tallies import Tallies

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
NONE = SortedUnion([], [])
FLOW_TIME_BUCKETS = bucket_edges(BY_NAME[FLOW_TIME_HISTOGRAM].buckets)
TYPES: tuple[str, ...] = (*(t.value for t in FlowType), ALL_TYPES)


def _cuts(group: Group, flow_type: FlowType) -> list[tuple[Group, str]]:
    """Every (group, type) an item counts in: its groups times its own type and ``all``."""
    return [(g, t) for g in groups_of(group) for t in (flow_type.value, ALL_TYPES)]


Cut = tuple[Group, str]  # (group, type)


@dataclass(slots=True)
class DoneTally:
    """Done items of one (pair, type): sorted flow times, histogram buckets, exact sums."""

    times: list[float]
    buckets: list[int]
    total: float
    active: float  # items whose active and waiting time are known
    spent: float


def tally_done(flows: Sequence[ItemFlow], _: object = None) -> dict[Cut, DoneTally]:
    """What one day's done items add up to, per (pair, type)."""
    out: dict[Cut, DoneTally] = {}
    for cut, found in by_pair(flows, _pair_type).items():
        times = sorted([f.flow_seconds or 0.0 for f in found])
        measured = [f for f in found if f.active_seconds is not None]
        out[cut] = DoneTally(
            times,
            bucket_counts(times, FLOW_TIME_BUCKETS),
            math.fsum(times),
            math.fsum([f.active_seconds or 0.0 for f in measured]),
            math.fsum([(f.active_seconds or 0.0) + (f.waiting_seconds or 0.0) for f in measured]),
        )
    return rolled(out, _cuts_of, add_done)


def add_done(tallies: Sequence[DoneTally]) -> DoneTally:
    return DoneTally(
        sorted(joined(t.times for t in tallies)),
        added_buckets([t.buckets for t in tallies]),
        math.fsum([t.total for t in tallies]),
        math.fsum([t.active for t in tallies]),
        math.fsum([t.spent for t in tallies]),
    )


def _cuts_of(cut: Cut) -> list[Cut]:
    return _cuts(cut[0], FlowType(cut[1]))


def _pair_type(flow: ItemFlow) -> Cut:
    return flow.group, flow.item.type.value


def done_days() -> DayTallies[ItemFlow, dict[Cut, DoneTally]]:
    """Done items by the day they were done (see :mod:`.tallies`)."""
    return DayTallies(attrgetter("done_at"), tally_done)


def add_flow_item_metrics(
    snapshot: Snapshot,
    flows: Sequence[ItemFlow],
    tallies: Tallies,
    windows: Sequence[Window],
    *,
    now: datetime,
    sle_age: timedelta,
    sle_percentile: float,
) -> None:
    """Velocity, flow time, efficiency, distribution, age and the service-level expectation.

    ``tallies`` holds the done items of ``flows`` by day (refreshed with them).
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
    done = tallies.done
    history = merged(done.whole())
    for team, app in sorted({f.group for f in flows}):
        for flow_type in FlowType:
            found = history.get(((team, app), flow_type.value), [])
            h = histogram_of(found, FLOW_TIME_BUCKETS)
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
        times = tallies.done_values.of(done, window)
        _add_window(snapshot, merged(done.within(window)), times, window, groups, sle)
    _add_now(snapshot, flows, groups, now, sle)


def _add_window(
    snapshot: Snapshot,
    done: dict[Cut, list[DoneTally]],
    ordered: dict[Cut, SortedUnion],
    window: Window,
    groups: list[Group],
    sle: float,
) -> None:
    # Each day's tallies are per group and type (type=all too) already.
    weeks = window.days / 7.0
    for team, app in groups:
        total = sum(len(t.times) for t in done.get(((team, app), ALL_TYPES), ()))
        for flow_type in TYPES:
            found = done.get(((team, app), flow_type), [])
            times = ordered.get(((team, app), flow_type), NONE)
            count = len(times)
            spent = math.fsum([t.spent for t in found])
            common = {"team": team, "app": app, "window": window.label, "type": flow_type}
            snapshot.add(VELOCITY, count / weeks, **common)
            if total and flow_type != ALL_TYPES:
                snapshot.add(DISTRIBUTION, count / total, **common)
            if spent > 0:
                snapshot.add(EFFICIENCY, math.fsum([t.active for t in found]) / spent, **common)
            if count:
                snapshot.add(WITHIN_SLE, times.at_most(sle) / count, **common)
            for p, value in quantiles(times, QUANTILES).items():
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
