"""The calculator: pure functions from a dataset, ``now`` and settings to a metric snapshot.

:func:`compute_all` reads no clock and does no I/O: the same dataset, ``now`` and settings give
the same snapshot, which is what makes a restart, a backfill and a test reproducible.

It produces every family of :data:`streamgauge.metrics.catalog.COMPUTED`. The definitions live
beside the code that implements them:

* :mod:`streamgauge.linking`: production deployment, which deployment shipped a change, which
  deployment an incident is blamed on (``metrics.incident_window``), which incidents count
  (``metrics.incident_min_severity``);
* :mod:`.deployments`: when a production deployment failed and when it recovered
  (``metrics.recovery``), failed deployment attempts (``metrics.failed_attempts_are_failures``);
* :mod:`.leadtime`: each change's lead time and its parts, direct pushes
  (``metrics.max_lead_time``);
* :mod:`.dora`: deployment frequency, change lead time, change failure rate, failed deployment
  recovery time, the deployments counter and lead-time histogram;
* :mod:`.delivery`: deployment days, lead-time parts, deployment rework rate, recovery history;
* :mod:`.levels`: performance levels under a versioned benchmark table (``metrics.levels_table``);
* :mod:`.items` and :mod:`.flow`: each work item's flow, and flow load, velocity, time,
  efficiency, distribution and work-item age (``metrics.sle_age``, ``metrics.sle_percentile``);
* :mod:`.forecast`: Monte Carlo forecasts over daily throughput (``forecast``);
* :mod:`.stages` and :mod:`.stage_metrics`: the value-stream map (``metrics.stage_labels``),
  its stages in stream order (:mod:`.stage_order`, ``metrics.stage_order``), each stage's queue
  (:mod:`.queues`) and the bottleneck named (:mod:`.bottleneck`);
* :mod:`.quality`: data quality;
* :mod:`.governance`: deployments that shipped unreviewed, unlinked or directly pushed work;
* :mod:`.targets`: the configured targets (``teams.*.targets``, ``apps.*.targets``);
* :mod:`.windows`: rolling windows ``(now - w, now]`` (``windows``);
* :mod:`.dimensions`: label folding into ``other`` (``labels``) and the ``all`` groups;
* :mod:`.stats`: quantiles (type 7, linear interpolation) and cumulative histograms;
* :mod:`.frames` and :mod:`.columns`: the facts as numpy columns, so a window, a group, a
  quantile or a histogram is a mask and a few array passes over them.

The work is a few passes over the records plus sorts, with joins through dicts and bisection,
so it grows linearly with the size of the history. :func:`compute_facts` works out each
record's part (the facts ``explain`` lists), :func:`snapshot_of` aggregates them, columnar and
from scratch each time.
:mod:`.incremental` keeps records and settled facts between computations for the server.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from streamgauge.config import Settings
from streamgauge.linking import Links
from streamgauge.metrics.bottleneck import add_bottleneck_metrics
from streamgauge.metrics.delivery import (
    IncidentFixes,
    add_delivery_metrics,
    incident_fix_deployments,
)
from streamgauge.metrics.deployments import OutcomeMemo
from streamgauge.metrics.dimensions import LabelFolder
from streamgauge.metrics.dora import DoraFacts, LeadMemo, add_dora_metrics, dora_facts
from streamgauge.metrics.flow import add_flow_item_metrics, add_flow_metrics
from streamgauge.metrics.forecast import add_forecast_metrics
from streamgauge.metrics.frames import frames_of
from streamgauge.metrics.governance import add_governance_metrics, deployment_evidence
from streamgauge.metrics.items import FlowMemo, History, ItemFlow, group_histories, item_flows
from streamgauge.metrics.levels import add_level_metrics, load_table
from streamgauge.metrics.quality import Problem, QualityMemo, add_quality_metrics, problems
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.stage_metrics import add_stage_metrics, kept_names
from streamgauge.metrics.stage_order import stage_order
from streamgauge.metrics.stages import ItemStream, StreamMemo, item_streams
from streamgauge.metrics.targets import add_target_metrics
from streamgauge.metrics.windows import windows_at
from streamgauge.model import Change, Dataset, Incident, utc

__all__ = ["Facts", "Memo", "compute_all", "compute_facts", "gc_paused", "snapshot_of"]


@dataclass(slots=True)
class Facts:
    """The records behind every number at ``now``: what metrics aggregate and explain lists."""

    now: datetime
    links: Links
    dora: DoraFacts
    incident_fixes: IncidentFixes  # deployments made to fix an incident that counts, and how
    flows: list[ItemFlow]
    streams: list[ItemStream]
    problems: list[Problem]
    changes: Sequence[Change] = ()  # every change, open ones too: the delivery stages' queues


@dataclass(slots=True)
class Memo:
    """Facts kept from one computation to the next (see :mod:`.incremental`).

    Each part keeps its facts with the joins (:class:`~streamgauge.linking.Links`) they were
    worked out from; the joins say what their latest extension took in, so a part looks again
    only at what moved. The streams read the flows and the failures of the same memo.
    """

    flows: FlowMemo = field(default_factory=FlowMemo)
    lead_times: LeadMemo = field(default_factory=LeadMemo)
    outcomes: OutcomeMemo = field(default_factory=OutcomeMemo)
    quality: QualityMemo = field(default_factory=QualityMemo)
    streams: StreamMemo = field(init=False)
    # incident key -> its incidents by id, and the changes naming such a key by id: the only
    # ones incident fixes look at
    _incident_keys: dict[str, dict[str, Incident]] = field(default_factory=dict)
    _fix_changes: dict[str, Change] = field(default_factory=dict)
    _fix_links: Links | None = None
    _fix_generation: int = 0

    def __post_init__(self) -> None:
        self.streams = StreamMemo(self.flows, self.outcomes)

    def fix_candidates(self, dataset: Dataset, links: Links) -> tuple[list[Change], list[Incident]]:
        """The changes naming an incident, and the incidents of each key they name."""
        keys = self._incident_keys
        if not (
            self._fix_links is links
            and links.changes_by_sha is not None
            and 0 <= links.generation - self._fix_generation <= 1
        ):
            keys.clear()
            for incident in dataset.incidents:
                keys.setdefault(incident.key, {})[incident.id] = incident
            self._fix_changes = {
                c.id: c for c in dataset.changes if not keys.keys().isdisjoint(c.work_item_keys)
            }
        elif links.generation != self._fix_generation:
            again: dict[str, Change] = {}
            for old, record in links.changed:
                if isinstance(record, Incident):
                    if isinstance(old, Incident):
                        same_key = keys.get(old.key, {})
                        same_key.pop(old.id, None)
                        if not same_key:
                            keys.pop(old.key, None)
                            again.update((c.id, c) for c in links.changes_by_key.get(old.key, ()))
                    keys.setdefault(record.key, {})[record.id] = record
                    again.update((c.id, c) for c in links.changes_by_key.get(record.key, ()))
                elif isinstance(record, Change):
                    again[record.id] = links.changes[record.id]
            for change in again.values():
                if keys.keys().isdisjoint(change.work_item_keys):
                    self._fix_changes.pop(change.id, None)
                else:
                    self._fix_changes[change.id] = change
        self._fix_links, self._fix_generation = links, links.generation
        named = {key for c in self._fix_changes.values() for key in c.work_item_keys}
        incidents = [i for key in named if key in keys for i in keys[key].values()]
        return list(self._fix_changes.values()), incidents


def compute_facts(
    dataset: Dataset,
    *,
    now: datetime,
    settings: Settings,
    histories: Mapping[str, History] | None = None,
    memo: Memo | None = None,
    links: Links | None = None,
) -> Facts:
    """Link the records and work out each one's part in the metrics, as seen at ``now``.

    ``histories`` (each item's status changes in order, see :func:`.items.group_histories`),
    ``memo`` and ``links`` (the joins of ``dataset``) let a caller that keeps them between
    calls skip work; the result is the same.
    """
    now = utc(now)
    rules = settings.metrics
    fold = LabelFolder.from_settings(settings)
    if links is None:
        links = Links.build(
            dataset,
            incident_window=rules.incident_window,
            min_severity=rules.incident_min_severity,
        )
    dora = dora_facts(
        dataset,
        links,
        now=now,
        max_lead_time=rules.max_lead_time,
        recovery=rules.recovery,
        fold=fold,
        attempts_fail=rules.failed_attempts_are_failures,
        memo=memo.lead_times if memo else None,
        outcome_memo=memo.outcomes if memo else None,
    )
    if memo is not None:
        fix_changes, fix_incidents = memo.fix_candidates(dataset, links)
        fixes = incident_fix_deployments(dataset.deployments, fix_changes, fix_incidents, links)
    else:
        fixes = incident_fix_deployments(
            dataset.deployments, dataset.changes, dataset.incidents, links
        )
    if histories is None:
        histories = group_histories(dataset.status_changes)
    flows = item_flows(
        dataset.work_items,
        histories,
        now=now,
        fold=fold,
        memo=memo.flows if memo else None,
        links=links,
    )
    if memo is not None:
        failed: AbstractSet[str] = memo.outcomes.failed
    else:
        failed = {o.deployment.id for o in dora.outcomes if o.failure_reasons}
    streams = item_streams(
        flows, dataset.changes, links, failed, now=now, memo=memo.streams if memo else None
    )
    found = problems(
        dataset,
        links,
        dora,
        now=now,
        fold=fold,
        memo=memo.quality if memo else None,
        attempts_fail=rules.failed_attempts_are_failures,
    )
    return Facts(now, links, dora, fixes, flows, streams, found, dataset.changes)


def snapshot_of(facts: Facts, settings: Settings) -> Snapshot:
    """Every metric family of the catalog, aggregated from ``facts``."""
    rules = settings.metrics
    windows = windows_at(facts.now, settings.windows)
    snapshot = Snapshot(computed_at=facts.now)
    kept = kept_names(facts.streams, rules.stage_labels)
    frames = frames_of(facts.dora, facts.incident_fixes, facts.flows, facts.streams, kept)
    add_dora_metrics(snapshot, facts.dora, frames, windows)
    add_delivery_metrics(snapshot, facts.dora, frames, windows)
    add_level_metrics(snapshot, load_table(rules.levels_table))
    add_flow_metrics(snapshot, facts.flows)
    add_flow_item_metrics(
        snapshot,
        facts.flows,
        frames,
        windows,
        now=facts.now,
        sle_age=rules.sle_age,
        sle_percentile=rules.sle_percentile,
    )
    add_forecast_metrics(snapshot, facts.flows, frames.done, settings.forecast, now=facts.now)
    order = stage_order(facts.streams, rules.stage_order) if facts.streams else []
    add_stage_metrics(snapshot, facts.streams, frames, windows, order)
    add_bottleneck_metrics(
        snapshot, facts.flows, facts.changes, facts.links, frames, windows, order, kept, facts.now
    )
    pairs = {o.group for o in facts.dora.outcomes} | {f.group for f in facts.flows}
    add_quality_metrics(snapshot, facts.problems, pairs)
    evidence = deployment_evidence(facts.dora, facts.links, facts.now)
    add_governance_metrics(snapshot, evidence, windows)
    add_target_metrics(snapshot, settings, LabelFolder.from_settings(settings))
    return snapshot


def compute_all(dataset: Dataset, *, now: datetime, settings: Settings) -> Snapshot:
    """Every computed metric of ``dataset`` as seen at ``now``."""
    with gc_paused():
        return snapshot_of(compute_facts(dataset, now=now, settings=settings), settings)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector: a computation makes millions of objects without
    cycles, and each full collection would walk every record held in memory."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
