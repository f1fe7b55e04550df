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
