"""Cross-tool joins: work-item keys in text, the deployment that shipped a change, incident blame.

Everything here is built once per calculation from dicts and sorted lists, so a join costs
O(records) plus a sort, never a loop over deployments for each change or incident.

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
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from streamgauge.model import (
    Change,
    Dataset,
    Deployment,
    Environment,
    Incident,
    Record,
    RunResult,
    WorkItem,
)

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


def is_production(deployment: Deployment) -> bool:
    return deployment.environment is Environment.PRODUCTION


def _shas(change: Change) -> tuple[str, ...]:
    return (change.merge_sha, *change.commit_shas) if change.merge_sha else change.commit_shas


def _finish_order(deployment: Deployment) -> tuple[datetime, datetime, str]:
    # finished_at first; started_at and id only make the order total, hence deterministic.
    return deployment.finished_at or deployment.started_at, deployment.started_at, deployment.id


@dataclass(slots=True)
class Links:
    """The joins of one dataset, built once by :meth:`build` and then only read."""

    deployments: dict[str, Deployment] = field(default_factory=dict)
    # sha -> (position in finish order, the first successful production deployment shipping it)
    shipped_by: dict[str, tuple[int, Deployment]] = field(default_factory=dict)
    work_items: dict[str, WorkItem] = field(default_factory=dict)  # by key
    # incident id -> the deployment it is blamed on (unattributed incidents are absent)
    blame: dict[str, Deployment] = field(default_factory=dict)
    blame_explicit: set[str] = field(default_factory=set)  # incident ids blamed by deployment_id
    # deployment id -> the incidents blamed on it, in the order they opened
    incidents_of: dict[str, list[Incident]] = field(default_factory=dict)
    # change id -> its shipping deployment, remembered: lead times and streams both ask
    shipping_memo: dict[str, Deployment | None] = field(default_factory=dict)
    successes: list[Deployment] = field(default_factory=list)  # in finish order
    incident_window: timedelta = timedelta(0)
    # sha -> ids of the changes listing it, once :meth:`index_changes` ran (see :meth:`extend`)
    # (a tuple, not a set: most shas belong to one change, and a set weighs four times more)
    changes_by_sha: dict[str, tuple[str, ...]] | None = None

    @classmethod
    def build(cls, dataset: Dataset, *, incident_window: timedelta) -> Links:
        links = cls(
            deployments={d.id: d for d in dataset.deployments}, incident_window=incident_window
        )
        successes = sorted(
            (
                d
                for d in dataset.deployments
                if is_production(d) and d.result is RunResult.SUCCESS and d.finished_at is not None
            ),
            key=_finish_order,
        )
        for position, deployment in enumerate(successes):
            # setdefault keeps the first: later deployments re-listing a sha did not ship it.
            if deployment.sha:
                links.shipped_by.setdefault(deployment.sha, (position, deployment))
            for sha in deployment.commit_shas:
                links.shipped_by.setdefault(sha, (position, deployment))
        for item in dataset.work_items:
            links.work_items.setdefault(item.key, item)
        links.successes = successes
        links._blame_incidents(dataset.incidents, successes, incident_window)
        return links

    def index_changes(self, changes: Iterable[Change]) -> None:
        """Know which changes list each sha, so :meth:`extend` forgets only what moved."""
        self.changes_by_sha = {}
        for change in changes:
            self._index(change)

    def _index(self, change: Change) -> None:
        index = self.changes_by_sha
        if index is None:
            return
        for sha in _shas(change):
            known = index.get(sha, ())
            if change.id not in known:
                index[sha] = (*known, change.id)

    def extend(
        self, changed: Iterable[tuple[Record | None, Record]], incidents: Iterable[Incident]
    ) -> bool:
        """Take in records (each with the one it replaced) as :meth:`build` would have.

        Only what extends the joins is taken in place: new deployments (a success finishing
        after every known one), work items that keep their key, any change. Anything else
        (a deployment replaced, a success finishing earlier) returns False: build anew.
        ``incidents`` are all of them, for blame, which is worked out again when needed.
        """
        if self.changes_by_sha is None:
            return False
        shipped: set[str] = set()
        blame_again = False
        for old, record in changed:
            if isinstance(record, Deployment):
                if old is not None or record.id in self.deployments:
                    return False
                self.deployments[record.id] = record
                blame_again = True
                if is_production(record) and record.result is RunResult.SUCCESS:
                    if record.finished_at is None:
                        continue
                    last = self.successes[-1] if self.successes else None
                    if last is not None and _finish_order(record) <= _finish_order(last):
                        return False
                    position = len(self.successes)
                    self.successes.append(record)
                    for sha in (
                        (record.sha, *record.commit_shas) if record.sha else record.commit_shas
                    ):
                        if sha not in self.shipped_by:
                            self.shipped_by[sha] = (position, record)
                            shipped.add(sha)
            elif isinstance(record, WorkItem):
                holder = self.work_items.get(record.key)
                if old is None:
                    self.work_items.setdefault(record.key, record)
                elif not isinstance(old, WorkItem) or old.key != record.key:
                    return False
                elif holder is old:
                    self.work_items[record.key] = record
            elif isinstance(record, Change):
                self.shipping_memo.pop(record.id, None)
                self._index(record)
            elif isinstance(record, Incident):
                blame_again = True
        for sha in shipped:
            for change_id in self.changes_by_sha.get(sha, ()):
                self.shipping_memo.pop(change_id, None)
        if blame_again:
            self.blame, self.blame_explicit, self.incidents_of = {}, set(), {}
            self._blame_incidents(incidents, self.successes, self.incident_window)
        return True

    def _blame_incidents(
        self,
        incidents: Iterable[Incident],
        successes: Sequence[Deployment],
        window: timedelta,
    ) -> None:
        by_app: dict[str, list[Deployment]] = defaultdict(list)
        for deployment in successes:  # already in finish order, so each list is sorted
            if deployment.app is not None:
                by_app[deployment.app].append(deployment)
        finish_times = {
            app: [d.finished_at for d in deps if d.finished_at is not None]
            for app, deps in by_app.items()
        }
        for incident in sorted(incidents, key=lambda i: (i.opened_at, i.id)):
            explicit = self.deployments.get(incident.deployment_id or "")
            if explicit is not None:
                self.blame[incident.id] = explicit
                self.blame_explicit.add(incident.id)
            elif incident.app is not None and incident.app in by_app:
                times = finish_times[incident.app]
                latest = bisect_right(times, incident.opened_at) - 1
                if latest < 0 or times[latest] < incident.opened_at - window:
                    continue
                self.blame[incident.id] = by_app[incident.app][latest]
            else:
                continue
            self.incidents_of.setdefault(self.blame[incident.id].id, []).append(incident)

    def shipping_deployment(self, change: Change) -> Deployment | None:
        """The first successful production deployment that shipped any commit of ``change``."""
        if change.id in self.shipping_memo:
            return self.shipping_memo[change.id]
        found = self._first_shipping(change)
        self.shipping_memo[change.id] = found
        return found

    def _first_shipping(self, change: Change) -> Deployment | None:
        first = self.shipped_by.get(change.merge_sha) if change.merge_sha else None
        for sha in change.commit_shas:
            shipped = self.shipped_by.get(sha)
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
