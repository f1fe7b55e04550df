"""The value-stream map's families: stage time, %C&A, lead time and efficiency per window.

The streams come from :mod:`.stages`, which states what each stage, its time and its %C&A are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from streamgauge.metrics.catalog import QUANTILES
from streamgauge.metrics.columns import Frame, exact_sum, type7
from streamgauge.metrics.dimensions import Group, all_groups
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.stage_order import STAGE_ORDER, order_of
from streamgauge.metrics.stages import DELIVERY, PROCESS, UNMAPPED, WAIT, ItemStream
from streamgauge.metrics.stats import format_percentile
from streamgauge.metrics.windows import Window

if TYPE_CHECKING:
    from streamgauge.metrics.frames import Frames, StageRows

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


def add_stage_metrics(
    snapshot: Snapshot,
    streams: Sequence[ItemStream],
    frames: Frames,
    windows: Sequence[Window],
    order: Sequence[str] = (),
) -> None:
    """The value-stream families from ``frames.streams`` and ``frames.stages``.

    Stages are added in ``order`` (see :mod:`.stage_order`), and each group's stages get their
    position in it as ``streamgauge_value_stream_stage_order``.
    """
    if not streams:
        return
    done, rows = frames.streams, frames.stages
    groups = all_groups({s.flow.group for s in streams})
    shown: dict[Group, set[str]] = defaultdict(set)
    for window in windows:
        found = done.by_group(done.within(window))
        for team, app in sorted(groups):
            members = found.get((team, app))
            if members is not None and len(members):
                common = {"team": team, "app": app, "window": window.label}
                shown[team, app] |= _emit(snapshot, done, rows, members, common, order)
    for (team, app), stages in sorted(shown.items()):
        for stage in sorted(stages, key=lambda s: (order_of(order, s), s)):
            snapshot.add(STAGE_ORDER, order_of(order, stage), team=team, app=app, stage=stage)


def _emit(
    snapshot: Snapshot,
    done: Frame[ItemStream],
    rows: StageRows,
    members: npt.NDArray[np.intp],
    common: dict[str, str],
    order: Sequence[str],
) -> set[str]:
    n = len(members)
    member = np.zeros(len(done), dtype=np.bool_)
    member[members] = True
    timed = np.flatnonzero(member[rows.time_stream])
    visited = np.flatnonzero(member[rows.visit_stream])
    spent: dict[tuple[str, str], float] = {}
    for key in np.unique(rows.time_key[timed]).tolist():
        of_key = timed[rows.time_key[timed] == key]
        spent[rows.time_keys[key]] = exact_sum(rows.seconds[of_key])
    entered = np.bincount(rows.visit_stage[visited], minlength=len(rows.stages))
    good = np.bincount(
        rows.visit_stage[visited], weights=rows.accurate[visited], minlength=len(rows.stages)
    )
    visits = {rows.stages[i]: (int(entered[i]), int(good[i])) for i in np.flatnonzero(entered)}
    names = {stage for stage, _ in spent} | set(visits)
    rolled = 1.0
    for stage in sorted(names, key=lambda s: (order_of(order, s), s)):
        if (stage, PROCESS) in spent or (stage, WAIT) in spent:
            for part in (PROCESS, WAIT):
                mean = spent.get((stage, part), 0.0) / n
                snapshot.add(STAGE_TIME, mean, **common, stage=stage, part=part)
        if stage in visits:
            ratio = visits[stage][1] / visits[stage][0]
            rolled *= ratio
            snapshot.add(STAGE_CA, ratio, **common, stage=stage)
    snapshot.add(ROLLED_CA, rolled, **common)
    lead_total = exact_sum(done["lead"][members])
    if lead_total > 0:
        snapshot.add(STREAM_EFFICIENCY, exact_sum(done["process"][members]) / lead_total, **common)
    for p, value in type7(done["lead"][members], QUANTILES).items():
        snapshot.add(STREAM_LEAD, value, **common, percentile=format_percentile(p))
    return names
