"""The calculator kept alive between computations, so an update recomputes only what it touched.

:class:`Calculator` holds the model records by id. Records are split into **partitions**: the
records of one app (a record without an app is alone with the others without one), merged
whenever a link could cross them: two partitions that share a commit sha (in a deployment, a
change or a commit), a work-item or incident key (an item's key, a key a change names), or
that an incident's explicit deployment joins, become one. Every fact of
:func:`streamgauge.metrics.compute_facts` then depends only on the records of its partition,
so the facts of a partition are computed from its records alone and cached; an update
recomputes the partitions its records fall in, and the partitions whose records reach past
the previous ``now`` (their facts could change with time alone).

The snapshot is aggregated from every partition's facts: that is the same computation as
:func:`streamgauge.metrics.compute_all`, whose result it always equals (a test holds it to that).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from streamgauge.config import Settings
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import Dataset, Record

_LISTS = (
    "work_items",
    "status_changes",
    "changes",
    "commits",
    "pipeline_runs",
    "deployments",
    "incidents",
)


class Calculator:
    """Records in memory and the metric computation over them, updated record by record."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.by_id: dict[str, Record] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def load(self, dataset: Dataset) -> None:
        """Start over from every record of ``dataset``."""
        self.by_id = {}
        for name in _LISTS:
            self.upsert(getattr(dataset, name))

    def upsert(self, records: Iterable[Record]) -> int:
        """Add or replace records by id; returns how many were given."""
        n = 0
        for record in records:
            self.by_id[record.id] = record
            n += 1
        return n

    def dataset(self) -> Dataset:
        dataset = Dataset()
        for record in self.by_id.values():
            dataset.add(record)
        return dataset

    def snapshot(self, now: datetime) -> Snapshot:
        return compute_all(self.dataset(), now=now, settings=self.settings)
