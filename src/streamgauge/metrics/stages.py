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
from dataclasses import dataclass, field
from datetime import datetime

from streamgauge.linking import Links
from streamgauge.metrics.dimensions import OTHER
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.windows import seconds_between
from streamgauge.model import Change, ChangeState, Deployment, FlowState

UNMAPPED = "unmapped"
DELIVERY = ("coding", "pickup", "code_review", "deploy")
PROCESS, WAIT = "process", "wait"


_Folded = tuple[dict[tuple[str, str], float], dict[str, bool]]


@dataclass(frozen=True, slots=True)
class ItemStream:
    flow: ItemFlow
    times: dict[tuple[str, str], float]  # (stage, part) -> seconds
    accurate: dict[str, bool]  # stage entered -> complete and accurate
    changes: tuple[Change, ...]
    lead_seconds: float = field(init=False)  # the sum of every stage's time
    process_seconds: float = field(init=False)
    names: frozenset[str] = field(init=False, compare=False, repr=False)  # every stage in it

    folded: dict[frozenset[str], _Folded] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # summed once here: every window of every computation reads them
        object.__setattr__(self, "lead_seconds", sum(self.times.values()))
        process = sum(v for (_, part), v in self.times.items() if part == PROCESS)
        object.__setattr__(self, "process_seconds", process)
        names = frozenset([*(stage for stage, _ in self.times), *self.accurate])
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "folded", {})

    def fold(self, kept: frozenset[str]) -> _Folded:
        """Times and %C&A with stage names outside ``kept`` folded to ``other`` (remembered)."""
        found = self.folded.get(kept)
        if found is None:
            times: dict[tuple[str, str], float] = defaultdict(float)
            for (stage, part), seconds in self.times.items():
                times[stage if stage in kept else OTHER, part] += seconds
            accurate: dict[str, bool] = {}
            for stage, ok in self.accurate.items():
                name = stage if stage in kept else OTHER
                accurate[name] = accurate.get(name, True) and ok
            found = (dict(times), accurate)
            self.folded[kept] = found
        return found


# item id -> what its stream was computed from (flow, linked changes, their first production
# deployments and whether those failed) and the stream: kept while all of that is the same.
StreamInputs = tuple[ItemFlow, tuple[Change, ...], tuple[Deployment | None, ...], tuple[bool, ...]]
StreamMemo = dict[str, tuple[StreamInputs, "ItemStream"]]


def item_streams(
    flows: Iterable[ItemFlow],
    changes: Iterable[Change],
    links: Links,
    failed_deployments: set[str],
    *,
    now: datetime,
    memo: StreamMemo | None = None,
) -> list[ItemStream]:
    """The stream of every item done by ``now``."""
    by_key: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        if change.state is ChangeState.MERGED and change.merged_at and change.merged_at <= now:
            for key in change.work_item_keys:
                by_key[key].append(change)
    out: list[ItemStream] = []
    ship = links.shipping_deployment
    for flow in flows:
        if flow.done_at is None:
            continue
        found = by_key.get(flow.item.key)
        linked = tuple(found) if found else ()
        inputs: StreamInputs | None = None
        if memo is not None:
            # list comprehensions, not generators: this runs for every done item each time
            shipping = tuple([ship(c) for c in linked]) if linked else ()
            failed = (
                tuple([d is not None and d.id in failed_deployments for d in shipping])
                if linked
                else ()
            )
            inputs = (flow, linked, shipping, failed)
            cached = memo.get(flow.item.id)
            # tuples compare their items by identity first, so an unchanged input is cheap
            if (
                cached is not None
                and cached[0] == inputs
                and (not linked or _settled(shipping, now))
            ):
                out.append(cached[1])
                continue
        times: dict[tuple[str, str], float] = {}
        accurate: dict[str, bool] = {}
        cut = flow.done_at
        if linked:
            cut = min(cut, min(c.first_commit_at or c.created_at for c in linked))
        _tracker(flow, cut, times, accurate)
        if linked:
            _delivery(linked, links, failed_deployments, now, times, accurate)
        stream = ItemStream(flow, times, accurate, linked)
        if memo is not None and inputs is not None and _settled(inputs[2], now):
            memo[flow.item.id] = (inputs, stream)
        out.append(stream)
    return out


def _settled(shipping: tuple[Deployment | None, ...], now: datetime) -> bool:
    """Every deployment ended by ``now``: the stream no longer depends on ``now``."""
    for d in shipping:
        if d is not None and (d.finished_at is None or d.finished_at > now):
            return False
    return True


def _tracker(
    flow: ItemFlow, cut: datetime, times: dict[tuple[str, str], float], accurate: dict[str, bool]
) -> None:
    history = flow.history
    if not history:
        return
    stage = history[0].from_stage or UNMAPPED
    active = history[0].from_state is FlowState.ACTIVE
    since = flow.item.created_at
    visits = [stage]
    # The hottest loop of the calculator: one pass, no helper calls.
    for change in history:
        end = change.at if change.at < cut else cut
        if end > since:
            key = (stage, PROCESS if active else WAIT)
            times[key] = times.get(key, 0.0) + (end - since).total_seconds()
        stage = change.to_stage or UNMAPPED
        active = change.to_state is FlowState.ACTIVE
        since = change.at
        if stage != visits[-1]:
            visits.append(stage)
    if cut > since:
        key = (stage, PROCESS if active else WAIT)
        times[key] = times.get(key, 0.0) + (cut - since).total_seconds()
    counts: dict[str, int] = {}
    for name in visits:
        counts[name] = counts.get(name, 0) + 1
    seen: set[str] = set()
    last = len(visits) - 1
    for i, name in enumerate(visits):
        if name != UNMAPPED:
            ok = counts[name] == 1 and (i == last or visits[i + 1] not in seen)
            accurate[name] = accurate.get(name, True) and ok
        seen.add(name)


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
        key = (DELIVERY[i], parts[i])
        times[key] = times.get(key, 0.0) + seconds_between(milestones[i], milestones[i + 1])
    sent_back = any(c.review_rounds > 0 for c in linked)
    accurate["coding"] = not sent_back
    accurate["pickup"] = True
    accurate["code_review"] = not sent_back
    if deployed:
        accurate["deploy"] = not any(d.id in failed_deployments for d in deployed)
