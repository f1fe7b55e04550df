"""The `forecast:` section: Monte Carlo forecasts over daily throughput, and the backlogs they
forecast (docs/metrics.md, "Forecasts").

A backlog selects the stored work items not done yet (new, waiting or active at ``now``) that
match every selector it gives: ``team``, flow item ``type``, every one of ``labels``, ``parent``
(an epic's key), ``project``, or one of ``keys``. The work items carry no fix version nor the
filters of the tracker; a Jira filter or fix version is expressed through these: its issues'
keys listed under ``keys``, or a label they carry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from streamgauge.model import FlowType

DAY = timedelta(days=1)
# A days forecast simulates at most this many days (ten years): a backlog its team would take
# longer to finish has no days forecast at that confidence.
MAX_DAYS = 3650


def _whole_days(value: Any) -> timedelta:
    # imported here: the configuration imports this module
    from streamgauge.config import format_duration, parse_duration

    span = parse_duration(value)
    if span <= timedelta(0) or span % DAY:
        raise ValueError(
            f"must be a whole number of days, e.g. '14d' (got {format_duration(span)})"
        )
    if span > MAX_DAYS * DAY:
        raise ValueError(f"must be at most {MAX_DAYS}d, the longest span a forecast simulates")
    return span


def _days_text(span: timedelta) -> str:
    return f"{span.days}d"


Days = Annotated[
    timedelta, BeforeValidator(_whole_days), PlainSerializer(_days_text, return_type=str)
]


class Backlog(BaseModel):
    """A named backlog: the work items not done yet that match every selector given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]
    team: str | None = None
    type: FlowType | None = None
    labels: list[str] = []
    parent: str | None = None  # an epic's (or any parent item's) key
    project: str | None = None
    keys: list[str] = []

    @model_validator(mode="after")
    def _selects(self) -> Backlog:
        if not (self.team or self.type or self.labels or self.parent or self.project or self.keys):
            raise ValueError(
                "select its items by at least one of team, type, labels, parent, project or keys"
            )
        return self


def _distinct_backlogs(backlogs: list[Backlog]) -> list[Backlog]:
    seen: dict[str, int] = {}
    for i, backlog in enumerate(backlogs):
        if backlog.name in seen:
            raise ValueError(
                f"backlogs[{i}] repeats the name {backlog.name!r} of backlogs[{seen[backlog.name]}]: "
                "give each backlog its own name"
            )
        seen[backlog.name] = i
    return backlogs


class ForecastConfig(BaseModel):
    """How forecasts sample the past and what they forecast."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    history: Days = timedelta(weeks=12)  # the daily throughput sampled: the last 84 days
    trials: int = Field(default=10_000, ge=100, le=100_000)  # simulated futures
    seed: int = Field(default=1, ge=0)  # with the team and type, seeds each simulation
    horizons: list[Days] = [timedelta(days=14), timedelta(days=28), timedelta(days=56)]
    confidences: list[float] = [0.5, 0.7, 0.85, 0.95]
    backlogs: Annotated[list[Backlog], AfterValidator(_distinct_backlogs)] = []

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, value: list[timedelta]) -> list[timedelta]:
        if not value:
            raise ValueError("give at least one horizon, e.g. ['14d', '28d']")
        if len(set(value)) != len(value):
            raise ValueError("horizons repeat a value: give each once")
        return sorted(value)

    @field_validator("confidences")
    @classmethod
    def _confidences(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("give at least one confidence, e.g. [0.5, 0.85]")
        for c in value:
            if not 0 < c <= 1:
                raise ValueError(
                    f"{c} is not a share of trials: write a number in (0, 1], e.g. 0.85"
                )
        if len({confidence_label(c) for c in value}) != len(value):
            raise ValueError("confidences repeat a value: give each once")
        return sorted(value)

    @property
    def horizon_days(self) -> list[int]:
        return [h.days for h in self.horizons]


def confidence_label(confidence: float) -> str:
    """The ``confidence`` label of a share: 0.85 -> ``"0.85"``, 1 -> ``"1"``."""
    return f"{confidence:.6g}"


def horizon_label(days: int) -> str:
    """The ``horizon`` label of a horizon in days: 14 -> ``"14d"``."""
    return f"{days}d"
