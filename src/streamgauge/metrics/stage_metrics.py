"""The value-stream map's families: stage time, %C&A, lead time and efficiency per window.

The streams come from :mod:`.stages`, which states what each stage, its time and its %C&A are.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from streamgauge.metrics.catalog import QUANTILES
from streamgauge.metrics.dimensions import Group, all_groups, groups_of
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.stages import DELIVERY, PROCESS, UNMAPPED, WAIT, ItemStream
from streamgauge.metrics.stats import format_quantile, quantiles
from streamgauge.metrics.windows import Window

STAGE_TIME = "streamgauge_value_stream_stage_time_window_seconds"
STAGE_CA = "streamgauge_value_stream_stage_complete_accurate_window_ratio"
ROLLED_CA = "streamgauge_value_stream_complete_accurate_window_ratio"
STREAM_LEAD = "streamgauge_value_stream_lead_time_window_seconds"
STREAM_EFFICIENCY = "streamgauge_value_stream_efficiency_window_ratio"


def stage_names(streams: Iterable[ItemStream], limit: int) -> frozenset[str]:
    """The stage label values kept: delivery stages and ``unmapped``, then tracker stages."""
    # most streams pass the same stages: their distinct name sets are few
    names: set[str] = set().union(*{st.names for st in streams})
    tracker = sorted(names - set(DELIVERY) - {UNMAPPED})
    return frozenset([*DELIVERY, UNMAPPED, *tracker[:limit]])


@dataclass(slots=True)
class _Tally:
    """What the streams of one (team, app) pair add up to in one window."""

    n: int = 0
    spent: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    entered: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    good: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    leads: list[float] = field(default_factory=list)
    process: float = 0.0


def add_stage_metrics(
    snapshot: Snapshot, streams: Sequence[ItemStream], windows: Sequence[Window], *, limit: int
) -> None:
    if not streams:
        return
    kept = stage_names(streams, limit)
    # Stage names are folded once per stream, and streams are tallied per pair only, then the
    # pairs are added up into their team and the organisation: a stream is touched once.
    labelled: list[tuple[datetime, ItemStream, dict[tuple[str, str], float], dict[str, bool]]]
    labelled = []
    # Only the streams inside the longest window are folded and sorted: most are older.
    after = min((w.start for w in windows), default=None)
    for s in streams:
        if s.flow.done_at is not None and (after is None or s.flow.done_at > after):
            labelled.append((s.flow.done_at, s, *s.fold(kept)))
    labelled.sort(key=lambda entry: entry[0])
    done = [entry[0] for entry in labelled]
    groups = all_groups({s.flow.group for s in streams})
    # The windows all end at now, so they nest: walking from the shortest to the longest, each
    # one's tallies are the previous one's plus its older streams, and a stream is tallied once.
    tallies: dict[Group, _Tally] = defaultdict(_Tally)
    end = bisect_right(done, windows[0].end) if windows else 0
    begin = end
    emitted: dict[Window, dict[Group, _Tally]] = {}
    for window in sorted(windows, key=lambda w: w.start, reverse=True):
        older = bisect_right(done, window.start)
        for _, s, times, accurate in labelled[older:begin]:
            tally = tallies[s.flow.group]
            tally.n += 1
            tally.leads.append(s.lead_seconds)
            tally.process += s.process_seconds
            for key, seconds in times.items():
                tally.spent[key] += seconds
            for stage, ok in accurate.items():
                tally.entered[stage] += 1
                tally.good[stage] += ok
        begin = older
        rolled: dict[Group, _Tally] = defaultdict(_Tally)
        emitted[window] = rolled
        for pair, tally in tallies.items():
            for group in groups_of(pair):
                into = rolled[group]
                into.n += tally.n
                into.leads.extend(tally.leads)
                into.process += tally.process
                for key, seconds in tally.spent.items():
                    into.spent[key] += seconds
                for stage, count in tally.entered.items():
                    into.entered[stage] += count
                    into.good[stage] += tally.good[stage]
    for window in windows:
        rolled = emitted[window]
        for team, app in sorted(groups):
            found = rolled.get((team, app))
            if found is not None and found.n:
                _emit(snapshot, found, {"team": team, "app": app, "window": window.label})


def _emit(snapshot: Snapshot, tally: _Tally, common: dict[str, str]) -> None:
    stages = sorted({stage for stage, _ in tally.spent} | set(tally.entered))
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
    total = sum(tally.leads)
    if total > 0:
        snapshot.add(STREAM_EFFICIENCY, tally.process / total, **common)
    for p, value in quantiles(tally.leads, QUANTILES).items():
        snapshot.add(STREAM_LEAD, value, **common, quantile=format_quantile(p))
