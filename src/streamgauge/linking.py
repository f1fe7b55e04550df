"""Cross-tool joins: work-item keys in text, the deployment that shipped a change, incident blame.

Everything here is built from dicts and sorted lists, so a join costs O(records) plus a sort,
never a loop over deployments for each change or incident. The server keeps the joins between
computations and extends them in place from the records that changed (:meth:`Links.extend`),
which also tells the facts kept between computations what they must look at again.

Rules (docs/metrics.md states them for users too):

* A **production deployment** is a deployment whose ``environment`` is ``production``.
* The deployment that **shipped** a commit is the first successful production deployment, of
  any app, ordered by ``finished_at``, that lists the commit's sha in ``commit_shas`` (or as its
  own ``sha``). A change is shipped by the earliest of the deployments that shipped its
  ``merge_sha`` or any of its ``commit_shas``.
* An incident is **blamed** on the deployment its ``deployment_id`` names when that deployment
  is known; else on the latest successful production deployment of the same app that finished
  within ``incident_window`` before the incident opened (at or before the opening); else on
  none: it stays unattributed and is never pinned on a deployment months earlier.
* An incident **counts** (for failures, recovery and rework) when its severity is at least
  ``metrics.incident_min_severity`` (:func:`severe_enough`, the one place that rule is
  applied): a blamed incident below it stays in :attr:`Links.blame` but goes to
  :attr:`Links.set_aside` instead of :attr:`Links.incidents_of`, and its key names no incident
  fix (:meth:`Links.counts_key`).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right, insort
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain, count
from operator import attrgetter
from typing import TYPE_CHECKING, Generic, TypeVar

from streamgauge.model import (
    Change,
    Commit,
    Dataset,
    Deployment,
    Environment,
    Incident,
    Record,
    RunResult,
    Severity,
    WorkItem,
)

if TYPE_CHECKING:
    from streamgauge.metrics.leadtime import LeadTime

# Jira-style keys: a project key (a capital letter, then capitals, digits or '_') and a number.
# Case-insensitive so ``feature/pay-123-refunds`` is found; see :func:`find_keys` for how
# lower-case hits are kept apart from words like ``utf-8``.
_KEY = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z][A-Za-z0-9_]{1,9})-([1-9][0-9]{0,8})(?![A-Za-z0-9])")


def find_keys(*texts: str | None, projects: Collection[str] | None = None) -> tuple[str, ...]:
    """Work-item keys (``PAY-123``) in titles, branch names or commit messages, in order, once each.

    Without ``projects`` only keys written in capitals count (``PAY-12``, not ``utf-8``).
    With ``projects`` (the tracker's project keys) any case counts, but only for those projects,
    which also drops look-alikes such as ``SHA-256``.
    """
    wanted = {p.upper() for p in projects} if projects is not None else None
    found: dict[str, None] = {}
    for text in texts:
        if not text:
            continue
        for match in _KEY.finditer(text):
            project, number = match.group(1), match.group(2)
            if wanted is None:
                if not project.isupper():
                    continue
            elif project.upper() not in wanted:
                continue
            found.setdefault(f"{project.upper()}-{number}", None)
    return tuple(found)


def severe_enough(incident: Incident, min_severity: Severity) -> bool:
    """Whether ``incident`` reaches ``min_severity`` (``unknown``, the lowest, lets all count)."""
    return incident.severity.rank >= min_severity.rank


def is_production(deployment: Deployment) -> bool:
    return deployment.environment is Environment.PRODUCTION


def is_success(deployment: Deployment) -> bool:
    """A successful production deployment that finished: the kind that ships commits."""
    return (
        deployment.environment is Environment.PRODUCTION
        and deployment.result is RunResult.SUCCESS
        and deployment.finished_at is not None
    )


def _shas(change: Change) -> tuple[str, ...]:
    return (change.merge_sha, *change.commit_shas) if change.merge_sha else change.commit_shas


def _deployed_shas(deployment: Deployment) -> tuple[str, ...]:
    return (deployment.sha, *deployment.commit_shas) if deployment.sha else deployment.commit_shas


def _finish_order(deployment: Deployment) -> tuple[datetime, datetime, str]:
    # finished_at first; started_at and id only make the order total, hence deterministic.
    return deployment.finished_at or deployment.started_at, deployment.started_at, deployment.id


_FINISHED = attrgetter("finished_at", "started_at", "id")  # the finish order of successes
_MERGE_SHA = attrgetter("merge_sha")
_COMMIT_SHAS = attrgetter("commit_shas")


def _opening(incident: Incident) -> tuple[datetime, str]:
    return incident.opened_at, incident.id


T = TypeVar("T")


class InRecordOrder(Generic[T]):
    """Facts, at most one per record, in the order of their records' :attr:`Links.rank`.

    Facts kept between computations are put and dropped one record at a time, by bisection;
    :meth:`list` gives them in record order, the order a computation from scratch lists them in.
    """

    __slots__ = ("_facts", "_ranks")

    def __init__(self, ranks: list[int] | None = None, facts: list[T] | None = None) -> None:
        """Start from ``facts`` and the ranks of their records, both in rank order."""
        self._ranks: list[int] = ranks if ranks is not None else []
        self._facts: list[T] = facts if facts is not None else []

    def put(self, rank: int, fact: T | None) -> None:
        """Make ``fact`` the fact of the record of ``rank``; None: that record has none."""
        ranks = self._ranks
        i = bisect_left(ranks, rank)
        there = i < len(ranks) and ranks[i] == rank
        if fact is None:
            if there:
                del ranks[i]
                del self._facts[i]
        elif there:
            self._facts[i] = fact
        else:
            ranks.insert(i, rank)
            self._facts.insert(i, fact)

    def get(self, rank: int) -> T | None:
        """The fact of the record of ``rank``, if it has one."""
        ranks = self._ranks
        i = bisect_left(ranks, rank)
        return self._facts[i] if i < len(ranks) and ranks[i] == rank else None

    def list(self) -> list[T]:
        """The facts in record order (a new list)."""
        return self._facts.copy()

    def __iter__(self) -> Iterator[T]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)


# A direct push's lead time as last worked out: the commit, the deployment that shipped it, what
# became of it (see :mod:`streamgauge.metrics.leadtime`) and its lead time when counted.
PushMemo = dict[str, tuple[Commit, Deployment, str, "LeadTime | None"]]


@dataclass(slots=True)
class Links:
    """The joins of one dataset: built by :meth:`build`, then only read or extended in place."""

    deployments: dict[str, Deployment] = field(default_factory=dict)
    # sha -> (position in finish order, the first successful production deployment shipping it)
    shipped_by: dict[str, tuple[int, Deployment]] = field(default_factory=dict)
    work_items: dict[str, WorkItem] = field(default_factory=dict)  # by key
    # incident id -> the deployment it is blamed on (unattributed incidents are absent)
    blame: dict[str, Deployment] = field(default_factory=dict)
    blame_explicit: set[str] = field(default_factory=set)  # incident ids blamed by deployment_id
    # deployment id -> the incidents blamed on it that count, in the order they opened
    incidents_of: dict[str, list[Incident]] = field(default_factory=dict)
    # deployment id -> the incidents blamed on it below min_severity, in the order they opened
    set_aside: dict[str, list[Incident]] = field(default_factory=dict)
    min_severity: Severity = Severity.UNKNOWN
    # incident key -> ids of the incidents of that key that count (see :meth:`counts_key`)
    counted_keys: dict[str, set[str]] = field(default_factory=dict)
    # change id -> its shipping deployment, remembered: lead times and streams both ask
    shipping_memo: dict[str, Deployment | None] = field(default_factory=dict)
    push_memo: PushMemo = field(default_factory=dict)  # by commit id
    successes: list[Deployment] = field(default_factory=list)  # in finish order
    # app -> its successes in finish order, and when each finished: blame bisects these
    app_successes: dict[str, list[Deployment]] = field(default_factory=dict)
    app_finishes: dict[str, list[datetime]] = field(default_factory=dict)
    incident_window: timedelta = timedelta(0)

    # What :meth:`index` adds so that :meth:`extend` can take records in place.
    # sha -> ids of the changes listing it (a tuple, not a set: most shas belong to one change,
    # and a set weighs four times more)
    changes_by_sha: dict[str, tuple[str, ...]] | None = None
    changes_by_key: dict[str, tuple[Change, ...]] = field(default_factory=dict)  # naming the key
    changes: dict[str, Change] = field(default_factory=dict)  # by id
    # change, work item, deployment and incident id -> its place in the order of the records
    rank: dict[str, int] = field(default_factory=dict)
    unlisted: set[str] = field(default_factory=set)  # shipped shas no change lists
    # the commits of unlisted shas, by id in record order; None until looked for again
    pushed: dict[str, Commit] | None = None
    app_incidents: dict[str, dict[str, Incident]] = field(default_factory=dict)  # by app, id
    naming: dict[str, dict[str, Incident]] = field(default_factory=dict)  # by deployment_id, id

    # What the latest :meth:`extend` took in, for the facts kept from one computation to the
    # next: they look again at what these name, and at nothing else.
    generation: int = 0  # extensions so far
    changed: list[tuple[Record | None, Record]] = field(default_factory=list)
    moved: set[str] = field(default_factory=set)  # changes whose shipping may differ
    reblamed: set[str] = field(default_factory=set)  # incidents whose blame differs
    touched: set[str] = field(default_factory=set)  # deployments whose blamed incidents differ

    @classmethod
    def build(
        cls,
        dataset: Dataset,
        *,
        incident_window: timedelta,
        min_severity: Severity = Severity.UNKNOWN,
    ) -> Links:
        links = cls(
            deployments={d.id: d for d in dataset.deployments},
            incident_window=incident_window,
            min_severity=min_severity,
        )
        production, success = Environment.PRODUCTION, RunResult.SUCCESS
        successes = [
            d
            for d in dataset.deployments
            if d.environment is production and d.result is success and d.finished_at is not None
        ]
        # each has finished_at: the finish order of these is plain attribute order
        successes.sort(key=_FINISHED)
        shipped_by = links.shipped_by
        by_app, finishes = links.app_successes, links.app_finishes
        for position, deployment in enumerate(successes):
            # setdefault keeps the first: later deployments re-listing a sha did not ship it.
            entry = (position, deployment)
            if deployment.sha:
                shipped_by.setdefault(deployment.sha, entry)
            for sha in deployment.commit_shas:
                shipped_by.setdefault(sha, entry)
            app = deployment.app
            if app is not None:
                finished = deployment.finished_at or deployment.started_at  # (a success's)
                found = by_app.get(app)
                if found is None:
                    by_app[app], finishes[app] = [deployment], [finished]
                else:
                    found.append(deployment)
                    finishes[app].append(finished)
        for item in dataset.work_items:
            links.work_items.setdefault(item.key, item)
        links.successes = successes
        for incident in sorted(dataset.incidents, key=_opening):
            links._blame(incident)
            links._count_key(incident)
        links.reblamed, links.touched = set(), set()  # only extensions say what they moved
        return links

    def index(self, dataset: Dataset) -> None:
        """Keep what :meth:`extend` needs to take the records of ``dataset`` in place."""
        by_sha: dict[str, tuple[str, ...]] = {}
        by_key: dict[str, tuple[Change, ...]] = {}
        for change in dataset.changes:
            for sha in _shas(change):
                known = by_sha.get(sha)
                if known is None:
                    by_sha[sha] = (change.id,)
                elif change.id not in known:
                    by_sha[sha] = (*known, change.id)
            for key in change.work_item_keys:
                by_key[key] = (*by_key.get(key, ()), change)
        self.changes_by_sha, self.changes_by_key = by_sha, by_key
        self.changes = {c.id: c for c in dataset.changes}
        rank: dict[str, int] = {}
        ranked: tuple[Sequence[Record], ...] = (
            dataset.changes,
            dataset.work_items,
            dataset.deployments,
            dataset.incidents,
        )
        for records in ranked:
            rank.update(zip([r.id for r in records], count(len(rank)), strict=False))
        self.rank = rank
        self.unlisted = set(self.shipped_by.keys() - by_sha.keys())
        self.pushed = None
        self.app_incidents, self.naming = {}, {}
        for incident in dataset.incidents:
            self._file(incident)

    def follows(
        self, seen: Links | None, generation: int, since: datetime | None, now: datetime
    ) -> bool:
        """Whether a memo that last looked at the joins ``seen`` (at their ``generation``) and at
        the moment ``since`` may look again only at what the latest :meth:`extend` named: the
        same joins, extended at most once since, and ``now`` no earlier."""
        return (
            seen is self
            and self.changes_by_sha is not None
            and 0 <= self.generation - generation <= 1
            and since is not None
            and now >= since
        )

    def extend(self, changed: Sequence[tuple[Record | None, Record]]) -> bool:
        """Take in records, each with the one it replaced (None: new), as :meth:`build` would.

        Records are taken in place, whatever their kind, except what would reorder the joins:
        a successful production deployment replaced by one that ships other shas or finishes
        at another moment (or no longer succeeds), one finishing before the last known one, a
        work item re-keyed. Then it returns False: build anew. Without :meth:`index` first, it
        always does.
        """
        if self.changes_by_sha is None:
            return False
        self.generation += 1
        self.changed = list(changed)
        self.moved, self.reblamed, self.touched = set(), set(), set()
        arriving: list[Deployment] = []  # new successes, placed once all are known
        rank = self.rank
        for old, record in self.changed:
            if isinstance(record, Deployment):
                rank.setdefault(record.id, len(rank))
                if not self._take_deployment(old, record, arriving):
                    return False
            elif isinstance(record, WorkItem):
                rank.setdefault(record.id, len(rank))
                holder = self.work_items.get(record.key)
                if old is None:
                    self.work_items.setdefault(record.key, record)
                elif not isinstance(old, WorkItem) or old.key != record.key:
                    return False
                elif holder is old:
                    self.work_items[record.key] = record
            elif isinstance(record, Change):
                rank.setdefault(record.id, len(rank))
                self.shipping_memo.pop(record.id, None)
                self.moved.add(record.id)
                self._index(record, old if isinstance(old, Change) else None)
            elif isinstance(record, Incident):
                rank.setdefault(record.id, len(rank))
                if isinstance(old, Incident):
                    self._unfile(old)
                    self._uncount_key(old)
                self._file(record)
                self._blame(record)
                self._count_key(record)
            elif isinstance(record, Commit):
                self._take_commit(old if isinstance(old, Commit) else None, record)
        arriving.sort(key=_finish_order)
        return all(self._append_success(deployment) for deployment in arriving)

    def _take_deployment(
        self, old: Record | None, record: Deployment, arriving: list[Deployment]
    ) -> bool:
        if old is None and record.id in self.deployments:
            return False
        self.deployments[record.id] = record
        success = is_success(record)
        if isinstance(old, Deployment):
            if any(d is old for d in arriving):
                arriving[:] = [d for d in arriving if d is not old]
            elif is_success(old):
                # a success keeps its place only when it ships the same way at the same moment
                if (
                    not success
                    or old.app != record.app
                    or _finish_order(old) != _finish_order(record)
                    or _deployed_shas(old) != _deployed_shas(record)
                    or not self._replace_success(old, record)
                ):
                    return False
                success = False
        if success:
            arriving.append(record)
        # incidents that name it, or were blamed on the record it replaces, are blamed again
        again = {i.id: i for i in self.naming.get(record.id, {}).values()}
        again.update((i.id, i) for i in self.incidents_of.get(record.id, ()))
        again.update((i.id, i) for i in self.set_aside.get(record.id, ()))
        for incident in again.values():
            self._blame(incident)
        return True

    def _replace_success(self, old: Deployment, record: Deployment) -> bool:
        position = bisect_left(self.successes, _finish_order(old), key=_finish_order)
        if position == len(self.successes) or self.successes[position] is not old:
            return False
        self.successes[position] = record
        for sha in _deployed_shas(record):
            entry = self.shipped_by.get(sha)
            if entry is not None and entry[1] is old:
                self.shipped_by[sha] = (entry[0], record)
                self._forget_shipping(sha)
        if record.app is not None:
            listed = self.app_successes[record.app]
            i = bisect_left(self.app_finishes[record.app], _finish_order(old)[0])
            while listed[i] is not old:  # among equal finish times
                i += 1
            listed[i] = record
        return True

    def _append_success(self, deployment: Deployment) -> bool:
        if self.successes and _finish_order(deployment) <= _finish_order(self.successes[-1]):
            return False
        position = len(self.successes)
        self.successes.append(deployment)
        for sha in _deployed_shas(deployment):
            if sha in self.shipped_by:
                continue
            self.shipped_by[sha] = (position, deployment)
            if sha in (self.changes_by_sha or {}):
                self._forget_shipping(sha)
            else:
                self.unlisted.add(sha)
                self.pushed = None
        if deployment.app is not None:
            self._add_success(deployment)
            # incidents of its app that opened since may now be blamed on it
            finished = deployment.finished_at or deployment.started_at
            for incident in list(self.app_incidents.get(deployment.app, {}).values()):
                if incident.id not in self.blame_explicit and incident.opened_at >= finished:
                    self._blame(incident)
        return True

    def _add_success(self, deployment: Deployment) -> None:
        app = deployment.app
        if app is not None and deployment.finished_at is not None:
            self.app_successes.setdefault(app, []).append(deployment)
            self.app_finishes.setdefault(app, []).append(deployment.finished_at)

    def _forget_shipping(self, sha: str) -> None:
        """The changes listing ``sha`` may ship otherwise: work their deployment out again."""
        for change_id in (self.changes_by_sha or {}).get(sha, ()):
            self.shipping_memo.pop(change_id, None)
            self.moved.add(change_id)

    def _index(self, change: Change, old: Change | None) -> None:
        index = self.changes_by_sha
        if index is None:
            return
        shas = _shas(change)
        if old is not None:
            for sha in _shas(old):
                if sha in shas:
                    continue
                known = tuple(i for i in index.get(sha, ()) if i != change.id)
                if known:
                    index[sha] = known
                    continue
                index.pop(sha, None)
                if sha in self.shipped_by:
                    self.unlisted.add(sha)
                    self.pushed = None
            for key in old.work_item_keys:
                others = tuple(c for c in self.changes_by_key.get(key, ()) if c.id != change.id)
                if others:
                    self.changes_by_key[key] = others
                else:
                    self.changes_by_key.pop(key, None)
        for sha in shas:
            known = index.get(sha, ())
            if change.id not in known:
                index[sha] = (*known, change.id)
            if sha in self.unlisted:
                self.unlisted.discard(sha)
                if self.pushed:
                    self.pushed = {k: c for k, c in self.pushed.items() if c.sha != sha}
        for key in change.work_item_keys:
            self.changes_by_key[key] = (*self.changes_by_key.get(key, ()), change)
        self.changes[change.id] = change

    def _take_commit(self, old: Commit | None, record: Commit) -> None:
        pushed = self.pushed
        if pushed is None:
            return
        if old is not None and old.id in pushed:
            if record.sha in self.unlisted:
                pushed[record.id] = record
            else:
                del pushed[record.id]
        elif record.sha in self.unlisted:
            if old is None:
                pushed[record.id] = record  # a new record comes last
            else:
                self.pushed = None  # an older commit: its place is unknown here

    def _file(self, incident: Incident) -> None:
        if incident.app is not None:
            self.app_incidents.setdefault(incident.app, {})[incident.id] = incident
        if incident.deployment_id:
            self.naming.setdefault(incident.deployment_id, {})[incident.id] = incident

    def _unfile(self, incident: Incident) -> None:
        if incident.app is not None:
            self.app_incidents.get(incident.app, {}).pop(incident.id, None)
        if incident.deployment_id:
            self.naming.get(incident.deployment_id, {}).pop(incident.id, None)

    def _blame(self, incident: Incident) -> None:
        """Blame ``incident`` on its deployment (see the module's rules), instead of before."""
        before = self.blame.pop(incident.id, None)
        self.blame_explicit.discard(incident.id)
        if before is not None:
            for by_deployment in (self.incidents_of, self.set_aside):
                others = [i for i in by_deployment.get(before.id, ()) if i.id != incident.id]
                if others:
                    by_deployment[before.id] = others
                else:
                    by_deployment.pop(before.id, None)
            self.touched.add(before.id)
        found = self.deployments.get(incident.deployment_id or "")
        if found is not None:
            self.blame_explicit.add(incident.id)
        elif incident.app is not None and incident.app in self.app_finishes:
            times = self.app_finishes[incident.app]
            latest = bisect_right(times, incident.opened_at) - 1
            if latest >= 0 and times[latest] >= incident.opened_at - self.incident_window:
                found = self.app_successes[incident.app][latest]
        if found is not None:
            self.blame[incident.id] = found
            by_deployment = self.incidents_of if self.counts(incident) else self.set_aside
            blamed = [*by_deployment.get(found.id, ())]
            insort(blamed, incident, key=_opening)
            by_deployment[found.id] = blamed
            self.touched.add(found.id)
        if found is not before:
            self.reblamed.add(incident.id)

    def counts(self, incident: Incident) -> bool:
        """Whether ``incident`` counts for failures, recovery and rework (:func:`severe_enough`)."""
        return severe_enough(incident, self.min_severity)

    def counts_key(self, key: str) -> bool:
        """Whether a deployment or change naming the incident key ``key`` fixes an incident that
        counts. A key no known incident has is of unknown severity: it counts only when all do."""
        return self.min_severity is Severity.UNKNOWN or bool(self.counted_keys.get(key))

    def _count_key(self, incident: Incident) -> None:
        if self.counts(incident):
            self.counted_keys.setdefault(incident.key, set()).add(incident.id)

    def _uncount_key(self, incident: Incident) -> None:
        ids = self.counted_keys.get(incident.key)
        if ids is not None:
            ids.discard(incident.id)
            if not ids:
                del self.counted_keys[incident.key]

    def unlisted_commits(
        self, commits: Iterable[Commit], changes: Iterable[Change]
    ) -> list[Commit]:
        """The commits shipped to production whose sha no change lists, in record order.

        ``commits`` and ``changes`` are every record of theirs; once :meth:`index` ran, the
        commits are kept between calls, and looked for again only when a new unlisted sha ships.
        """
        if self.changes_by_sha is None:
            # most shipped shas are merge shas: the changes' other shas rarely need a look
            unlisted = self.shipped_by.keys() - map(_MERGE_SHA, changes)
            if unlisted:
                unlisted.difference_update(chain.from_iterable(map(_COMMIT_SHAS, changes)))
            return [c for c in commits if c.sha in unlisted] if unlisted else []
        if not self.unlisted:
            return []
        if self.pushed is None:
            wanted = self.unlisted
            self.pushed = {c.id: c for c in commits if c.sha in wanted}
        return list(self.pushed.values())

    def shipping_deployment(self, change: Change) -> Deployment | None:
        """The first successful production deployment that shipped any commit of ``change``."""
        if change.id in self.shipping_memo:
            return self.shipping_memo[change.id]
        found = self.shipping_memo[change.id] = self._first_shipping(change)
        return found

    def _first_shipping(self, change: Change) -> Deployment | None:
        shipped_by = self.shipped_by
        first = shipped_by.get(change.merge_sha) if change.merge_sha else None
        # most changes ship by their merge sha alone: one check in C passes over the rest
        if not shipped_by.keys().isdisjoint(change.commit_shas):
            for sha in change.commit_shas:
                shipped = shipped_by.get(sha)
                if shipped is not None and (first is None or shipped[0] < first[0]):
                    first = shipped
        return first[1] if first is not None else None

    def shipping_deployment_of_commit(self, sha: str) -> Deployment | None:
        """The first successful production deployment that shipped the commit ``sha``."""
        shipped = self.shipped_by.get(sha)
        return shipped[1] if shipped is not None else None

    def work_items_for(self, keys: Iterable[str]) -> list[WorkItem]:
        """The known work items among ``keys``; unknown keys are skipped."""
        return [self.work_items[k] for k in keys if k in self.work_items]
