"""What every explanation is made of: the question asked, the rows found, the numbers made."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from streamgauge.config import Settings, format_duration
from streamgauge.metrics import Facts
from streamgauge.metrics.catalog import QUANTILES
from streamgauge.metrics.dimensions import ALL, Group
from streamgauge.metrics.stats import format_percentile, histogram, quantiles
from streamgauge.metrics.windows import Window


@dataclass(frozen=True, slots=True)
class Query:
    """One question: the facts at a moment, a window, and the team and app asked about."""

    facts: Facts
    window: Window
    settings: Settings
    team: str = ALL
    app: str = ALL

    def wanted(self, group: Group) -> bool:
        """Whether a record of the (team, app) ``group`` counts in the group asked about."""
        return self.team in (ALL, group[0]) and self.app in (ALL, group[1])


@dataclass(slots=True)
class Explanation:
    """The records behind a number (``rows``), the numbers recomputed from them (``summary``),
    and, where a number is made of parts, one table per part (``tables``)."""

    metric: str
    definition: str
    window: str | None
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    team: str = ALL
    app: str = ALL
    at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "definition": self.definition,
            "at": self.at,
            "team": self.team,
            "app": self.app,
            "window": self.window,
            "summary": self.summary,
            **self.tables,
            "rows": self.rows,
        }


Explainer = Callable[[Query], Explanation]


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def quantile_summary(name: str, values: Iterable[float]) -> dict[str, float]:
    """``{name}_p50_seconds``... : the quantiles the window gauges show (type 7, as the
    calculator computes them), from the listed values."""
    return {
        f"{name}_p{format_percentile(p)}_seconds": value
        for p, value in quantiles(list(values), QUANTILES).items()
    }


def columns_of(rows: Sequence[dict[str, Any]], default: list[str]) -> list[str]:
    return list(rows[0]) if rows else default


def histogram_summary(values: Sequence[float], bounds: Sequence[float]) -> dict[str, Any]:
    """A whole-history histogram as Prometheus shows it, from the listed values: each bucket's
    cumulative count (``le_1h``: at most an hour), the count and the sum."""
    h = histogram(values, bounds)
    out: dict[str, Any] = {
        f"le_{format_duration(timedelta(seconds=b))}": n
        for b, n in zip(h.bounds, h.counts, strict=True)
    }
    return {**out, "count": h.count, "sum_seconds": h.sum}
