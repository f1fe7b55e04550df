"""DORA performance levels: the published benchmark tables as data, and each metric rated by one.

A table (``metrics/tables/<name>.json``, chosen by ``metrics.levels_table``) lists, for each of
the four rated metrics, its levels best first with a bound: for deployment frequency (higher is
better) the value must be at least the bound, for the others (lower is better) at most the
bound. A metric's level is the first level whose bound its value meets; the last level has no
bound and takes everything else. Each metric is rated on its own, from the window's value:

* deployment frequency: successful production deployments per day;
* change lead time and failed deployment recovery time: the window's median (quantile 0.5);
* change failure rate: the window's ratio.

A window without a value (no change deployed, no deployment ended) has no level: no sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from streamgauge.metrics.snapshot import Labels, Snapshot

# The source gauge each rated metric reads, and the labels that pick the value out of it.
RATED: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "deployment_frequency": ("streamgauge_deployment_frequency_window_per_day", ()),
    "change_lead_time": ("streamgauge_change_lead_time_window_seconds", (("percentile", "50"),)),
    "change_failure_rate": ("streamgauge_change_failure_rate_window_ratio", ()),
    "failed_deployment_recovery_time": (
        "streamgauge_failed_deployment_recovery_time_window_seconds",
        (("percentile", "50"),),
    ),
}


@dataclass(frozen=True, slots=True)
class MetricLevels:
    """The levels of one metric, best first: ``(name, bound)``; the last bound is None."""

    higher_is_better: bool
    levels: tuple[tuple[str, float | None], ...]

    def rate(self, value: float) -> str:
        for name, bound in self.levels:
            if bound is None:
                return name
            if (value >= bound) if self.higher_is_better else (value <= bound):
                return name
        return self.levels[-1][0]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.levels)


@dataclass(frozen=True, slots=True)
class LevelTable:
    name: str
    source: str
    metrics: dict[str, MetricLevels]


def load_table(name: str) -> LevelTable:
    """The benchmark table ``name`` shipped with streamgauge (``dora-2024``...)."""
    path = resources.files("streamgauge.metrics").joinpath("tables", f"{name}.json")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    metrics = {
        metric: MetricLevels(
            higher_is_better=spec["better"] == "higher",
            levels=tuple((str(n), None if b is None else float(b)) for n, b in spec["levels"]),
        )
        for metric, spec in data["metrics"].items()
    }
    return LevelTable(name=data["name"], source=data["source"], metrics=metrics)


def level_family(metric: str) -> str:
    return f"streamgauge_{metric}_window_level"


def add_level_metrics(snapshot: Snapshot, table: LevelTable) -> None:
    """Rate every (team, app, window) value of the rated gauges already in ``snapshot``."""
    wanted = {source: metric for metric, (source, _) in RATED.items()}
    found: dict[str, list[tuple[Labels, float]]] = {metric: [] for metric in RATED}
    for sample in snapshot.samples:
        metric = wanted.get(sample.name)
        if metric is None:
            continue
        extra = RATED[metric][1]
        labels = dict(sample.labels)
        if all(labels.get(k) == v for k, v in extra):
            kept = tuple((k, v) for k, v in sample.labels if k not in dict(extra))
            found[metric].append((kept, sample.value))
    for metric, values in found.items():
        levels = table.metrics.get(metric)
        if levels is None:
            continue
        for kept, value in values:
            reached = levels.rate(value)
            base = dict(kept)
            for name in levels.names:
                snapshot.add(
                    level_family(metric), 1.0 if name == reached else 0.0, **base, level=name
                )
