"""`report` shows the new headline numbers and data quality beside the first five."""

from __future__ import annotations

import io

import pytest
from tests.builders import at, change, deployment
from tests.metrics.helpers import NOW, settings

from streamgauge.metrics import compute_all
from streamgauge.model import Dataset, DeploymentKind
from streamgauge.report import human_duration, report_rows, write_table


def test_rows_carry_rework_deploy_days_and_data_quality() -> None:
    deployments = [
        deployment(finished_at=at(days=24), commit_shas=("a",)),
        deployment(finished_at=at(days=25), kind=DeploymentKind.HOTFIX, commit_shas=("zzz",)),
    ]
    # merged, never deployed: one data-quality problem
    waiting = change(created_at=at(days=20), merged_at=at(days=21), merge_sha="b")
    shipped = change(created_at=at(days=20), merged_at=at(days=21), merge_sha="a")
    snap = compute_all(
        Dataset(deployments=deployments, changes=[waiting, shipped]), now=NOW, settings=settings()
    )
    rows = report_rows(snap, settings(), window="7d")
    (row,) = [r for r in rows if r["team"] == "payments" and r["app"] == "checkout"]
    assert row["deployment_rework_rate_ratio"] == pytest.approx(0.5)  # the hotfix, 1 of 2
    assert row["deployment_days_ratio"] == pytest.approx(2 / 7)  # days 24 and 25 of the 7
    # "zzz" is no known sha -> deployment_without_commits; "b" -> change_never_deployed
    assert row["data_quality"]["deployment_without_commits"] == 1
    assert row["data_quality"]["change_never_deployed"] == 1
    assert row["data_quality_records"] == 2
    out = io.StringIO()
    write_table(rows, out, width=300)
    (header,) = [line for line in out.getvalue().splitlines() if "team" in line]
    assert "rework %" in header
    assert "data issues (records)" in header


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (45, "45s"),
        (12 * 60 + 20, "12m"),  # 12 min 20 s, to the minute
        (3 * 3600 + 20 * 60, "3h 20m"),
        (3 * 3600 + 59 * 60 + 50, "4h"),  # 3h 59m 50s rounds to 240 minutes
        (2 * 86400 + 4 * 3600 + 10 * 60, "2d 4h"),  # 52h 10m rounds to 52 hours
        (7 * 86400, "7d"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_a_narrow_terminal_gets_split_tables_that_fit() -> None:
    # Lead time 12,000 s = 3h 20m; change failure rate 1 of 4 = 25 %.
    row = {
        "team": "payments",
        "app": "payments-api",
        "window": "30d",
        "lead_time_p50_seconds": 12_000.0,
        "change_failure_rate_ratio": 0.25,
    }
    wide, narrow = io.StringIO(), io.StringIO()
    write_table([row], wide, width=250)
    write_table([row], narrow, width=80)
    assert wide.getvalue().count("payments-api") == 1  # one table
    assert narrow.getvalue().count("payments-api") > 1  # the row repeated in each part
    assert max(len(line) for line in narrow.getvalue().splitlines()) <= 80
    for text in (wide.getvalue(), narrow.getvalue()):
        assert "3h 20m" in text
        assert " 25 " in text + " "
