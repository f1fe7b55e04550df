"""The value-stream map's families: stage time, %C&A, lead time and efficiency per window.

The streams come from :mod:`.stages`, which states what each stage, its time and its %C&A are.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING

from streamgauge.metrics.catalog import QUANTILES
from streamgauge.metrics.days import DayTallies, by_pair, joined, merged, rolled
from streamgauge.metrics.dimensions import Group, all_groups, groups_of
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.stage_order import STAGE_ORDER, order_of
from streamgauge.metrics.stages import DELIVERY, PROCESS, UNMAPPED, WAIT, ItemStream
from streamgauge.metrics.stats import SortedUnion, format_percentile, quantiles
from streamgauge.metrics.windows import Window

if TYPE_CHECKING:
    from streamgauge.metrics.tallies import Tallies

STAGE_TIME = "streamgauge_value_stream_stage_time_window_seconds"
STAGE_CA = "streamgauge_value_stream_stage_complete_accurate_window_ratio"
ROLLED_CA = "streamgauge_value_stream_complete_accurate_window_ratio"
STREAM_LEAD = "streamgauge_value_stream_lead_time_window_seconds"
STREAM_EFFICIENCY = "streamgauge_value_stream_efficiency_window_ratio"


def kept_names(streams: Iterable[ItemStream], limit: int) -> frozenset[str]:
    """The stage label values kept: delivery stages and ``unmapped``, then tracker stages."""
    # most streams pass the same stages: their distinct name sets are few
    names: set[str] = set().union(*{st.names for st in streams})
    tracker = sorted(names - set(DELIVERY) - {UNMAPPED})
    return frozenset([*DELIVERY, UNMAPPED, *tracker[:limit]])


@dataclass(slots=True, eq=False)
class StreamTally:
    """What the streams of one group add up to: one day's, or a window's."""

    n: int = 0
    spent: dict[tuple[str, str], float] = field(default_factory=dict)  # exact sums (fsum)
    entered: dict[str, int] = field(default_factory=dict)
    good: dict[str, int] = field(default_factory=dict)
    leads: list[float] = field(default_factory=list)  # sorted
    process: float = 0.0
    lead_total: float = 0.0  # exact sum of leads


def tally_streams(streams: Sequence[ItemStream], kept: object) -> dict[Group, StreamTally]:
    """One day's streams per group, stage names outside ``kept`` folded to ``other``."""
    names = kept if isinstance(kept, frozenset) else frozenset()
    out: dict[Group, StreamTally] = {}
    for pair, found in by_pair(streams, _pair).items():
        spent: dict[tuple[str, str], list[float]] = defaultdict(list)
        entered: dict[str, int] = defaultdict(int)
        good: dict[str, int] = defaultdict(int)
        for s in found:
            times, accurate = s.fold(names)
            for key, seconds in times.items():
                spent[key].append(seconds)
            for stage, ok in accurate.items():
                entered[stage] += 1
                good[stage] += ok
        out[pair] = StreamTally(
            len(found),
            {key: math.fsum(values) for key, values in spent.items()},
            dict(entered),
            dict(good),
            sorted([s.lead_seconds for s in found]),
            math.fsum([s.process_seconds for s in found]),
            math.fsum([s.lead_seconds for s in found]),
        )
    return rolled(out, groups_of, add_streams)


def add_streams(tallies: Sequence[StreamTally], *, leads: bool = True) -> StreamTally:
    """Tallies added up; without ``leads``, the lead times themselves are left out (not their
    sum), for a window whose order statistics come from :class:`.days.SortedValues`."""
    spent: dict[tuple[str, str], list[float]] = defaultdict(list)
    entered: dict[str, int] = defaultdict(int)
    good: dict[str, int] = defaultdict(int)
    for t in tallies:
        for key, seconds in t.spent.items():
            spent[key].append(seconds)
        for stage, count in t.entered.items():
            entered[stage] += count
            good[stage] += t.good[stage]
    return StreamTally(
        sum(t.n for t in tallies),
        {key: math.fsum(values) for key, values in spent.items()},
        dict(entered),
        dict(good),
        sorted(joined(t.leads for t in tallies)) if leads else [],
        math.fsum([t.process for t in tallies]),
        math.fsum([t.lead_total for t in tallies]),
    )


def _pair(stream: ItemStream) -> Group:
    return stream.flow.group


def stream_days() -> DayTallies[ItemStream, dict[Group, StreamTally]]:
    """Done items' streams by the day the item was done (see :mod:`.tallies`)."""
    return DayTallies(attrgetter("flow.done_at"), tally_streams)


def add_stage_metrics(
    snapshot: Snapshot,
    streams: Sequence[ItemStream],
    tallies: Tallies,
    windows: Sequence[Window],
    order: Sequence[str] = (),
) -> None:
    """The value-stream families; ``tallies`` holds ``streams`` refreshed with :func:`kept_names`.

    Stages are added in ``order`` (see :mod:`.stage_order`), and each group's stages get their
    position in it as ``streamgauge_value_stream_stage_order``.
    """
    if not streams:
        return
    groups = all_groups({s.flow.group for s in streams})
    shown: dict[Group, set[str]] = defaultdict(set)
    for window in windows:
        found = merged(tallies.streams.within(window))  # per group already
        leads = tallies.stream_values.of(tallies.streams, window)
        for team, app in sorted(groups):
            if (team, app) in found:
                total = add_streams(found[(team, app)], leads=False)
                if total.n:
                    common = {"team": team, "app": app, "window": window.label}
                    shown[team, app] |= _emit(snapshot, total, leads[(team, app)], common, order)
    for (team, app), stages in sorted(shown.items()):
        for stage in sorted(stages, key=lambda s: (order_of(order, s), s)):
            snapshot.add(STAGE_ORDER, order_of(order, stage), team=team, app=app, stage=stage)


def _emit(
    snapshot: Snapshot,
    tally: StreamTally,
    leads: SortedUnion,
    common: dict[str, str],
    order: Sequence[str],
) -> set[str]:
    names = {stage for stage, _ in tally.spent} | set(tally.entered)
    stages = sorted(names, key=lambda s: (order_of(order, s), s))
    rolled = 1.0
    for stage in stages:
        if (stage, PROCESS) in tally.spent or (stage, WAIT) in tally.spent:
            for part in (PROCESS, WAIT):
                mean = tally.spent.get((stage, part), 0.0) / tally.n
                snapshot.add(STAGE_TIME, mean, **common, stage=stage, part=part)
        if tally.entered.get(stage):
            ratio = tally.good[stage] / tally.entered[stage]
            rolled *= ratio
            snapshot.add(STAGE_CA, ratio, **common, stage=stage)
    snapshot.add(ROLLED_CA, rolled, **common)
    if tally.lead_total > 0:
        snapshot.add(STREAM_EFFICIENCY, tally.process / tally.lead_total, **common)
    for p, value in quantiles(leads, QUANTILES).items():
        snapshot.add(STREAM_LEAD, value, **common, percentile=format_percentile(p))
    return names
