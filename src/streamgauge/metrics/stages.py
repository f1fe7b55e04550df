"""The value-stream map: each done item's way from idea to production, stage by stage.

For a work item done at ``now`` (see :mod:`.items`), its **stream** is a sequence of stages:

1. the tracker stages (``stage`` of its status history) from its creation until the first
   commit of a merged change linked to it (a change naming its key) or its done time, whichever
   comes first; time in a status without a stage goes to stage ``unmapped``;
2. then, when a merged change is linked, the delivery stages of its changes, with milestones
   made monotone as for lead-time parts: ``coding`` (earliest first commit -> earliest opening),
   ``pickup`` (-> earliest first review, else the latest merge), ``code_review`` (-> latest
   merge) and ``deploy`` (-> the latest first production deployment of those changes, when one
   happened by ``now``).

Time is **process** time in a tracker stage while the item was ``active``, **wait** time
otherwise; ``coding`` and ``code_review`` are process, ``pickup`` and ``deploy`` wait.
The **value-stream lead time** is the sum of its stages, its **efficiency** process over lead.

**%C&A** of a stage: among the items that entered it, the share that left it forward (to a
stage not visited before, or to the end) and never came back to it. Tracker stages use the
status history; for the delivery stages a change sent back by review (``review_rounds`` > 0)
returns to ``coding``, so neither coding nor code_review is C&A, and ``deploy`` is C&A unless a
deployment that shipped the item's changes failed. **Rolled %C&A** is the product of the
stages' ratios. Stage names beyond ``metrics.stage_labels`` (alphabetically) fold to ``other``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from streamgauge.linking import Links
from streamgauge.metrics.catalog import QUANTILES
from streamgauge.metrics.dimensions import OTHER, Group, all_groups, groups_of
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.stats import format_quantile, quantiles
from streamgauge.metrics.windows import Window, seconds_between
from streamgauge.model import Change, ChangeState, FlowState

STAGE_TIME = "streamgauge_value_stream_stage_time_window_seconds"
STAGE_CA = "streamgauge_value_stream_stage_complete_accurate_window_ratio"
ROLLED_CA = "streamgauge_value_stream_complete_accurate_window_ratio"
STREAM_LEAD = "streamgauge_value_stream_lead_time_window_seconds"
STREAM_EFFICIENCY = "streamgauge_value_stream_efficiency_window_ratio"
UNMAPPED = "unmapped"
DELIVERY = ("coding", "pickup", "code_review", "deploy")
PROCESS, WAIT = "process", "wait"


@dataclass(frozen=True, slots=True)
class ItemStream:
    flow: ItemFlow
    times: dict[tuple[str, str], float]  # (stage, part) -> seconds
    accurate: dict[str, bool]  # stage entered -> complete and accurate
    changes: tuple[Change, ...]

    @property
    def lead_seconds(self) -> float:
        return sum(self.times.values())

    @property
    def process_seconds(self) -> float:
        return sum(v for (_, part), v in self.times.items() if part == PROCESS)


def item_streams(
    flows: Iterable[ItemFlow],
    changes: Iterable[Change],
    links: Links,
    failed_deployments: set[str],
    *,
    now: datetime,
) -> list[ItemStream]:
    """The stream of every item done by ``now``."""
    by_key: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        if change.state is ChangeState.MERGED and change.merged_at and change.merged_at <= now:
            for key in change.work_item_keys:
                by_key[key].append(change)
    out: list[ItemStream] = []
    for flow in flows:
        if flow.done_at is None:
            continue
        linked = tuple(by_key.get(flow.item.key, ()))
        times: dict[tuple[str, str], float] = defaultdict(float)
        accurate: dict[str, bool] = {}
        cut = flow.done_at
        if linked:
            cut = min(cut, min(c.first_commit_at or c.created_at for c in linked))
        _tracker(flow, cut, times, accurate)
        if linked:
            _delivery(linked, links, failed_deployments, now, times, accurate)
        out.append(ItemStream(flow, dict(times), accurate, linked))
    return out


def _tracker(
    flow: ItemFlow, cut: datetime, times: dict[tuple[str, str], float], accurate: dict[str, bool]
) -> None:
    history = flow.history
    if not history:
        return
    stage = history[0].from_stage or UNMAPPED
    state = history[0].from_state or FlowState.NEW
    since = flow.item.created_at
    visits = [stage]
    for change in history:
        _spend(times, stage, state, since, min(change.at, cut))
        stage, state, since = change.to_stage or UNMAPPED, change.to_state, change.at
        if stage != visits[-1]:
            visits.append(stage)
    _spend(times, stage, state, since, cut)
    for i, name in enumerate(visits):
        if name == UNMAPPED:
            continue
        once = visits.count(name) == 1
        forward = i + 1 == len(visits) or visits[i + 1] not in visits[:i]
        accurate[name] = accurate.get(name, True) and once and forward


def _spend(
    times: dict[tuple[str, str], float],
    stage: str,
    state: FlowState,
    start: datetime,
    end: datetime,
) -> None:
    if end > start:
        part = PROCESS if state is FlowState.ACTIVE else WAIT
        times[stage, part] += seconds_between(start, end)


def _delivery(
    linked: Sequence[Change],
    links: Links,
    failed_deployments: set[str],
    now: datetime,
    times: dict[tuple[str, str], float],
    accurate: dict[str, bool],
) -> None:
    first_commit = min(c.first_commit_at or c.created_at for c in linked)
    opened = max(first_commit, min(c.created_at for c in linked))
    merged = max(opened, max(c.merged_at or opened for c in linked))
    reviews = [c.first_review_at for c in linked if c.first_review_at is not None]
    reviewed = min(max(opened, min(reviews)), merged) if reviews else merged
    shipping = [links.shipping_deployment(c) for c in linked]
    deployed = [d for d in shipping if d is not None and d.finished_at and d.finished_at <= now]
    milestones = [first_commit, opened, reviewed, merged]
    if deployed:
        milestones.append(max(merged, max(d.finished_at or merged for d in deployed)))
    parts = (PROCESS, WAIT, PROCESS, WAIT)
    for i in range(len(milestones) - 1):
        times[DELIVERY[i], parts[i]] += seconds_between(milestones[i], milestones[i + 1])
    sent_back = any(c.review_rounds > 0 for c in linked)
    accurate["coding"] = not sent_back
    accurate["pickup"] = True
    accurate["code_review"] = not sent_back
    if deployed:
        accurate["deploy"] = not any(d.id in failed_deployments for d in deployed)


def stage_names(streams: Iterable[ItemStream], limit: int) -> frozenset[str]:
    """The stage label values kept: delivery stages and ``unmapped``, then tracker stages."""
    names = {name for st in streams for name, _ in st.times}
    names.update(name for st in streams for name in st.accurate)
    tracker = sorted(names - set(DELIVERY) - {UNMAPPED})
    return frozenset([*DELIVERY, UNMAPPED, *tracker[:limit]])


def add_stage_metrics(
    snapshot: Snapshot, streams: Sequence[ItemStream], windows: Sequence[Window], *, limit: int
) -> None:
    if not streams:
        return
    kept = stage_names(streams, limit)

    def label(stage: str) -> str:
        return stage if stage in kept else OTHER

    groups = all_groups({s.flow.group for s in streams})
    for window in windows:
        n: dict[Group, int] = defaultdict(int)
        spent: dict[tuple[Group, str, str], float] = defaultdict(float)
        entered: dict[tuple[Group, str], int] = defaultdict(int)
        good: dict[tuple[Group, str], int] = defaultdict(int)
        leads: dict[Group, list[float]] = defaultdict(list)
        process: dict[Group, float] = defaultdict(float)
        for s in streams:
            if not window.contains(s.flow.done_at):
                continue
            for group in groups_of(s.flow.group):
                n[group] += 1
                leads[group].append(s.lead_seconds)
                process[group] += s.process_seconds
                for (stage, part), seconds in s.times.items():
                    spent[group, label(stage), part] += seconds
                for stage, ok in s.accurate.items():
                    entered[group, label(stage)] += 1
                    good[group, label(stage)] += ok
        stages = sorted({stage for _, stage, _ in spent} | {stage for _, stage in entered})
        for team, app in sorted(groups):
            group = (team, app)
            if not n[group]:
                continue
            common = {"team": team, "app": app, "window": window.label}
            rolled = 1.0
            for stage in stages:
                if (group, stage, PROCESS) in spent or (group, stage, WAIT) in spent:
                    for part in (PROCESS, WAIT):
                        mean = spent.get((group, stage, part), 0.0) / n[group]
                        snapshot.add(STAGE_TIME, mean, **common, stage=stage, part=part)
                if entered[group, stage]:
                    ratio = good[group, stage] / entered[group, stage]
                    rolled *= ratio
                    snapshot.add(STAGE_CA, ratio, **common, stage=stage)
            snapshot.add(ROLLED_CA, rolled, **common)
            total = sum(leads[group])
            if total > 0:
                snapshot.add(STREAM_EFFICIENCY, process[group] / total, **common)
            for p, value in quantiles(leads[group], QUANTILES).items():
                snapshot.add(STREAM_LEAD, value, **common, quantile=format_quantile(p))
