"""`forecast:`: its defaults, and every bad key refused with its path and the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from streamgauge.config import ConfigError, Settings, load_settings
from streamgauge.model import FlowType

BAD = """
forecast:
  history: 36h
  trials: 5
  horizons: [14d, 14d]
  confidences: [0.5, 1.5]
  backlogs:
    - {name: everything}
    - {name: release, labels: [release-2.3], fixVersion: "2.3"}
    - {name: stories, type: story}
    - {name: release, keys: [PAY-1]}
"""


def test_defaults_sample_twelve_weeks_for_two_four_and_eight_weeks() -> None:
    forecast = Settings().forecast
    assert forecast.history == timedelta(days=84)
    assert forecast.trials == 10_000
    assert forecast.horizon_days == [14, 28, 56]
    assert forecast.confidences == [0.5, 0.7, 0.85, 0.95]
    assert forecast.backlogs == []


def test_a_backlog_reads_its_selectors(tmp_path: Path) -> None:
    path = tmp_path / "streamgauge.yaml"
    path.write_text(
        "forecast:\n  horizons: [4w, 1d]\n  backlogs:\n"
        "    - {name: epic-7, parent: PAY-7, type: defect, labels: [ui, web]}\n"
    )
    forecast = load_settings(path).forecast
    assert forecast.horizon_days == [1, 28]  # sorted; 4w = 28 days
    (backlog,) = forecast.backlogs
    assert (backlog.parent, backlog.type, backlog.labels) == (
        "PAY-7",
        FlowType.DEFECT,
        ["ui", "web"],
    )


def test_every_bad_forecast_key_is_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "streamgauge.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    lines = str(caught.value).splitlines()

    def said(key: str, words: str) -> bool:
        return any(line.startswith(key + ":") and words in line for line in lines)

    assert said("forecast.history", "must be a whole number of days")
    assert said("forecast.trials", "at least 100")
    assert said("forecast.horizons", "repeat a value")
    assert said("forecast.confidences", "write a number in (0, 1]")
    assert said("forecast.backlogs[0]", "select its items by at least one of team, type")
    assert said("forecast.backlogs[1].fixVersion", "unknown key")
    assert said("forecast.backlogs[2].type", "'feature', 'defect', 'risk' or 'debt'")
    assert len(lines) == 7, lines
    # once the others are fixed, the repeated name is named too
    path.write_text(
        "forecast:\n  horizons: [4000d]\n  backlogs:\n    - {name: a, labels: [x]}\n"
        "    - {name: a, keys: [PAY-1]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    lines = str(caught.value).splitlines()
    assert said("forecast.horizons[0]", "at most 3650d")
    assert said("forecast.backlogs", "backlogs[1] repeats the name 'a' of backlogs[0]")
