"""`report --at` and `explain --at`: the numbers of a past moment, from the stored records."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.metrics.helpers import NOW
from tests.test_explain import story

from streamgauge.cli import main
from streamgauge.store import Store


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    # main() installs its own handler on the root logger
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def stored_story(tmp_path: Path, shift: timedelta) -> Path:
    """The explain story (four deployments in the 7d window before its day 30, two failed),
    stored with its day 30 moved to ``NOW + shift``; the configuration that reads it."""
    data = story(shift)
    with Store.open(f"sqlite:///{tmp_path / 'streamgauge.db'}") as store:
        for kind in ("deployments", "changes", "incidents", "work_items", "status_changes"):
            records = getattr(data, kind)
            store.write_batch(source="test", stream=kind, raws=[], records=records, cursor=None)
    config = tmp_path / "streamgauge.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\nwindows: [7d, 30d]\nteams: {{payments: {{apps: [checkout]}}}}\n"
    )
    return config


def test_explain_at_a_duration_ago_sees_what_now_no_longer_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the story's day 30 is 20 days ago: its deployments (days 24-27) left the 7d window long ago
    shift = datetime.now(UTC) - NOW - timedelta(days=20)
    config = stored_story(tmp_path, shift)
    args = ["explain", "change_failure_rate", "--config", str(config), "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == []
    # 20 days ago is the story's day 30: d1..d4 in (day 23, day 30]; d2's job failed (a failed
    # attempt), d3 failed of the 3 that reached production -> 1/3
    assert main([*args, "--at", "20d"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["failed_deployments"] == 1
    assert out["summary"]["change_failure_rate_ratio"] == pytest.approx(1 / 3)
    assert len(out["rows"]) == 4


def test_report_at_an_iso_time_computes_that_moment_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = stored_story(tmp_path, timedelta(0))  # day 30 is NOW itself, in the past
    at = NOW.isoformat().replace("+00:00", "Z")
    args = ["report", "--config", str(config), "--json", "--window", "7d", "--at", at]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["computed_at"] == NOW.isoformat()
    rows = {(r["team"], r["app"]): r for r in report["rows"]}
    # d3 failed of the 3 that reached production (d2's job failed: a failed attempt);
    # 3 successful (d1, d3, d4) over 7 days -> 3/7 per day
    assert rows[("all", "all")]["change_failure_rate_ratio"] == pytest.approx(1 / 3)
    assert rows[("all", "all")]["deployments_per_day"] == pytest.approx(3 / 7)
    with Store.open(f"sqlite:///{tmp_path / 'streamgauge.db'}") as store:
        assert store.latest_snapshot() is None
    # a moment without offset is UTC: the same numbers
    assert main([*args[:-1], at.removesuffix("Z")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["rows"] == report["rows"]


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("yesterday", "neither a time nor a duration"),
        ("2026-13-01", "neither a time nor a duration"),
        ("2999-01-01T00:00:00Z", "is in the future"),
    ],
)
def test_at_that_cannot_be_used_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, words: str
) -> None:
    config = stored_story(tmp_path, timedelta(0))
    for command in (["report"], ["explain", "change_failure_rate"]):
        assert main([*command, "--config", str(config), "--at", given]) == 2
        err = capsys.readouterr().err
        assert f"streamgauge {command[0]}: --at {given!r} " in err
        assert words in err


def test_explain_value_stream_on_the_demo_names_each_stage_s_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        "teams: {payments: {apps: [payments-api, payments-web]}}\n"
        "sources:\n  - {name: demo, type: demo, teams: 1, days: 30}\n",
        encoding="utf-8",
    )
    assert main(["sync", "--config", str(config)]) == 0
    capsys.readouterr()
    args = ["explain", "value_stream", "--config", str(config), "--window", "30d", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    stages = out["stages"]
    # stream order: the demo's tracker stages as its items go through them, then delivery
    names = [s["stage"] for s in stages]
    assert names[:5] == ["intake", "planning", "development", "review", "testing"]
    assert names[-4:] == ["coding", "pickup", "code_review", "deploy"]
    assert [s["order"] for s in stages] == sorted(s["order"] for s in stages)
    rolled = 1.0
    for stage in stages:
        # each share is the items that left the stage forward for good over those that entered
        assert stage["complete_accurate_ratio"] == stage["complete_accurate"] / stage["entered"]
        rolled *= stage["complete_accurate_ratio"]
    assert out["summary"]["complete_accurate_ratio"] == pytest.approx(rolled)
    assert 0 < rolled < 1
    assert len(out["rows"]) == out["summary"]["work_items"] > 0
