"""The command line as a user drives it: check-config, sync, report, unmapped, skipped."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.connectors.jira.conftest import small_project
from tests.fakes.jira import FakeJira

from streamgauge.cli import main


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    # main() installs its own handler on the root logger, as a program should.
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira(small_project(), mode="cloud") as server:
        yield server


def jira_config(tmp_path: Path, server: FakeJira, token: str) -> Path:
    path = tmp_path / "streamgauge.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        "sources:\n"
        f"  - {{name: tracker, type: jira, url: '{server.url}', projects: [PAY],\n"
        f"     email: '{server.email}', api_token: '{token}'}}\n",
        encoding="utf-8",
    )
    return path


def demo_config(tmp_path: Path) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        "teams: {payments: {apps: [payments-api, payments-web]}}\n"
        "sources:\n  - {name: demo, type: demo, teams: 1, days: 30, start: 2026-01-01T00:00:00Z}\n",
        encoding="utf-8",
    )
    return path


def test_check_config_on_the_built_in_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("configuration is valid; sources: demo (demo); store: sqlite:///")


def test_sync_then_report_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = demo_config(tmp_path)
    assert main(["sync", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("demo: ")
    assert " new, 0 changed, 0 unchanged, 0 skipped" in out

    assert main(["report", "--config", str(config), "--json", "--window", "30d"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {(r["team"], r["app"]): r for r in report["rows"]}
    assert set(rows) == {
        ("all", "all"),
        ("payments", "all"),
        ("payments", "payments-api"),
        ("payments", "payments-web"),
    }
    assert all(r["window"] == "30d" for r in rows.values())
    overall = rows[("all", "all")]
    assert overall["deployments_per_day"] > 0
    assert 0 <= overall["change_failure_rate_ratio"] <= 1


def test_sync_of_an_unknown_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--config", str(demo_config(tmp_path)), "--source", "nope"]) == 2
    assert "no enabled source named nope (known: demo)" in capsys.readouterr().err


def test_unmapped_lists_what_no_rule_covers(
    tmp_path: Path, jira: FakeJira, capsys: pytest.CaptureFixture[str]
) -> None:
    config = jira_config(tmp_path, jira, jira.api_token)
    # One of the fake project's issues is malformed: skipped and counted, not fatal.
    assert main(["sync", "--config", str(config)]) == 0
    assert "1 skipped" in capsys.readouterr().out
    assert main(["unmapped", "--config", str(config), "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    # small_project(): PAY-8 moved to "Parked" (no category, no rule) and is a "Spike".
    assert [(e["what"], e["name"], e["issues"]) for e in entries] == [
        ("status", "Parked", 1),
        ("type", "Spike", 1),
    ]


def test_a_refused_token_never_reaches_the_output(
    tmp_path: Path, jira: FakeJira, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "wrong-token-d41d8cd98f00b204"
    config = jira_config(tmp_path, jira, secret)
    assert main(["sync", "--config", str(config), "--log-level", "DEBUG"]) == 1
    captured = capsys.readouterr()
    assert "tracker: sync failed" in captured.err
    basic = base64.b64encode(f"{jira.email}:{secret}".encode()).decode()
    for form in (secret, basic):
        assert form not in captured.out + captured.err


def test_skipped_lists_each_skipped_record_with_where_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "deploys.jsonl"
    good = {
        "kind": "deployment",
        "id": "ci:deployment:1",
        "environment": "production",
        "started_at": "2026-01-02T10:00:00Z",
        "result": "success",
    }
    feed.write_text(
        json.dumps(good)
        + "\n"
        + json.dumps(good | {"id": "ci:deployment:2", "sha": "a\x00b"})
        + "\n",
        encoding="utf-8",
    )
    config = tmp_path / "streamgauge.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\nsources:\n  - {{name: ci, type: file, path: '{feed}'}}\n",
        encoding="utf-8",
    )
    assert main(["skipped", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "no record was skipped\n"
    assert main(["sync", "--config", str(config)]) == 0
    assert "1 new, 0 changed, 0 unchanged, 1 skipped" in capsys.readouterr().out
    assert main(["skipped", "--config", str(config), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (entry["source"], entry["location"], entry["reason"]) == (
        "ci",
        "deploys.jsonl:2",
        "invalid_text",
    )
    assert entry["record_id"] == "ci:deployment:2"
    assert entry["detail"] == "sha: a NUL character (U+0000) at position 1"
    assert entry["times"] == 1
    assert main(["skipped", "--config", str(config)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].startswith("ci           invalid_text         1  ")
    assert table[1].endswith("deploys.jsonl:2: sha: a NUL character (U+0000) at position 1")
