"""What the value-stream map page shows of one stream (team, app, window), picked out of a
snapshot: every number is one of the snapshot's samples, never a sum or a mean made here, and
each is written as an element that names its sample (family, labels, value)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape

from streamgauge.metrics.snapshot import Labels, Sample, Snapshot, labels
from streamgauge.metrics.stage_metrics import (
    ROLLED_CA,
    STAGE_CA,
    STAGE_TIME,
    STREAM_EFFICIENCY,
    STREAM_LEAD,
)
from streamgauge.metrics.stage_order import STAGE_ORDER
from streamgauge.metrics.targets import TARGET
from streamgauge.report import FORMATS, human_duration

# Families other parts of streamgauge may add; shown when the snapshot has them.
BOTTLENECK = "streamgauge_value_stream_bottleneck"
WAIT_SHARE = "streamgauge_value_stream_stage_wait_share_window_ratio"
QUEUE = "streamgauge_value_stream_stage_queue_items"
QUEUE_TREND = "streamgauge_value_stream_stage_queue_trend_window_items"
FORECAST_ITEMS = "streamgauge_forecast_items"
FORECAST_DAYS = "streamgauge_forecast_done_seconds"
FORECAST_BACKLOG = "streamgauge_forecast_backlog_items"
FLOW_LOAD = "streamgauge_flow_load"
DISTRIBUTION = "streamgauge_flow_distribution_window_ratio"
ALL = "all"


def _ratio(value: float) -> str:
    return f"{FORMATS['ratio'](value)}%"


def _signed(value: float) -> str:
    return f"{value:+.0f}"


def _days(value: float) -> str:
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} d"


# How each unit is written for a person: durations as report writes them, ratios as %.
HUMAN: dict[str, Callable[[float], str]] = {
    "duration": human_duration,
    "ratio": _ratio,
    "per_day": lambda v: f"{FORMATS['rate'](v)}/day",
    "per_week": lambda v: f"{FORMATS['rate'](v)}/week",
    "items": FORMATS[""],
    "trend": _signed,
    "days": _days,
}


def unit_of(family: str) -> str:
    """The unit of a family, from its name's suffix (the catalog's naming rule)."""
    if family.endswith("_seconds"):
        return "duration"
    if family.endswith("_ratio"):
        return "ratio"
    if family.endswith("_per_day"):
        return "per_day"
    if family.endswith("_per_week"):
        return "per_week"
    if family.endswith("_days"):
        return "days"
    if family.endswith("_trend_window_items"):
        return "trend"
    return "items"


def number(sample: Sample, tag: str = "span", *, text: str | None = None, css: str = "n") -> str:
    """The element that shows one sample: its family, labels and exact value in data-*."""
    family = dict(sample.labels).get("metric", "") if sample.name == TARGET else sample.name
    shown = text if text is not None else HUMAN[unit_of(family)](sample.value)
    attrs = (
        f'class="{css}" data-metric="{escape(sample.name)}" '
        f'data-labels="{escape(json.dumps(dict(sample.labels), sort_keys=True))}" '
        f'data-value="{escape(repr(sample.value))}"'
    )
    return f"<{tag} {attrs}>{escape(shown)}</{tag}>"


class SnapshotIndex:
    """A snapshot's samples by family and by (family, labels): built once per snapshot."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.by_name: dict[str, list[Sample]] = defaultdict(list)
        self.by_key: dict[tuple[str, Labels], Sample] = {}
        for s in snapshot.samples:
            self.by_name[s.name].append(s)
            self.by_key[s.name, s.labels] = s
        self.order: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
        for s in self.by_name.get(STAGE_ORDER, ()):
            lbl = dict(s.labels)
            self.order[lbl["team"], lbl["app"]].append((s.value, lbl["stage"]))

    @property
    def computed_at(self) -> datetime:
        return self.snapshot.computed_at

    def get(self, name: str, **label_values: str) -> Sample | None:
        return self.by_key.get((name, labels(**label_values)))

    def where(self, name: str, **label_values: str) -> list[Sample]:
        """The samples of ``name`` whose labels include ``label_values``, in snapshot order."""
        wanted = label_values.items()
        return [s for s in self.by_name.get(name, ()) if wanted <= dict(s.labels).items()]

    def streams(self, teams: Mapping[str, Sequence[str]] = {}) -> list[tuple[str, str]]:
        """Every (team, app) with a value stream: configured teams and apps in their configured
        order, then the others by name, each team's ``all`` after its apps, the organisation
        (``all``, ``all``) last."""
        team_rank = {t: i for i, t in enumerate(teams)}

        def key(pair: tuple[str, str]) -> tuple[int, int, str, int, int, str]:
            team, app = pair
            apps = list(teams.get(team, ()))
            return (
                team == ALL,
                team_rank.get(team, len(team_rank)),
                team,
                app == ALL,
                apps.index(app) if app in apps else len(apps),
                app,
            )

        return sorted(self.order, key=key)


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage box: its numbers for the window (any may be missing)."""

    name: str
    process: Sample | None = None
    wait: Sample | None = None
    ca: Sample | None = None
    queue: Sample | None = None
    trend: Sample | None = None
    wait_share: Sample | None = None
    bottleneck: Sample | None = None  # the sample at 1 when this is the bottleneck
    wait_target: Sample | None = None


@dataclass(frozen=True, slots=True)
class Figure:
    """One headline number with the targets that bound it."""

    title: str
    sample: Sample
    targets: tuple[Sample, ...] = ()
    level: Sample | None = None  # the level sample at 1, where the metric is rated

    def verdicts(self) -> list[tuple[Sample, bool]]:
        return [(t, met(t, self.sample.value)) for t in self.targets]


def met(target: Sample, value: float) -> bool:
    """Whether ``value`` keeps within ``target`` (bound max: at most it, min: at least it)."""
    bound = dict(target.labels).get("bound")
    return value >= target.value if bound == "min" else value <= target.value


@dataclass(slots=True)
class StreamView:
    team: str
    app: str
    window: str
    computed_at: datetime
    stages: list[Stage] = field(default_factory=list)
    lead: list[Sample] = field(default_factory=list)
    efficiency: Sample | None = None
    rolled: Figure | None = None
    dora: list[Figure] = field(default_factory=list)
    flow: list[Figure] = field(default_factory=list)
    load: list[Sample] = field(default_factory=list)
    load_targets: tuple[Sample, ...] = ()
    distribution: list[Sample] = field(default_factory=list)
    forecast_items: list[Sample] = field(default_factory=list)
    forecast_days: list[Sample] = field(default_factory=list)
    forecast_backlog: list[Sample] = field(default_factory=list)

    @property
    def bottleneck(self) -> Stage | None:
        return next((s for s in self.stages if s.bottleneck is not None), None)


@dataclass(frozen=True, slots=True)
class Headline:
    """A number the side panels show: one family's sample for the stream and window."""

    title: str
    family: str
    percentile: str = ""
    rated: str = ""  # the metric levels.py rates it as, where it is rated
    all_types: bool = False  # a flow family: its type="all" sample

    def labels(self, common: Mapping[str, str]) -> dict[str, str]:
        extra = {"percentile": self.percentile} if self.percentile else {}
        return {**common, **extra, **({"type": ALL} if self.all_types else {})}


DF = "streamgauge_deployment_frequency_window_per_day"
CLT = "streamgauge_change_lead_time_window_seconds"
CFR = "streamgauge_change_failure_rate_window_ratio"
FDRT = "streamgauge_failed_deployment_recovery_time_window_seconds"
DORA: tuple[Headline, ...] = (
    Headline("Deployment frequency", DF, rated="deployment_frequency"),
    Headline("Change lead time p50", CLT, "50", rated="change_lead_time"),
    Headline("Change lead time p85", CLT, "85"),
    Headline("Change failure rate", CFR, rated="change_failure_rate"),
    Headline("Recovery time p50", FDRT, "50", rated="failed_deployment_recovery_time"),
    Headline("Deployment rework rate", "streamgauge_deployment_rework_rate_window_ratio"),
)
FLOW: tuple[Headline, ...] = (
    Headline("Flow velocity", "streamgauge_flow_velocity_window_per_week", all_types=True),
    Headline("Flow time p50", "streamgauge_flow_time_window_seconds", "50", all_types=True),
    Headline("Flow time p85", "streamgauge_flow_time_window_seconds", "85", all_types=True),
    Headline("Flow efficiency", "streamgauge_flow_efficiency_window_ratio", all_types=True),
)


class Targets:
    """The targets that apply to one (team, app): the app's own where it has one, else the
    team's (``app=""``), for each (metric, stage, percentile, bound); none for ``team=all``."""

    def __init__(self, index: SnapshotIndex, team: str, app: str) -> None:
        chosen: dict[tuple[str, str, str, str], Sample] = {}
        for s in index.where(TARGET, team=team):
            lbl = dict(s.labels)
            key = (lbl["metric"], lbl.get("stage", ""), lbl.get("percentile", ""), lbl["bound"])
            own = lbl.get("app") == app != ""
            if own or (lbl.get("app", "") == "" and key not in chosen):
                chosen[key] = s
        self._chosen = chosen

    def of(self, metric: str, stage: str = "", percentile: str = "") -> tuple[Sample, ...]:
        return tuple(
            s
            for (m, st, p, _), s in sorted(self._chosen.items())
            if m == metric and st == stage and p == percentile
        )


def stream_view(index: SnapshotIndex, team: str, app: str, window: str) -> StreamView:
    """The page's numbers for one stream and window (see the module)."""
    view = StreamView(team, app, window, index.computed_at)
    targets = Targets(index, team, app)
    common = {"team": team, "app": app, "window": window}
    for _, stage in sorted(index.order.get((team, app), ())):
        found = Stage(
            stage,
            process=index.get(STAGE_TIME, **common, stage=stage, part="process"),
            wait=index.get(STAGE_TIME, **common, stage=stage, part="wait"),
            ca=index.get(STAGE_CA, **common, stage=stage),
            queue=index.get(QUEUE, team=team, app=app, stage=stage),
            trend=index.get(QUEUE_TREND, **common, stage=stage),
            wait_share=index.get(WAIT_SHARE, **common, stage=stage),
            bottleneck=_at_one(index.get(BOTTLENECK, **common, stage=stage)),
            wait_target=next(iter(targets.of(STAGE_TIME, stage=stage)), None),
        )
        if any(getattr(found, f) is not None for f in ("process", "wait", "ca", "queue")):
            view.stages.append(found)
    view.lead = [
        s
        for p in ("50", "85", "95")
        if (s := index.get(STREAM_LEAD, **common, percentile=p)) is not None
    ]
    view.efficiency = index.get(STREAM_EFFICIENCY, **common)
    rolled = index.get(ROLLED_CA, **common)
    if rolled is not None:
        view.rolled = Figure("Rolled %C&A", rolled, targets.of(ROLLED_CA))
    view.dora = _figures(index, DORA, common, targets)
    view.flow = _figures(index, FLOW, common, targets)
    view.load = index.where(FLOW_LOAD, team=team, app=app)
    view.load_targets = targets.of(FLOW_LOAD)
    view.distribution = index.where(DISTRIBUTION, **common)
    view.forecast_items = index.where(FORECAST_ITEMS, team=team)
    view.forecast_days = index.where(FORECAST_DAYS, team=team)
    view.forecast_backlog = index.where(FORECAST_BACKLOG, team=team)
    return view


def _at_one(sample: Sample | None) -> Sample | None:
    return sample if sample is not None and sample.value == 1 else None


def _figures(
    index: SnapshotIndex, rows: Sequence[Headline], common: dict[str, str], targets: Targets
) -> list[Figure]:
    out = []
    for row in rows:
        sample = index.get(row.family, **row.labels(common))
        if sample is None:
            continue
        level = None
        if row.rated:
            levels = index.where(f"streamgauge_{row.rated}_window_level", **common)
            level = next((s for s in levels if s.value == 1), None)
        found = targets.of(row.family, percentile=row.percentile)
        out.append(Figure(row.title, sample, found, level))
    return out
