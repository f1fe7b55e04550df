"""The calculator kept alive between computations, so an update recomputes little.

:class:`Calculator` holds the model records by kind and id, each work item's status history
in order, the joins of the records (:class:`~streamgauge.linking.Links`) and a
:class:`~streamgauge.metrics.Memo` of every fact. An update replaces records by id and
rebuilds only the histories of the items it touched. The next computation extends the joins
in place with the records that changed, and the memo works out again only the facts those
records and the joins that moved reach, plus the facts that still move with ``now`` (items in
progress, changes whose deployment is yet to finish, running deployments, open incidents).
Every other fact is the very object of the previous computation, at the same place in its
list (the order of the records). Joins that cannot be extended in place, or a ``now`` earlier
than the last one, make the memo look at every record again, keeping the facts whose inputs
are the very same objects. Its snapshot is always the one
:func:`streamgauge.metrics.compute_all` gives for the same records and ``now``, which tests
hold it to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from streamgauge.config import Settings
from streamgauge.linking import Links
from streamgauge.metrics import Facts, Memo, compute_facts, gc_paused, snapshot_of
from streamgauge.metrics.items import History, group_histories
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import DATASET_LISTS, Dataset, Record, StatusChange


class Calculator:
    """Records in memory and the metric computation over them, updated record by record."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.records: dict[str, dict[str, Record]] = {name: {} for name in DATASET_LISTS.values()}
        self.histories: dict[str, History] = {}
        self.memo = Memo()
        self._view: Dataset | None = None
        # the joins of the records, and what changed since they were last brought up to date
        self.links: Links | None = None
        self._changed: list[tuple[Record | None, Record]] = []

    def __len__(self) -> int:
        return sum(len(by_id) for by_id in self.records.values())

    def load(self, dataset: Dataset) -> None:
        """Start over from every record of ``dataset``."""
        with gc_paused():
            for name, by_id in self.records.items():
                by_id.clear()
                by_id.update((r.id, r) for r in getattr(dataset, name))
            self._view = None
            self.histories = group_histories(self.dataset().status_changes)
            self.memo = Memo()
            self.links = None
            self._changed = []

    def upsert(self, records: Iterable[Record]) -> int:
        """Add or replace records by id; returns how many were given."""
        n = 0
        statuses = self.records["status_changes"]
        touched: dict[str, set[str]] = defaultdict(set)  # item id -> ids of its changes that moved
        for record in records:
            by_id = self.records[DATASET_LISTS[record.kind]]
            old = by_id.get(record.id)
            by_id[record.id] = record
            if self.links is not None:
                self._changed.append((old, record))
            if isinstance(record, StatusChange):
                touched[record.item_id].add(record.id)
                if isinstance(old, StatusChange):
                    touched[old.item_id].add(old.id)
            n += 1
        for item_id, ids in touched.items():
            # the item's changes untouched, and the latest version of each touched one still its
            merged = [c for c in self.histories.get(item_id, ()) if c.id not in ids]
            for change_id in ids:
                found = statuses[change_id]
                if isinstance(found, StatusChange) and found.item_id == item_id:
                    merged.append(found)
            self.histories[item_id] = tuple(sorted(merged, key=lambda c: (c.at, c.id)))
        if n:
            self._view = None
        return n

    def dataset(self) -> Dataset:
        """The records as a dataset (the lists are shared until the next update)."""
        if self._view is None:
            view = Dataset()
            for name, by_id in self.records.items():
                # the lists hold the records of their kind: by_id is filled by kind
                setattr(view, name, list(by_id.values()))
            self._view = view
        return self._view

    def facts(self, now: datetime) -> Facts:
        """The facts at ``now``; their links are this calculator's, kept until the next update."""
        with gc_paused():
            dataset = self.dataset()
            if self.links is None or not self.links.extend(self._changed):
                rules = self.settings.metrics
                before = self.links
                self.links = Links.build(
                    dataset,
                    incident_window=rules.incident_window,
                    min_severity=rules.incident_min_severity,
                )
                self.links.index(dataset)
                if before is not None:
                    # keyed by record and checked by identity, so still good for these records
                    self.links.push_memo = before.push_memo
            self._changed = []
            return compute_facts(
                dataset,
                now=now,
                settings=self.settings,
                histories=self.histories,
                memo=self.memo,
                links=self.links,
            )

    def snapshot(self, now: datetime) -> Snapshot:
        with gc_paused():
            return snapshot_of(self.facts(now), self.settings)
