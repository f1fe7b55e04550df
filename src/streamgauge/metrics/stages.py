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
stage not visited before, to a done status with a stage or not, or to the end) and never came
back to it; an item's creation is no visit to a stage. Tracker stages use the
status history; for the delivery stages a change sent back by review (``review_rounds`` > 0)
returns to ``coding``, so neither coding nor code_review is C&A, and ``deploy`` is C&A unless a
deployment that shipped the item's changes failed. **Rolled %C&A** is the product of the
stages' ratios. Stage names beyond ``metrics.stage_labels`` (alphabetically) fold to ``other``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from operator import itemgetter

from streamgauge.linking import InRecordOrder, Links
from streamgauge.metrics.deployments import OutcomeMemo
from streamgauge.metrics.dimensions import OTHER
from streamgauge.metrics.items import FlowMemo, ItemFlow
from streamgauge.metrics.leadtime import milestones
from streamgauge.model import Change, ChangeState, Deployment, FlowState, StatusChange, slot_setters

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
        lead, process, names = _sums(self.times, self.accurate)
        object.__setattr__(self, "lead_seconds", lead)
        object.__setattr__(self, "process_seconds", process)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "folded", {})

    def fold(self, kept: frozenset[str]) -> _Folded:
        """Times and %C&A with stage names outside ``kept`` folded to ``other`` (remembered)."""
        if self.names <= kept:
            return self.times, self.accurate
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


def _sums(
    times: dict[tuple[str, str], float], accurate: dict[str, bool]
) -> tuple[float, float, frozenset[str]]:
    """Lead and process seconds of a stream, and the names of its stages."""
    process = sum([seconds for key, seconds in times.items() if key[1] == PROCESS])
    return sum(times.values()), process, frozenset(chain(map(_STAGE, times), accurate))


_STAGE = itemgetter(0)
# A frozen dataclass's __init__ sets each field through object.__setattr__; setting the slots
# through their descriptors makes the same stream in half the time (as the store's codec makes
# records), and a computation makes one for every done item.
_STREAM_SLOTS = slot_setters(ItemStream)


def _new_stream(
    flow: ItemFlow,
    times: dict[tuple[str, str], float],
    accurate: dict[str, bool],
    changes: tuple[Change, ...],
    names: frozenset[str],
) -> ItemStream:
    """``ItemStream(flow, times, accurate, changes)`` given its ``names``: the same stream."""
    stream = object.__new__(ItemStream)
    put = _STREAM_SLOTS
    put[0](stream, flow)
    put[1](stream, times)
    put[2](stream, accurate)
    put[3](stream, changes)
    put[4](stream, sum(times.values()))  # as _sums adds them up
    put[5](stream, sum([seconds for key, seconds in times.items() if key[1] == PROCESS]))
    put[6](stream, names)
    put[7](stream, {})
    return stream


class _Stages:
    """What an item's stages in order (where it started, then where each move took it) say
    alike for every item that went through the same: each stage's %C&A, and the names of the
    stages of its streams, shared rather than made for every stream."""

    __slots__ = ("accurate", "apart", "names")

    def __init__(self, sequence: _Sequence) -> None:
        self.accurate = _complete_and_accurate(sequence)
        self.names: dict[tuple[int, bool], frozenset[str]] = {}
        # no tracker stage is named like a delivery stage: their times need no adding up
        self.apart = {stage or UNMAPPED for stage, _ in sequence}.isdisjoint(DELIVERY)

    def names_of(self, accurate: dict[str, bool], unmapped: bool) -> frozenset[str]:
        """The names of a stream's stages: those whose %C&A it has (every stage it entered but
        ``unmapped``, and its delivery stages), and ``unmapped`` when it spent time there."""
        # given the stages entered, how many names there are tells which delivery stages were
        # added (coding, pickup and code_review together, then deploy)
        variant = (len(accurate), unmapped)
        found = self.names.get(variant)
        if found is None:
            found = frozenset([*accurate, UNMAPPED] if unmapped else accurate)
            self.names[variant] = found
        return found


# An item's stages in order, each with whether it is a done status
_Sequence = tuple[tuple[str | None, bool], ...]
# An item's stages in order -> what they say (few sequences recur across many items)
_Verdicts = dict[_Sequence, _Stages]


# What an item's stream is worked out from: its flow, the merged changes linked to it, their
# first production deployments and whether those failed.
StreamInputs = tuple[ItemFlow, tuple[Change, ...], tuple[Deployment | None, ...], tuple[bool, ...]]
# An item's stream as last worked out, from what, and whether ``now`` can still move it.
_Entry = tuple[StreamInputs, "ItemStream | None", bool]


class StreamMemo:
    """Each done item's value stream, kept from one computation to the next.

    The streams are kept with the joins of the records (:class:`~streamgauge.linking.Links`)
    and read the flows and the failed deployments of the same memo's other parts: after an
    extension of the same joins and at a ``now`` no earlier than last time, only the items
    whose flow moved, those linked to a change the extension took in, shipped otherwise, merged
    since, or shipped by a deployment whose failure moved, and those whose deployments had not
    all ended, are worked out again. Anything else works every done item out, keeping each
    stream whose inputs are the very same objects. A stream worked out again equal to the
    kept one is the kept object.
    """

    __slots__ = (
        "_entries",
        "_flows",
        "_generation",
        "_items_of_key",
        "_links",
        "_merging",
        "_now",
        "_outcomes",
        "_streams",
        "_unsettled",
        "_verdicts",
    )

    def __init__(self, flows: FlowMemo, outcomes: OutcomeMemo) -> None:
        self._flows = flows  # whose flows and moves these streams read
        self._outcomes = outcomes  # whose failures they read
        self._links: Links | None = None
        self._generation = 0
        self._now: datetime | None = None
        self._entries: dict[str, _Entry] = {}  # by item id, items done at some point
        self._streams: InRecordOrder[ItemStream] = InRecordOrder()
        self._unsettled: set[str] = set()  # ids of items whose stream moves with now
        self._merging: set[str] = set()  # ids of changes merged after now
        # key -> ids of the items with a stream (a tuple: most keys are one item's)
        self._items_of_key: dict[str, tuple[str, ...]] = {}
        self._verdicts: _Verdicts = {}

    def refresh(
        self,
        flows: Iterable[ItemFlow],
        changes: Collection[Change],
        links: Links,
        failed_deployments: AbstractSet[str],
        now: datetime,
    ) -> list[ItemStream]:
        """The streams at ``now`` of the done items of ``flows`` (every one), in their order."""
        if not links.follows(self._links, self._generation, self._now, now):
            self._rebuild(flows, changes, links, failed_deployments, now)
        else:
            for item_id in self._dirty(links, now):
                flow = self._flows.flow(item_id)
                stream = None
                if flow is not None and flow.done_at is not None:
                    linked = _linked(links, flow.item.key, now)
                    stream = self._update(flow, linked, links, failed_deployments, now)
                else:
                    self._forget(item_id)
                self._streams.put(links.rank[item_id], stream)
        self._links, self._generation, self._now = links, links.generation, now
        return self._streams.list()

    def _dirty(self, links: Links, now: datetime) -> set[str]:
        """The ids of the items whose stream may have moved since the latest computation."""
        ids = self._unsettled | self._flows.moved
        keys: set[str] = set()
        if links.generation != self._generation:
            for old, _ in links.changed:
                if isinstance(old, Change):
                    keys.update(old.work_item_keys)
            for change_id in links.moved:
                change = links.changes[change_id]
                keys.update(change.work_item_keys)
                merged_at = change.merged_at
                if change.state is ChangeState.MERGED and merged_at is not None and merged_at > now:
                    self._merging.add(change_id)
        for change_id in list(self._merging):
            change = links.changes[change_id]
            if change.merged_at is None or change.merged_at <= now:
                self._merging.discard(change_id)
                keys.update(change.work_item_keys)
        index = links.changes_by_sha or {}
        for deployment_id in self._outcomes.flipped:
            deployment = links.deployments[deployment_id]
            for sha in (deployment.sha, *deployment.commit_shas):
                for change_id in index.get(sha or "", ()):
                    keys.update(links.changes[change_id].work_item_keys)
        for key in keys:
            ids.update(self._items_of_key.get(key, ()))
        return ids

    def _rebuild(
        self,
        flows: Iterable[ItemFlow],
        changes: Collection[Change],
        links: Links,
        failed_deployments: AbstractSet[str],
        now: datetime,
    ) -> None:
        kept, self._entries = self._entries, {}
        self._unsettled, self._items_of_key = set(), {}
        by_key = _linked_by_key(changes, now)
        self._merging = {
            c.id
            for c in changes
            if c.state is ChangeState.MERGED and c.merged_at is not None and c.merged_at > now
        }
        ranks: list[int] = []
        streams: list[ItemStream] = []
        rank = links.rank if links.changes_by_sha is not None else None
        for position, flow in enumerate(flows):
            if flow.done_at is None:
                continue
            item_id = flow.item.id
            found = by_key.get(flow.item.key)
            linked = tuple(found) if found else ()
            entry = kept.get(item_id)
            if entry is not None:
                self._entries[item_id] = entry
            stream = self._update(flow, linked, links, failed_deployments, now)
            ranks.append(rank[item_id] if rank is not None else position)
            streams.append(stream)
        self._streams = InRecordOrder(ranks, streams)

    def _update(
        self,
        flow: ItemFlow,
        linked: tuple[Change, ...],
        links: Links,
        failed_deployments: AbstractSet[str],
        now: datetime,
    ) -> ItemStream:
        item_id = flow.item.id
        shipping = tuple([links.shipping_deployment(c) for c in linked]) if linked else ()
        failed = (
            tuple([d is not None and d.id in failed_deployments for d in shipping])
            if linked
            else ()
        )
        inputs: StreamInputs = (flow, linked, shipping, failed)
        settled = _settled(shipping, now)
        entry = self._entries.get(item_id)
        before = entry[1] if entry is not None else None
        if before is not None and settled and entry is not None and entry[2] and entry[0] == inputs:
            stream = before
        else:
            stream = _stream(flow, linked, shipping, failed_deployments, now, self._verdicts)
            if before is not None and before == stream:
                stream = before
        if before is not None and before.flow.item.key != flow.item.key:
            self._unlist(before.flow.item.key, item_id)
        listed = self._items_of_key.get(flow.item.key, ())
        if item_id not in listed:
            self._items_of_key[flow.item.key] = (*listed, item_id)
        self._entries[item_id] = (inputs, stream, settled)
        if settled:
            self._unsettled.discard(item_id)
        else:
            self._unsettled.add(item_id)
        return stream

    def _forget(self, item_id: str) -> None:
        entry = self._entries.pop(item_id, None)
        if entry is not None and entry[1] is not None:
            self._unlist(entry[1].flow.item.key, item_id)
        self._unsettled.discard(item_id)

    def _unlist(self, key: str, item_id: str) -> None:
        others = tuple(i for i in self._items_of_key.get(key, ()) if i != item_id)
        if others:
            self._items_of_key[key] = others
        else:
            self._items_of_key.pop(key, None)


def _linked(links: Links, key: str, now: datetime) -> tuple[Change, ...]:
    """The changes merged by ``now`` naming ``key``, in record order."""
    found = [
        c
        for c in links.changes_by_key.get(key, ())
        if c.state is ChangeState.MERGED and c.merged_at and c.merged_at <= now
    ]
    if len(found) > 1:
        rank = links.rank
        found.sort(key=lambda c: rank[c.id])
    return tuple(found)


def _linked_by_key(changes: Iterable[Change], now: datetime) -> dict[str, list[Change]]:
    """The changes merged by ``now``, in record order, by each key they name."""
    by_key: dict[str, list[Change]] = {}
    merged = ChangeState.MERGED
    for change in changes:
        if change.state is merged and change.merged_at and change.merged_at <= now:
            for key in change.work_item_keys:
                found = by_key.get(key)
                if found is None:
                    by_key[key] = [change]
                else:
                    found.append(change)
    return by_key


def item_streams(
    flows: Iterable[ItemFlow],
    changes: Collection[Change],
    links: Links,
    failed_deployments: AbstractSet[str],
    *,
    now: datetime,
    memo: StreamMemo | None = None,
) -> list[ItemStream]:
    """The stream of every item done by ``now``, in the order of ``flows``."""
    if memo is not None:
        return memo.refresh(flows, changes, links, failed_deployments, now)
    by_key = _linked_by_key(changes, now)
    ship = links.shipping_deployment
    verdicts: _Verdicts = {}
    out: list[ItemStream] = []
    for flow in flows:
        if flow.done_at is None:
            continue
        found = by_key.get(flow.item.key)
        if not found:
            out.append(_stream(flow, (), (), failed_deployments, now, verdicts))
            continue
        if len(found) == 1:  # the usual case, without a comprehension
            linked: tuple[Change, ...] = (found[0],)
            shipping: tuple[Deployment | None, ...] = (ship(found[0]),)
        else:
            linked = tuple(found)
            shipping = tuple([ship(c) for c in linked])
        out.append(_stream(flow, linked, shipping, failed_deployments, now, verdicts))
    return out


def _settled(shipping: tuple[Deployment | None, ...], now: datetime) -> bool:
    """Every deployment ended by ``now``: the stream no longer depends on ``now``."""
    for d in shipping:
        if d is not None and (d.finished_at is None or d.finished_at > now):
            return False
    return True


def _stream(
    flow: ItemFlow,
    linked: tuple[Change, ...],
    shipping: tuple[Deployment | None, ...],
    failed_deployments: AbstractSet[str],
    now: datetime,
    verdicts: _Verdicts,
) -> ItemStream:
    times: dict[tuple[str, str], float] = {}
    cut = flow.done_at
    assert cut is not None
    if linked:
        if len(linked) == 1:
            first = linked[0].first_commit_at or linked[0].created_at
        else:
            first = min([c.first_commit_at or c.created_at for c in linked])
        if first < cut:
            cut = first
    history = flow.history
    if history:
        _tracker(history, flow.item.created_at, cut, times)
    # %C&A looks at every move, cut or not
    sequence = _stage_sequence(history) if history else ()
    stages = verdicts.get(sequence)
    if stages is None:
        stages = verdicts[sequence] = _Stages(sequence)
    accurate = dict(stages.accurate)
    if linked:
        _delivery(linked, shipping, failed_deployments, now, times, accurate, stages.apart)
    unmapped = _UNMAPPED_WAIT in times or _UNMAPPED_PROCESS in times
    return _new_stream(flow, times, accurate, linked, stages.names_of(accurate, unmapped))


def _tracker(
    history: Sequence[StatusChange],
    created_at: datetime,
    cut: datetime,
    times: dict[tuple[str, str], float],
) -> None:
    """Add the time in each tracker stage, process or wait, from creation to ``cut``."""
    first = history[0]
    stage = first.from_stage or UNMAPPED
    active = first.from_state is FlowState.ACTIVE
    active_state = FlowState.ACTIVE
    since = created_at
    # The hottest loop of the calculator: one pass up to the cut, no helper calls.
    for change in history:
        at = change.at
        if at >= cut:
            break
        if at > since:
            key = (stage, PROCESS) if active else (stage, WAIT)
            times[key] = times.get(key, 0.0) + (at - since).total_seconds()
        stage = change.to_stage or UNMAPPED
        active = change.to_state is active_state
        since = at
    if cut > since:
        key = (stage, PROCESS) if active else (stage, WAIT)
        times[key] = times.get(key, 0.0) + (cut - since).total_seconds()


def _stage_sequence(history: Sequence[StatusChange]) -> _Sequence:
    """Where an item was before its first move (unless that is its creation: no stage), then
    where each move took it, each with whether it is a done status."""
    first = history[0]
    done = FlowState.DONE
    moves = [(c.to_stage, c.to_state is done) for c in history]
    if first.from_stage is None:
        return tuple(moves)
    return ((first.from_stage, first.from_state is done), *moves)


def _complete_and_accurate(sequence: _Sequence) -> tuple[tuple[str, bool], ...]:
    """Each mapped stage of an item's stages and whether it was left forward for good: to a
    stage not visited before, to a done status (with a stage or not) or to the end, and never
    entered again."""
    visits: list[tuple[str, bool]] = []
    for stage, done in sequence:
        name = stage or UNMAPPED
        if not visits or name != visits[-1][0]:
            visits.append((name, done))
    counts: dict[str, int] = {}
    for name, _ in visits:
        counts[name] = counts.get(name, 0) + 1
    accurate: dict[str, bool] = {}
    seen: set[str] = set()
    last = len(visits) - 1
    for i, (name, _) in enumerate(visits):
        if name != UNMAPPED:
            forward = i == last or visits[i + 1][1] or visits[i + 1][0] not in seen
            ok = counts[name] == 1 and forward
            accurate[name] = accurate.get(name, True) and ok
        seen.add(name)
    return tuple(accurate.items())


_UNMAPPED_WAIT = (UNMAPPED, WAIT)
_UNMAPPED_PROCESS = (UNMAPPED, PROCESS)
_CODING = ("coding", PROCESS)
_PICKUP = ("pickup", WAIT)
_REVIEW = ("code_review", PROCESS)
_DEPLOY = ("deploy", WAIT)


def _delivery(
    linked: Sequence[Change],
    shipping: Sequence[Deployment | None],
    failed_deployments: AbstractSet[str],
    now: datetime,
    times: dict[tuple[str, str], float],
    accurate: dict[str, bool],
    apart: bool = False,
) -> None:
    """Add the delivery stages' times and %C&A; ``apart``: ``times`` has none of them yet."""
    if len(linked) == 1:  # the usual case: the milestones of lead-time parts
        change = linked[0]
        first_commit = change.first_commit_at or change.created_at
        opened, reviewed, merged = milestones(change, first_commit)
        sent_back = change.review_rounds > 0
    else:
        first_commit = min(c.first_commit_at or c.created_at for c in linked)
        opened = max(first_commit, min(c.created_at for c in linked))
        merged = max(opened, max(c.merged_at or opened for c in linked))
        reviews = [c.first_review_at for c in linked if c.first_review_at is not None]
        reviewed = min(max(opened, min(reviews)), merged) if reviews else merged
        sent_back = any(c.review_rounds > 0 for c in linked)
    if apart:  # each is at least 0.0, which is what 0.0 plus it would be
        times[_CODING] = (opened - first_commit).total_seconds()
        times[_PICKUP] = (reviewed - opened).total_seconds()
        times[_REVIEW] = (merged - reviewed).total_seconds()
    else:
        times[_CODING] = times.get(_CODING, 0.0) + (opened - first_commit).total_seconds()
        times[_PICKUP] = times.get(_PICKUP, 0.0) + (reviewed - opened).total_seconds()
        times[_REVIEW] = times.get(_REVIEW, 0.0) + (merged - reviewed).total_seconds()
    accurate["coding"] = not sent_back
    accurate["pickup"] = True
    accurate["code_review"] = not sent_back
    last: datetime | None = None
    if len(shipping) == 1:
        deployment = shipping[0]
        if deployment is not None:
            last = deployment.finished_at
            if last is not None and last <= now:
                fine = deployment.id not in failed_deployments
            else:
                last = None
    else:
        deployed = [
            d
            for d in shipping
            if d is not None and d.finished_at is not None and d.finished_at <= now
        ]
        if deployed:
            last = max([d.finished_at or merged for d in deployed])
            fine = not any(d.id in failed_deployments for d in deployed)
    if last is not None:
        end = last if last > merged else merged
        seconds = (end - merged).total_seconds()
        times[_DEPLOY] = seconds if apart else times.get(_DEPLOY, 0.0) + seconds
        accurate["deploy"] = fine
