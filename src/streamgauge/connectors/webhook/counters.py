"""The webhook sources' own counters, exported at /metrics beside the snapshot's families."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REJECT_REASONS = (
    "missing_signature",
    "bad_signature",
    "stale_timestamp",
    "too_large",
    "unsupported_type",
    "unparseable",
    "unavailable",
)


class WebhookCounters(Collector):
    """Per source: events received, rejected by reason, duplicates, normalized, and so on.

    Received, normalized, ignored and malformed start from what the store holds, so they stay
    cumulative across restarts (a replay normalizes, and counts, an event again); rejections
    and duplicates store nothing and count from start. Pending is a gauge, set from the store
    after each pass of the normalizer and moved by each receipt in between.
    """

    def __init__(self, sources: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._rejected: Counter[tuple[str, str]] = Counter()
        self._pending: Counter[str] = Counter()
        self.sources = tuple(sources)

    def load(self, stored: Mapping[tuple[str, str], int]) -> None:
        """Start from the store's counts of events by (source, status)."""
        with self._lock:
            for (source, status), n in stored.items():
                self._counts[(source, "received")] += n
                if status == "pending":
                    self._pending[source] += n
                else:
                    self._counts[(source, status)] += n

    def set_pending(self, source: str, n: int) -> None:
        with self._lock:
            self._pending[source] = n

    def add_pending(self, source: str, n: int) -> None:
        with self._lock:
            self._pending[source] += n

    def add(self, source: str, what: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(source, what)] += n

    def reject(self, source: str, reason: str) -> None:
        with self._lock:
            self._rejected[(source, reason)] += 1

    def get(self, source: str, what: str) -> int:
        with self._lock:
            if what in REJECT_REASONS:
                return self._rejected[(source, what)]
            if what == "pending":
                return self._pending[source]
            return self._counts[(source, what)]

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = dict(self._counts)
            rejected = dict(self._rejected)
            waiting = dict(self._pending)
        families = {
            what: CounterMetricFamily(f"streamgauge_webhook_{what}", text, labels=["source"])
            for what, text in (
                ("received", "Pushed events stored (duplicates not counted)."),
                ("duplicates", "Pushed events already stored, answered 202 and not kept again."),
                ("normalized", "Stored events normalized into model records."),
                ("ignored", "Stored events of a type no metric uses."),
                ("malformed", "Stored events that could not be normalized; kept for a replay."),
            )
        }
        reject = CounterMetricFamily(
            "streamgauge_webhook_rejected",
            "Pushed requests refused, by reason; nothing of them was stored.",
            labels=["source", "reason"],
        )
        pending = GaugeMetricFamily(
            "streamgauge_webhook_pending",
            "Stored events waiting to be normalized.",
            labels=["source"],
        )
        for source in self.sources:
            for what, family in families.items():
                family.add_metric([source], counts.get((source, what), 0))
            for reason in REJECT_REASONS:
                reject.add_metric([source, reason], rejected.get((source, reason), 0))
            pending.add_metric([source], max(0, waiting.get(source, 0)))
        yield from families.values()
        yield reject
        yield pending
