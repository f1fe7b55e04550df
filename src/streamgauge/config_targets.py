"""The `targets:` of a team or app: the future-state map, each a bound on one metric family.

A target names a gauge family (``streamgauge_change_lead_time_window_seconds``, or the same
without ``streamgauge_``), one bound (``max`` or ``min``) in the family's unit (a duration such
as ``3d`` for a family in seconds, a number otherwise), the ``quantile`` for a family with a
``percentile`` label and the ``stage`` for a family with a ``stage`` label.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationInfo,
    field_validator,
    model_validator,
)

PREFIX = "streamgauge_"
# gauges that are no measure a team steers by: targets themselves, levels, the stage positions,
# forecasts (a horizon and a confidence that no target names)
_NOT_TARGETS = (
    "streamgauge_target",
    "streamgauge_value_stream_stage_order",
    "streamgauge_forecast_items",
    "streamgauge_forecast_done_seconds",
    "streamgauge_forecast_backlog_items",
)


def target_families() -> dict[str, tuple[str, ...]]:
    """Every family a target may name, with its label names."""
    # imported here: the catalog's package imports the configuration
    from streamgauge.metrics.catalog import COMPUTED

    return {
        m.name: m.labels
        for m in COMPUTED
        if m.kind == "gauge" and m.name not in _NOT_TARGETS and not m.name.endswith("_level")
    }


def _family(value: str) -> tuple[str, tuple[str, ...]] | None:
    name = PREFIX + value.removeprefix(PREFIX)
    labels = target_families().get(name)
    return None if labels is None else (name, labels)


class Target(BaseModel):
    """One bound on one family; ``metric`` comes first, as the other keys are read by it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    quantile: str | None = None
    stage: str | None = None
    max: float | None = None
    min: float | None = None

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        found = _family(value)
        if found is None:
            names = sorted(target_families())
            close = difflib.get_close_matches(PREFIX + value.removeprefix(PREFIX), names, n=1)
            hint = f"did you mean {close[0]}?" if close else "known: " + ", ".join(names)
            raise ValueError(f"{value!r} is not a gauge family a target can bound; {hint}")
        return found[0]

    @field_validator("quantile", mode="before")
    @classmethod
    def _quantile(cls, value: Any, info: ValidationInfo) -> Any:
        found = _family(str(info.data.get("metric", "")))
        if value is None or found is None:
            return None if value is None else str(value)
        if "percentile" not in found[1]:
            raise ValueError(f"{found[0]} has no percentile label: remove quantile")
        text = str(value).strip().lower().removeprefix("p")
        try:
            number = float(text)
        except ValueError:
            number = -1.0
        if 0 < number < 1:
            number *= 100  # 0.85 -> 85
        label = f"{number:.10g}"
        known = ("50", "85", "95")
        if label not in known:
            raise ValueError(
                f"{value!r} is not a percentile the family has; write one of {', '.join(known)}"
            )
        return label

    @field_validator("stage")
    @classmethod
    def _stage(cls, value: str | None, info: ValidationInfo) -> str | None:
        found = _family(str(info.data.get("metric", "")))
        if value is not None and found is not None and "stage" not in found[1]:
            raise ValueError(f"{found[0]} has no stage label: remove stage")
        if value is not None and not value.strip():
            raise ValueError("must name a stage, e.g. 'review'")
        return value

    @field_validator("max", "min", mode="before")
    @classmethod
    def _bound(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        found = _family(str(info.data.get("metric", "")))
        if isinstance(value, bool):
            raise ValueError("must be a number (a duration such as '3d' for a time)")
        if found is None or found[0].endswith("_seconds"):
            # (an unknown metric is named once, under its own key; its bound is read as a time)
            from streamgauge.config import parse_duration  # the configuration imports this

            seconds = parse_duration(value).total_seconds()
            if seconds < 0:
                raise ValueError("must not be negative")
            return seconds
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a number; {found[0] if found else 'this family'} is "
                    "not in seconds, so write a plain number, e.g. 0.9 or 12"
                ) from None
        if isinstance(value, int | float) and value < 0:
            raise ValueError("must not be negative")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Target:
        if (self.max is None) == (self.min is None):
            raise ValueError(
                "give exactly one bound: max (stay at most) or min (stay at least), "
                "e.g. max: 3d; a second bound is a second target"
            )
        labels = target_families()[self.metric]
        if "percentile" in labels and self.quantile is None:
            raise ValueError(f"{self.metric} has percentiles: set quantile to 50, 85 or 95")
        if "stage" in labels and self.stage is None:
            raise ValueError(f"{self.metric} is per stage: set stage, e.g. stage: review")
        return self

    @property
    def bound(self) -> str:
        return "max" if self.max is not None else "min"

    @property
    def value(self) -> float:
        value = self.max if self.max is not None else self.min
        assert value is not None  # _complete
        return value


def _no_repeats(targets: list[Target]) -> list[Target]:
    # two targets on the same series would export it twice, and a scrape with a repeated series
    # is refused whole
    seen: dict[tuple[str, str | None, str | None, str], int] = {}
    for i, t in enumerate(targets):
        key = (t.metric, t.stage, t.quantile, t.bound)
        if key in seen:
            raise ValueError(
                f"targets[{i}] repeats targets[{seen[key]}] ({t.metric}, {t.bound}): keep one"
            )
        seen[key] = i
    return targets


# A team's or app's targets, each series bounded once.
Targets = Annotated[list[Target], AfterValidator(_no_repeats)]
