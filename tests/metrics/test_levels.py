"""Performance levels: the shipped DORA tables, rating at the bounds, and the level gauges."""

from __future__ import annotations

import pytest
from tests.builders import at, deployment
from tests.metrics.helpers import NOW, settings

from streamgauge.config import ConfigError, Settings
from streamgauge.metrics import compute_all
from streamgauge.metrics.levels import load_table
from streamgauge.metrics.snapshot import labels
from streamgauge.model import Dataset, RunResult

DAY = 86400.0


@pytest.mark.parametrize("name", ["dora-2023", "dora-2024"])
def test_tables_rate_the_four_metrics_and_name_their_source(name: str) -> None:
    table = load_table(name)
    assert table.name == name
    assert "State of DevOps" in table.source
    assert set(table.metrics) == {
        "deployment_frequency",
        "change_lead_time",
        "change_failure_rate",
        "failed_deployment_recovery_time",
    }
    for levels in table.metrics.values():
        assert levels.names[0] == "elite"
        assert levels.levels[-1] == ("low", None)


def test_rating_at_the_bounds() -> None:
    table = load_table("dora-2024")
    frequency = table.metrics["deployment_frequency"]
    # at least one a day is elite; once a week (1/7 a day) is still high; once a month medium
    assert frequency.rate(1.0) == "elite"
    assert frequency.rate(1 / 7) == "high"
    assert frequency.rate(1 / 7 - 0.001) == "medium"
    assert frequency.rate(1 / 30) == "medium"
    assert frequency.rate(0.01) == "low"
    lead = table.metrics["change_lead_time"]
    # a day is elite, a week high, 30 days medium, more low
    assert [lead.rate(v) for v in (DAY, DAY + 1, 7 * DAY, 30 * DAY, 31 * DAY)] == [
        "elite",
        "high",
        "high",
        "medium",
        "low",
    ]
    # 2024: 5 % elite, 20 % high, above low (medium's 10 % lies below high's 20 %)
    failure = table.metrics["change_failure_rate"]
    assert [failure.rate(v) for v in (0.05, 0.1, 0.2, 0.21)] == ["elite", "high", "high", "low"]
    # 2023: 5 % elite, 10 % high, 15 % medium, above low
    old = load_table("dora-2023").metrics["change_failure_rate"]
    assert [old.rate(v) for v in (0.05, 0.1, 0.15, 0.2)] == ["elite", "high", "medium", "low"]


def test_level_gauges_follow_the_configured_table() -> None:
    deployments = [
        deployment(finished_at=at(days=25)),
        deployment(finished_at=at(days=27)),
        deployment(finished_at=at(days=28), result=RunResult.FAILURE),
        deployment(finished_at=at(days=29)),
        deployment(finished_at=at(days=29, hours=2)),
    ]
    data = Dataset(deployments=deployments)
    # 7d: 4 successes / 7 days = 0.571 a day -> high (>= 1/7, < 1); the failed job counts as a
    # change failure (metrics.failed_attempts_are_failures) -> failure rate 1/5 = 0.2
    attempts_fail = {"failed_attempts_are_failures": True}
    snap = compute_all(data, now=NOW, settings=settings(metrics=attempts_fail))
    key = {"team": "payments", "app": "checkout", "window": "7d"}
    frequency = snap.values("streamgauge_deployment_frequency_window_level")
    assert frequency[labels(**key, level="high")] == 1.0
    assert frequency[labels(**key, level="elite")] == 0.0
    assert frequency[labels(**key, level="medium")] == 0.0
    assert frequency[labels(**key, level="low")] == 0.0
    failure = snap.values("streamgauge_change_failure_rate_window_level")
    assert failure[labels(**key, level="high")] == 1.0  # 2024: 0.2 <= 20 %
    older = compute_all(
        data, now=NOW, settings=settings(metrics={**attempts_fail, "levels_table": "dora-2023"})
    )
    failure = older.values("streamgauge_change_failure_rate_window_level")
    assert failure[labels(**key, level="low")] == 1.0  # 2023: 0.2 > 15 %
    assert failure[labels(**key, level="medium")] == 0.0
    # no change was deployed: no lead time, so no lead-time level either
    assert snap.values("streamgauge_change_lead_time_window_level") == {}


def test_unknown_table_is_a_config_error() -> None:
    with pytest.raises((ConfigError, ValueError), match="dora-2024"):
        Settings(metrics={"levels_table": "dora-1999"})
