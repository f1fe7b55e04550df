"""`report` shows the new headline numbers and data quality beside the first five."""

from __future__ import annotations

import io

import pytest
from tests.builders import at, change, deployment
from tests.metrics.helpers import NOW, settings

from streamgauge.metrics import compute_all
from streamgauge.model import Dataset, DeploymentKind
from streamgauge.report import report_rows, write_table


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
    assert row["rework rate"] == pytest.approx(0.5)  # the hotfix, 1 of 2
    assert row["deploy days"] == pytest.approx(2 / 7)  # days 24 and 25 of the 7
    # "zzz" is no known sha -> deployment_without_commits; "b" -> change_never_deployed
    assert row["data_quality"]["deployment_without_commits"] == 1
    assert row["data_quality"]["change_never_deployed"] == 1
    assert row["data issues"] == 2
    out = io.StringIO()
    write_table(rows, out)
    header = out.getvalue().splitlines()[0]
    assert "rework rate" in header
    assert "data issues" in header
