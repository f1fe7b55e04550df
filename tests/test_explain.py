"""`explain`: the records behind a number, as rows, a table and JSON through the CLI."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.builders import at, change, deployment, incident, status_change, work_item
from tests.metrics.helpers import NOW, settings

from streamgauge.cli import main
from streamgauge.explain import explain, metric_key, write_table
from streamgauge.metrics import compute_facts, snapshot_of
from streamgauge.metrics.snapshot import labels
from streamgauge.model import Dataset, DeploymentKind, FlowState, RunResult
from streamgauge.store import Store


def story(shift: timedelta = timedelta(0)) -> Dataset:
    """Four production deployments in the 7d window (day 23, day 30]: one failed attempt, one
    failed change; one change."""

    def t(days: float, hours: float = 0) -> datetime:
        return at(days=days, hours=hours) + shift

    d1 = deployment(finished_at=t(24), native_id="d1", commit_shas=("c1",))
    d2 = deployment(finished_at=t(25), result=RunResult.FAILURE, native_id="d2")
    d3 = deployment(finished_at=t(26), native_id="d3")  # the incident below is blamed on it
    d4 = deployment(finished_at=t(27), kind=DeploymentKind.HOTFIX, native_id="d4")
    c1 = change(
        created_at=t(22, 6),
        first_commit_at=t(22),
        first_review_at=t(22, 8),
        merged_at=t(23),
        merge_sha="c1",
        native_id=7,
    )
    inc = incident(opened_at=t(26, 3), resolved_at=t(26, 5), native_id="9")
    item = work_item(created_at=t(20), key="PAY-3", flow_state=FlowState.DONE)
    moves = [
        status_change(item=item, at=t(21), from_state=FlowState.NEW, to_state=FlowState.ACTIVE),
        status_change(item=item, at=t(24), from_state=FlowState.ACTIVE, to_state=FlowState.DONE),
    ]
    return Dataset(
        deployments=[d1, d2, d3, d4],
        changes=[c1],
        incidents=[inc],
        work_items=[item],
        status_changes=moves,
    )


def test_failure_rate_lists_each_deployment_and_why() -> None:
    facts = compute_facts(story(), now=NOW, settings=settings())
    found = explain(facts, "change_failure_rate", settings(), team="payments", window="7d")
    why = {row["deployment"].split(":")[-1]: row["why"] for row in found.rows}
    # d2's job failed: a failed attempt, no change failure; d3 caused the incident and was
    # followed by the hotfix d4
    assert why == {
        "d1": "",
        "d2": "",
        "d3": "followed_by_hotfix, caused_incident",
        "d4": "",
    }
    attempts = {row["deployment"].split(":")[-1] for row in found.rows if row["failed_attempt"]}
    assert attempts == {"d2"}
    # 1 failed of the 3 that reached production -> 1/3, the number the gauge shows;
    # 1 failed attempt of 4 -> 0.25
    assert found.summary["change_failure_rate_ratio"] == pytest.approx(1 / 3)
    assert found.summary["deployment_attempt_failure_rate_ratio"] == 0.25
    snap = snapshot_of(facts, settings())
    rate = snap.values("streamgauge_change_failure_rate_window_ratio")
    assert rate[labels(team="payments", app="all", window="7d")] == pytest.approx(1 / 3)
    rework = {row["deployment"].split(":")[-1]: row["rework"] for row in found.rows}
    assert rework["d4"] == "hotfix"
    assert found.rows[2]["incidents"] == "INC-9"


def test_lead_time_lists_each_change_with_its_parts() -> None:
    facts = compute_facts(story(), now=NOW, settings=settings())
    found = explain(facts, "streamgauge_change_lead_time_window_seconds", settings(), window="7d")
    (row,) = found.rows
    # first commit day 22 00:00 -> deployed day 24: 2 d = 172800 s;
    # coding 6 h = 21600, pickup 2 h = 7200, review 08:00 -> day 23 = 16 h = 57600,
    # deploy 1 d = 86400; 21600 + 7200 + 57600 + 86400 = 172800
    assert row["change"] == "acme/checkout#7"
    assert row["lead_time_seconds"] == 172800
    parts = [row[f"{p}_seconds"] for p in ("coding", "pickup", "review", "deploy")]
    assert parts == [21600, 7200, 57600, 86400]


def test_flow_time_lists_items_and_an_unknown_metric_is_refused() -> None:
    facts = compute_facts(story(), now=NOW, settings=settings())
    found = explain(facts, "flow_time", settings(), window="7d")
    # PAY-3: active day 21 -> done day 24 = 3 d
    assert [(r["item"], r["flow_time_seconds"]) for r in found.rows] == [("PAY-3", 259200)]
    with pytest.raises(ValueError, match="known metrics"):
        explain(facts, "happiness", settings())
    with pytest.raises(ValueError, match="window"):
        explain(facts, "flow_time", settings(), window="1d")
    assert metric_key("streamgauge_data_quality_records") == "data_quality"


def test_table_names_the_definition_and_every_row() -> None:
    facts = compute_facts(story(), now=NOW, settings=settings())
    out = io.StringIO()
    write_table(explain(facts, "change_failure_rate", settings(), window="7d"), out, width=200)
    text = out.getvalue()
    assert "failed_deployments=1" in text
    assert "failed_deployment_attempts=1" in text
    assert text.count("test:deployment:") == 4
    assert "followed_by_hotfix" in text


def test_cli_explains_from_the_store_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the CLI reads the clock: the story is moved so that its day 30 is about now
    shift = datetime.now(UTC) - NOW
    data = story(shift)
    with Store.open(f"sqlite:///{tmp_path / 'streamgauge.db'}") as store:
        for kind in ("deployments", "changes", "incidents", "work_items", "status_changes"):
            records = getattr(data, kind)
            store.write_batch(source="test", stream=kind, raws=[], records=records, cursor=None)
    config = tmp_path / "streamgauge.yaml"
    config.write_text(
        f"data_dir: {tmp_path}\nwindows: [7d, 30d]\nteams: {{payments: {{apps: [checkout]}}}}\n"
    )
    code = main(["explain", "change_failure_rate", "--config", str(config), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["window"] == "7d"
    assert out["summary"]["failed_deployments"] == 1  # d3; d2 is a failed attempt
    assert len(out["rows"]) == 4
    assert main(["explain", "nonsense", "--config", str(config)]) == 2
