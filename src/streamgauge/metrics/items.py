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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter

from streamgauge.linking import InRecordOrder, Links
from streamgauge.metrics.dimensions import Group, LabelFolder
from streamgauge.metrics.windows import seconds_between
from streamgauge.model import FlowState, StatusChange, WorkItem, slot_setters

STARTED_STATES = (FlowState.ACTIVE, FlowState.WAITING)
History = tuple[StatusChange, ...]


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
    # worked out once here: every computation that keeps this flow reads it
    flow_seconds: float | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        seconds: float | None = None
        if self.done_at is not None:
            start = self.started_at
            seconds = 0.0 if start is None else max(0.0, seconds_between(start, self.done_at))
        object.__setattr__(self, "flow_seconds", seconds)

    def age_seconds(self, now: datetime) -> float | None:
        if self.state not in STARTED_STATES or self.started_at is None:
            return None
        return max(0.0, seconds_between(self.started_at, now))

    @property
    def in_progress(self) -> bool:
        return self.state in STARTED_STATES


# A frozen dataclass's __init__ sets each field through object.__setattr__; setting the slots
# through their descriptors makes the same flow in half the time (as the store's codec makes
# records), and a computation makes one for every work item.
_FLOW_SLOTS = slot_setters(ItemFlow)


def _new_flow(
    item: WorkItem,
    group: Group,
    state: FlowState,
    started_at: datetime | None,
    done_at: datetime | None,
    active_seconds: float | None,
    waiting_seconds: float | None,
    history: History,
) -> ItemFlow:
    """``ItemFlow(item, group, ...)``: the same flow, ``flow_seconds`` too."""
    seconds: float | None = None
    if done_at is not None:
        seconds = 0.0
        if started_at is not None and done_at > started_at:
            seconds = (done_at - started_at).total_seconds()
    flow = object.__new__(ItemFlow)
    put = _FLOW_SLOTS
    put[0](flow, item)
    put[1](flow, group)
    put[2](flow, state)
    put[3](flow, started_at)
    put[4](flow, done_at)
    put[5](flow, active_seconds)
    put[6](flow, waiting_seconds)
    put[7](flow, history)
    put[8](flow, seconds)
    return flow


# Where a walk through a status history ends: state, started, done, active seconds, and when
# the last change happened.
Walk = tuple[FlowState, datetime | None, datetime | None, float, datetime]
# An item's flow as last worked out: the item and history it came from, the walk through that
# history (when all of it happened by now), the flow (None: created after now), and the moment
# from which ``now`` no longer changes it (None: it moves with ``now``).
_Entry = tuple[WorkItem, History, Walk | None, "ItemFlow | None", datetime | None]


class FlowMemo:
    """Each work item's flow, kept from one computation to the next.

    The flows are kept with the joins of the records (:class:`~streamgauge.linking.Links`):
    after an extension of the same joins and at a ``now`` no earlier than last time, only the
    items it took in or whose history it changed, and the items whose flow moves with ``now``
    (in progress, or not created yet) are worked out again; their walk through the history is
    kept, so a flow that only moves with ``now`` costs a few comparisons. Anything else works
    every item out, keeping each flow whose item and history are the very same objects and that
    ``now`` cannot move. A flow worked out again equal to the kept one is the kept object.
    """

    __slots__ = ("_entries", "_flows", "_generation", "_links", "_now", "_unsettled", "moved")

    def __init__(self) -> None:
        self._links: Links | None = None
        self._generation = 0
        self._now: datetime | None = None
        self._entries: dict[str, _Entry] = {}  # by item id, every item
        self._flows: InRecordOrder[ItemFlow] = InRecordOrder()
        self._unsettled: set[str] = set()  # ids of the items whose flow moves with now
        self.moved: set[str] = set()  # ids of the items whose flow the latest computation changed

    def flow(self, item_id: str) -> ItemFlow | None:
        """The item's flow as of the latest computation."""
        entry = self._entries.get(item_id)
        return entry[3] if entry is not None else None

    def refresh(
        self,
        items: Iterable[WorkItem],
        histories: Mapping[str, History],
        links: Links,
        now: datetime,
        fold: LabelFolder,
    ) -> list[ItemFlow]:
        """The flows at ``now`` of ``items`` (every one), in their order."""
        self.moved = set()
        if not links.follows(self._links, self._generation, self._now, now):
            self._rebuild(items, histories, links, now, fold)
        else:
            latest: dict[str, WorkItem] = {}
            ids = set(self._unsettled)
            if links.generation != self._generation:
                for old, record in links.changed:
                    if isinstance(record, WorkItem):
                        latest[record.id] = record
                    elif isinstance(record, StatusChange):
                        ids.add(record.item_id)
                        if isinstance(old, StatusChange):
                            ids.add(old.item_id)
            ids.update(latest)
            for item_id in ids:
                item = latest.get(item_id)
                if item is None:
                    entry = self._entries.get(item_id)
                    if entry is None:
                        continue  # a status change of an item not known (yet)
                    item = entry[0]
                before = self._entries.get(item_id)
                flow = self._update(item, histories.get(item_id, ()), now, fold, before)
                self._flows.put(links.rank[item_id], flow)
        self._links, self._generation, self._now = links, links.generation, now
        return self._flows.list()

    def _rebuild(
        self,
        items: Iterable[WorkItem],
        histories: Mapping[str, History],
        links: Links,
        now: datetime,
        fold: LabelFolder,
    ) -> None:
        ranks: list[int] = []
        flows: list[ItemFlow] = []
        rank = links.rank if links.changes_by_sha is not None else None
        kept, self._entries, self._unsettled = self._entries, {}, set()
        for position, item in enumerate(items):
            flow = self._update(item, histories.get(item.id, ()), now, fold, kept.get(item.id))
            if flow is not None:
                ranks.append(rank[item.id] if rank is not None else position)
                flows.append(flow)
        self._flows = InRecordOrder(ranks, flows)

    def _update(
        self,
        item: WorkItem,
        history: History,
        now: datetime,
        fold: LabelFolder,
        entry: _Entry | None,
    ) -> ItemFlow | None:
        before = entry[3] if entry is not None else None
        walk = None
        if entry is not None and entry[0] is item and entry[1] is history:
            settled = entry[4]
            if settled is not None and settled <= now:
                self._entries[item.id] = entry
                self._unsettled.discard(item.id)
                return before
            walk = entry[2]
        flow, walk, settled = _worked_out(item, history, walk, now, fold)
        if settled is not None and settled > now:
            settled = None  # worked out before the flow settles: not the one to keep
        if before is not None and flow is not None and before == flow:
            flow = before
        if flow is not before:
            self.moved.add(item.id)
        self._entries[item.id] = (item, history, walk, flow, settled)
        if settled is None:
            self._unsettled.add(item.id)
        else:
            self._unsettled.discard(item.id)
        return flow


def _worked_out(
    item: WorkItem, history: History, walk: Walk | None, now: datetime, fold: LabelFolder
) -> tuple[ItemFlow | None, Walk | None, datetime | None]:
    """The flow at ``now``, the walk it took, and from when ``now`` no longer moves it."""
    created = item.created_at
    if created > now:
        return None, walk, None
    group = fold.pair(item.team, item.app)
    if history:
        last = history[-1].at
        if last > now:
            return _flow(item, group, history, now), None, None
        if walk is None:
            walk = _walk(created, history)
        flow = _finish(item, group, history, walk, now)
        # done, or never started: nothing in it runs up to now
        moves = walk[0] is not FlowState.DONE and walk[1] is not None
        return flow, walk, None if moves else max(created, last)
    flow = _flow(item, group, history, now)
    instants = [created]
    if item.started_at is not None:
        instants.append(item.started_at)
    if item.flow_state is FlowState.DONE and item.done_at is not None:
        instants.append(item.done_at)
    return flow, None, max(instants)


def group_histories(status_changes: Iterable[StatusChange]) -> dict[str, History]:
    """Each item's status changes in time order (then id, so equal times keep one order)."""
    grouped: dict[str, list[StatusChange]] = {}
    unsorted: set[str] = set()  # items whose changes do not come in time order already
    for change in status_changes:
        found = grouped.get(change.item_id)
        if found is None:
            grouped[change.item_id] = [change]
        else:
            if change.at <= found[-1].at:
                unsorted.add(change.item_id)
            found.append(change)
    for item_id in unsorted:
        grouped[item_id].sort(key=_ORDER)
    return {item: tuple(changes) for item, changes in grouped.items()}


_ORDER = attrgetter("at", "id")


def item_flows(
    items: Iterable[WorkItem],
    histories: Mapping[str, History],
    *,
    now: datetime,
    fold: LabelFolder,
    memo: FlowMemo | None = None,
    links: Links | None = None,
) -> list[ItemFlow]:
    """The flow of each work item created by ``now``, in the order of ``items``.

    ``memo`` (with the ``links`` of the records) keeps flows between calls; the result is the
    same.
    """
    if memo is not None and links is not None:
        return memo.refresh(items, histories, links, now, fold)
    out: list[ItemFlow] = []
    pair = fold.pair
    for item in items:
        if item.created_at > now:
            continue
        history = histories.get(item.id, ())
        group = pair(item.team, item.app)
        if history and history[-1].at <= now:  # the usual case, without a call more
            out.append(_finish(item, group, history, _walk(item.created_at, history), now))
        else:
            out.append(_flow(item, group, history, now))
    return out


def _flow(item: WorkItem, group: Group, history: History, now: datetime) -> ItemFlow:
    if history:
        seen = history if history[-1].at <= now else tuple([c for c in history if c.at <= now])
        if seen:
            return _finish(item, group, seen, _walk(item.created_at, seen), now)
        # not moved yet by now: it was where its first move took it from (new if unknown)
        state = history[0].from_state or FlowState.NEW
        started = item.created_at if state in STARTED_STATES else None
        return _new_flow(item, group, state, started, None, None, None, ())
    state = item.flow_state
    started = item.started_at if item.started_at and item.started_at <= now else None
    done = item.done_at if state is FlowState.DONE else None
    if done is not None and done > now:
        done = None
    return _new_flow(item, group, state, started, done, None, None, ())


def _walk(created_at: datetime, history: History) -> Walk:
    """Where the status changes of ``history`` (in order) leave an item created at ``created_at``.

    Before its first change the item was in the state that change moved it from.
    """
    active_state, done_state, started_states = FlowState.ACTIVE, FlowState.DONE, STARTED_STATES
    state = history[0].from_state or FlowState.NEW
    since = created_at
    started: datetime | None = created_at if state in started_states else None
    done: datetime | None = None
    active = 0.0
    changes = iter(history)
    # one pass, comparisons rather than min and max, no globals: this runs for every change;
    # until the item starts no time is active, then every move checks only for active time
    if started is None:
        for change in changes:
            state = change.to_state
            since = change.at
            if state in started_states:
                started = since
                break
            if state is done_state:
                done = since
    if started is not None:  # else every change was looked at above
        start = started
        for change in changes:
            at = change.at
            if state is active_state:
                begin = start if start > since else since
                if at > begin:
                    active += (at - begin).total_seconds()
            state = change.to_state
            since = at
            if state is done_state:
                done = at
    return state, started, done, active, since


def _finish(item: WorkItem, group: Group, history: History, walk: Walk, now: datetime) -> ItemFlow:
    """The flow at ``now`` of an item whose history (all of it by ``now``) ends in ``walk``."""
    state, started, done, active, since = walk
    end = now
    if state is FlowState.DONE:
        end = done or now
    else:
        done = None
        if started is not None and state is FlowState.ACTIVE:
            begin = started if started > since else since
            if now > begin:
                active += (now - begin).total_seconds()
    if started is None:
        measured = 0.0 if done else None
        return _new_flow(item, group, state, None, done, measured, measured, history)
    span = (end - started).total_seconds()
    if span < 0:
        span = 0.0
    if span < active:
        active = span
    return _new_flow(item, group, state, started, done, active, span - active, history)
