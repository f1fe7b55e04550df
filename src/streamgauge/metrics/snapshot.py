"""The snapshot: every computed value at one moment, stored, then served without recomputing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamgauge.model import utc

Labels = tuple[tuple[str, str], ...]


def labels(**values: str) -> Labels:
    """Label pairs in a stable order (sorted by name)."""
    return tuple(sorted(values.items()))


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of a gauge or counter family."""

    name: str
    labels: Labels
    value: float


@dataclass(frozen=True, slots=True)
class HistogramSample:
    """One cumulative histogram: ``counts[i]`` observations were <= ``bounds[i]``."""

    name: str
    labels: Labels
    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float


@dataclass(slots=True)
class Snapshot:
    computed_at: datetime
    samples: list[Sample] = field(default_factory=list)
    histograms: list[HistogramSample] = field(default_factory=list)

    def add(self, name: str, value: float, **label_values: str) -> None:
        self.samples.append(Sample(name, labels(**label_values), float(value)))

    def values(self, name: str) -> dict[Labels, float]:
        """Every sample of one family by its labels (for tests and reports)."""
        return {s.labels: s.value for s in self.samples if s.name == name}

    def to_json(self) -> dict[str, Any]:
        return {
            "computed_at": self.computed_at.isoformat(),
            "samples": [[s.name, [list(p) for p in s.labels], s.value] for s in self.samples],
            "histograms": [
                [
                    h.name,
                    [list(p) for p in h.labels],
                    list(h.bounds),
                    list(h.counts),
                    h.count,
                    h.sum,
                ]
                for h in self.histograms
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            computed_at=utc(datetime.fromisoformat(data["computed_at"])),
            samples=[
                Sample(name, tuple((k, v) for k, v in lbls), float(value))
                for name, lbls, value in data["samples"]
            ],
            histograms=[
                HistogramSample(
                    name, tuple((k, v) for k, v in lbls), tuple(bounds), tuple(counts), count, total
                )
                for name, lbls, bounds, counts, count, total in data["histograms"]
            ],
        )


def never_below(previous: Snapshot | None, current: Snapshot, counters: frozenset[str]) -> Snapshot:
    """``current`` with every counter and histogram series at least where ``previous`` left it.

    Whole-history counters are recomputed from the records, and a record re-sent with new
    content (a deployment's result corrected, an item reopened) moves an event from one series
    to another, or out of a series: recomputed, a counter would go down, and Prometheus reads a
    fall as a reset (``increase()`` then shows a false jump). So a counter counts what it has
    ever counted: each series keeps the highest value it was exported with, and a series that is
    no longer computed is still exported at its last value. Corrections show at once on the
    window gauges, which are recomputed as they are. Histograms keep each bucket, the count and
    the sum at their highest; buckets stay cumulative, since the highest of ordered sequences
    are ordered.
    """
    if previous is None:
        return current
    before = {(s.name, s.labels): s for s in previous.samples if s.name in counters}
    samples: list[Sample] = []
    for s in current.samples:
        old = before.pop((s.name, s.labels), None)
        samples.append(s if old is None or old.value <= s.value else old)
    samples.extend(before.values())
    shapes = {(h.name, h.labels): h for h in previous.histograms}
    histograms: list[HistogramSample] = []
    for h in current.histograms:
        old_h = shapes.pop((h.name, h.labels), None)
        if old_h is not None and old_h.bounds == h.bounds:
            h = HistogramSample(
                h.name,
                h.labels,
                h.bounds,
                tuple(max(a, b) for a, b in zip(old_h.counts, h.counts, strict=True)),
                max(old_h.count, h.count),
                max(old_h.sum, h.sum),
            )
        histograms.append(h)
    histograms.extend(old for old in shapes.values() if old.name in counters)
    return Snapshot(computed_at=current.computed_at, samples=samples, histograms=histograms)
