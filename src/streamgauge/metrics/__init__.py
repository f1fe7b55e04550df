"""The calculator: pure functions from a dataset, ``now`` and settings to a metric snapshot.

:func:`compute_all` reads no clock and does no I/O: the same dataset, ``now`` and settings give
the same snapshot, which is what makes a restart, a backfill and a test reproducible.

It produces every family of :data:`streamgauge.metrics.catalog.COMPUTED`. The definitions live
beside the code that implements them:

* :mod:`streamgauge.linking`: production deployment, which deployment shipped a change, which
  deployment an incident is blamed on (``metrics.incident_window``);
* :mod:`.deployments`: when a production deployment failed and when it recovered
  (``metrics.recovery``);
* :mod:`.dora`: deployment frequency, change lead time (``metrics.max_lead_time``), change
  failure rate, failed deployment recovery time, the deployments counter and lead-time histogram;
* :mod:`.flow`: flow load;
* :mod:`.windows`: rolling windows ``(now - w, now]`` (``windows``);
* :mod:`.dimensions`: label folding into ``other`` (``labels``) and the ``all`` groups;
* :mod:`.stats`: quantiles (type 7, linear interpolation) and cumulative histograms.

The work is a few passes over the records plus sorts, with joins through dicts and bisection,
so it grows linearly with the size of the history.
"""

from __future__ import annotations

from datetime import datetime

from streamgauge.config import Settings
from streamgauge.linking import Links
from streamgauge.metrics.dimensions import LabelFolder
from streamgauge.metrics.dora import add_dora_metrics, dora_facts
from streamgauge.metrics.flow import add_flow_metrics, states_at
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.windows import windows_at
from streamgauge.model import Dataset, utc

__all__ = ["compute_all"]


def compute_all(dataset: Dataset, *, now: datetime, settings: Settings) -> Snapshot:
    """Every computed metric of ``dataset`` as seen at ``now``."""
    now = utc(now)
    rules = settings.metrics
    fold = LabelFolder.from_settings(settings)
    links = Links.build(dataset, incident_window=rules.incident_window)
    snapshot = Snapshot(computed_at=now)
    facts = dora_facts(
        dataset,
        links,
        now=now,
        max_lead_time=rules.max_lead_time,
        recovery=rules.recovery,
        fold=fold,
    )
    add_dora_metrics(snapshot, facts, windows_at(now, settings.windows))
    add_flow_metrics(
        snapshot, states_at(dataset.work_items, dataset.status_changes, now=now, fold=fold)
    )
    return snapshot
