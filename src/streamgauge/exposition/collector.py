"""A prometheus_client collector over the last snapshot and the sync log; it never computes."""

from __future__ import annotations

import gzip
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from streamgauge import __version__
from streamgauge.metrics.catalog import COMPUTED, HEALTH, MetricDef
from streamgauge.metrics.snapshot import HistogramSample, Sample, Snapshot
from streamgauge.store.bounds import SkipReason
from streamgauge.store.types import SourceHealth


@dataclass(slots=True)
class ServedState:
    """What a scrape shows: replaced whole, never edited in place."""

    snapshot: Snapshot | None = None
    health: Sequence[SourceHealth] = ()
    sources: Sequence[str] = ()  # configured sources, so a source never synced still shows
    extra: Sequence[MetricDef] = field(default_factory=tuple)
    # seen by this process, whether or not the store could log it
    sync_failures: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (source, reason)
    recompute_failures: Mapping[str, int] = field(default_factory=dict)  # reason -> count
    paused_until: Mapping[str, datetime] = field(default_factory=dict)
    failing_since: Mapping[str, datetime] = field(default_factory=dict)
    leading: frozenset[str] = frozenset()  # the sources this replica syncs now


def _le(bound: float) -> str:
    """A bucket bound written as prometheus_client writes its own (``3600.0``, ``1.57e+07``)."""
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


Family = GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily


def _family(defn: MetricDef) -> Family:
    name = defn.name.removesuffix("_total") if defn.kind == "counter" else defn.name
    if defn.kind == "counter":
        return CounterMetricFamily(name, defn.help, labels=defn.labels)
    if defn.kind == "histogram":
        return HistogramMetricFamily(name, defn.help, labels=defn.labels)
    return GaugeMetricFamily(name, defn.help, labels=defn.labels)


def _values(defn: MetricDef, labels: tuple[tuple[str, str], ...]) -> list[str]:
    as_dict = dict(labels)
    return [as_dict.get(name, "") for name in defn.labels]


def snapshot_families(
    snapshot: Snapshot, catalog: Sequence[MetricDef] = COMPUTED
) -> Iterator[Metric]:
    samples: dict[str, list[Sample]] = defaultdict(list)
    for s in snapshot.samples:
        samples[s.name].append(s)
    histograms: dict[str, list[HistogramSample]] = defaultdict(list)
    for h in snapshot.histograms:
        histograms[h.name].append(h)
    for defn in catalog:
        family = _family(defn)
        if isinstance(family, HistogramMetricFamily):
            for h in histograms.get(defn.name, ()):
                buckets = [(_le(b), float(c)) for b, c in zip(h.bounds, h.counts, strict=True)]
                buckets.append(("+Inf", float(h.count)))
                family.add_metric(_values(defn, h.labels), buckets, h.sum)
        else:
            for s in samples.get(defn.name, ()):
                family.add_metric(_values(defn, s.labels), s.value)
        yield family


def health_families(state: ServedState) -> Iterator[Metric]:
    by_source = {h.source: h for h in state.health}
    families = {d.name: _family(d) for d in HEALTH}

    def put(name: str, values: list[str], value: float) -> None:
        family = families[name]
        if isinstance(family, HistogramMetricFamily):
            raise TypeError(f"{name} is a histogram")
        family.add_metric(values, value)

    for source in sorted(set(state.sources) | set(by_source)):
        h = by_source.get(source)
        if h is not None and h.last_success_at is not None:
            put(
                "streamgauge_sync_last_success_timestamp_seconds",
                [source],
                h.last_success_at.timestamp(),
            )
        put("streamgauge_sync_errors_total", [source], h.errors_total if h else 0)
        put("streamgauge_sync_records_total", [source], h.records_total if h else 0)
        put("streamgauge_sync_skipped_records_total", [source], h.skipped_total if h else 0)
        # Every reason from the start, at 0 until it happens: increase() then sees the first skip.
        skipped = dict.fromkeys(SkipReason, 0) | dict(h.skipped_by_reason if h else ())
        for reason, count in sorted(skipped.items()):
            put("streamgauge_sync_records_skipped_total", [source, reason], count)
        put("streamgauge_sync_api_calls_total", [source], h.api_calls_total if h else 0)
        if h is not None and h.rate_limit_remaining is not None:
            put("streamgauge_sync_rate_limit_remaining", [source], h.rate_limit_remaining)
        failures = {r: n for (s, r), n in state.sync_failures.items() if s == source}
        for reason in sorted(failures):
            put("streamgauge_sync_failures_total", [source, reason], failures[reason])
        put("streamgauge_source_leader", [source], 1 if source in state.leading else 0)
        if source in state.paused_until:
            put(
                "streamgauge_source_paused_until_timestamp_seconds",
                [source],
                state.paused_until[source].timestamp(),
            )
        if source in state.failing_since:
            put(
                "streamgauge_sync_failing_since_timestamp_seconds",
                [source],
                state.failing_since[source].timestamp(),
            )
    for reason, count in sorted(state.recompute_failures.items()):
        put("streamgauge_recompute_failures_total", [reason], count)
    if state.snapshot is not None:
        put("streamgauge_snapshot_timestamp_seconds", [], state.snapshot.computed_at.timestamp())
    yield from families.values()
    info = InfoMetricFamily("streamgauge", "streamgauge build information.")
    info.add_metric([], {"version": __version__})
    yield info


class StateCollector(Collector):
    def __init__(self, state: ServedState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        if state.snapshot is not None:
            yield from snapshot_families(state.snapshot, tuple(COMPUTED) + tuple(state.extra))
        yield from health_families(state)


@dataclass(frozen=True, slots=True)
class Rendered:
    text: bytes
    text_gzip: bytes
    openmetrics: bytes
    openmetrics_gzip: bytes


class Exposition:
    """Renders the served state once per change, so a scrape only copies bytes."""

    def __init__(self, state: ServedState | None = None) -> None:
        self._lock = threading.Lock()
        self._collector = StateCollector(state or ServedState())
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self._collector)
        self._rendered = self._render()

    @property
    def state(self) -> ServedState:
        return self._collector.state

    def update(self, state: ServedState) -> None:
        with self._lock:
            self._collector.state = state
            rendered = self._render()
            self._rendered = rendered

    def _render(self) -> Rendered:
        text = generate_latest(self.registry)
        om: bytes = openmetrics.generate_latest(self.registry)  # type: ignore[no-untyped-call]
        return Rendered(
            text, gzip.compress(text, compresslevel=5), om, gzip.compress(om, compresslevel=5)
        )

    @property
    def rendered(self) -> Rendered:
        return self._rendered
