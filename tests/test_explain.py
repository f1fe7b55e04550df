"""`explain`: the records behind a number, as rows, a table and JSON through the CLI."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.builders import at, change, deployment, incident, status_change, work_item
from tests.metrics.helpers import NOW, checkout, settings
from tests.metrics.test_bottleneck import growing_queue as bottleneck_story
from tests.metrics.test_stages import story as stage_story

from streamgauge.cli import main
from streamgauge.explain import EXPLAINERS, FAMILIES, explain, metric_key, write_table
from streamgauge.metrics import Facts, compute_facts, snapshot_of
from streamgauge.metrics.catalog import COMPUTED
from streamgauge.metrics.snapshot import Snapshot, labels
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


# --- every computed family has an explanation that makes its number again ---------------------

FREQUENCY = "streamgauge_deployment_frequency_window_per_day"


def everything() -> tuple[Dataset, Facts, Snapshot]:
    """The story above, and an incident on day 29 that no deployment can be blamed for (the
    latest success, d4, ended on day 27: more than the 24 h incident window before)."""
    data = story()
    data.incidents.append(incident(opened_at=at(days=29), native_id="11"))
    facts = compute_facts(data, now=NOW, settings=settings())
    return data, facts, snapshot_of(facts, settings())


def value(snap: Snapshot, name: str, **label_values: str) -> float | None:
    base = {"team": "all", "app": "all", **label_values}
    return snap.values(name).get(labels(**base))


def test_every_computed_family_has_an_explanation() -> None:
    # From the catalog: a family added to streamgauge fails here until explain covers it.
    assert sorted(FAMILIES) == sorted(m.name for m in COMPUTED)
    _, facts, _ = everything()
    for family, name in FAMILIES.items():
        assert name in EXPLAINERS, family
        assert metric_key(family) == name
        found = explain(facts, family, settings(), window="7d")
        assert found.metric == name
        assert found.definition
        assert found.columns
    assert metric_key("streamgauge_flow_time_seconds_bucket") == "flow_history"
    assert EXPLAINERS[metric_key("flow_time") or ""] is EXPLAINERS["work_items_done"]


def test_deployments_and_their_days_make_the_window_gauges_again() -> None:
    _, facts, snap = everything()
    found = explain(facts, "deployment_frequency", settings(), window="7d").summary
    # successes d1 (day 24), d3 (day 26), d4 (day 27) over 7 days: 3/7 per day
    assert found["deployments_per_day"] == pytest.approx(3 / 7)
    assert value(snap, FREQUENCY, window="7d") == pytest.approx(found["deployments_per_day"])
    # d2's own job failed: a failed attempt, out of the failure rate by default; d3 failed of
    # the 3 that reached production (d1, d3, d4): 1/3; rework: the hotfix d4 alone, 1 of 4
    assert found["change_failure_rate_ratio"] == pytest.approx(1 / 3)
    rate = value(snap, "streamgauge_change_failure_rate_window_ratio", window="7d")
    assert rate == pytest.approx(1 / 3)
    assert found["failed_deployment_attempts"] == 1
    assert found["deployment_attempt_failure_rate_ratio"] == 0.25  # d2 of 4
    assert found["deployment_rework_rate_ratio"] == 0.25
    assert value(snap, "streamgauge_deployment_rework_rate_window_ratio", window="7d") == 0.25
    days = explain(facts, "streamgauge_deployment_day_window_ratio", settings(), window="7d")
    # days 24, 26 and 27 have a success (day 25 only d2, a failure): 3 days of 7
    assert [r["day"] for r in days.rows] == ["2026-01-25", "2026-01-27", "2026-01-28"]
    assert days.summary["deployment_days_ratio"] == pytest.approx(3 / 7)
    ratio = value(snap, "streamgauge_deployment_day_window_ratio", window="7d")
    assert ratio == pytest.approx(days.summary["deployment_days_ratio"])


def test_recovery_quantiles_and_levels_with_their_bounds() -> None:
    _, facts, snap = everything()
    found = explain(facts, "failed_deployment_recovery_time", settings(), window="7d")
    # d2 is a failed attempt, no change failure: no recovery of its own;
    # d3 (day 26) recovers at its incident's resolution, day 26 05:00, before d4: 5 h = 18000 s
    assert sorted(r["recovery_seconds"] for r in found.rows) == [18000]
    assert found.summary["failed_deployment_recovery_time_p50_seconds"] == 18000
    name = "streamgauge_failed_deployment_recovery_time_window_seconds"
    assert value(snap, name, window="7d", percentile="50") == 18000
    levels = explain(facts, "streamgauge_change_lead_time_window_level", settings(), window="7d")
    rated = {r["metric"]: (r["level"], r["rule"], r["bound"]) for r in levels.rows}
    # dora-2024: 3/7 per day >= 1/7 (once a week) -> high; lead 2 d <= 7 d -> high;
    # failure rate 1/3 above 0.20 -> low (no bound); recovery 18000 s, over 1 h but within
    # 1 d -> high
    assert rated == {
        "deployment_frequency": ("high", "at least", pytest.approx(1 / 7)),
        "change_lead_time": ("high", "at most", 604800),
        "change_failure_rate": ("low", "none of the bounds above", None),
        "failed_deployment_recovery_time": ("high", "at most", 86400),
    }
    for metric, (level, _, _) in rated.items():
        family = f"streamgauge_{metric}_window_level"
        assert value(snap, family, window="7d", level=level) == 1.0


def test_lead_time_quantiles_and_whole_history_counters() -> None:
    _, facts, snap = everything()
    lead = explain(facts, "change_lead_time_part", settings(), window="7d").summary
    # one change: 2 d, coding 6 h, pickup 2 h, review 16 h, deploy 1 d (see above)
    assert lead["lead_time_p50_seconds"] == 172800
    assert (
        value(snap, "streamgauge_change_lead_time_window_seconds", window="7d", percentile="50")
        == 172800
    )
    assert lead["review_p85_seconds"] == 57600
    part = "streamgauge_change_lead_time_part_window_seconds"
    assert value(snap, part, window="7d", part="review", percentile="85") == 57600
    history = explain(facts, "streamgauge_deployments_total", settings()).summary
    # d1, d3, d4 succeeded, d2's job failed (a failed attempt, no change failure by default);
    # d3 failed by hotfix and by incident
    assert history["success_deployments"] == 3
    assert history["failure_deployments"] == 1
    assert history["failed_result_failure_deployments"] == 0
    assert history["failed_followed_by_hotfix_deployments"] == 1
    assert history["failed_caused_incident_deployments"] == 1
    assert history["failed_rolled_back_deployments"] == 0
    counter = snap.values("streamgauge_deployments_total")
    pair = {"team": "payments", "app": "checkout"}
    assert counter[labels(**pair, result="success")] == 3
    failed = snap.values("streamgauge_failed_deployments_total")
    assert failed[labels(**pair, reason="caused_incident")] == 1
    histogram = explain(facts, "streamgauge_change_lead_time_seconds_bucket", settings()).summary
    # 172800 s is at most 2 d, more than 1 d: le_1d 0, le_2d 1, count 1, sum 172800
    assert (histogram["le_1d"], histogram["le_2d"], histogram["count"]) == (0, 1, 1)
    assert histogram["sum_seconds"] == 172800
    (h,) = [h for h in snap.histograms if h.name == "streamgauge_change_lead_time_seconds"]
    assert list(h.counts) == [
        histogram[f"le_{b}"]
        for b in ("1h", "4h", "12h", "1d", "2d", "4d", "7d", "14d", "30d", "60d", "90d", "182d")
    ]


def test_incidents_say_whom_they_are_blamed_on_or_why_none() -> None:
    _, facts, snap = everything()
    found = explain(facts, "incidents", settings(), window="7d")
    rows = {r["incident"]: r for r in found.rows}
    # INC-9 opened day 26 03:00, 3 h after d3, the app's latest success: blamed on d3
    assert rows["INC-9"]["blamed_on"].endswith(":d3")
    assert rows["INC-9"]["counted"] is True
    # INC-11 opened day 29: d4 (day 27) is 48 h before it, more than the 24 h window
    assert rows["INC-11"]["blamed_on"] is None
    assert (
        rows["INC-11"]["why"]
        == "no successful production deployment of checkout in the 1d before it"
    )
    assert found.summary == {"incidents": 2, "blamed": 1, "unattributed": 1}
    quality = explain(facts, "data_quality", settings()).summary
    assert quality["incident_unattributed"] == 1
    name = "streamgauge_data_quality_records"
    assert (
        snap.values(name)[labels(team="payments", app="checkout", reason="incident_unattributed")]
        == 1
    )


def test_work_items_done_make_the_flow_gauges_again() -> None:
    _, facts, snap = everything()
    found = explain(facts, "flow_velocity", settings(), window="7d").summary
    # PAY-3 alone: active day 21 -> done day 24 = 3 d, within the 10 d SLE, all active time
    assert found["flow_time_p50_seconds"] == 259200
    assert found["items_done_per_week"] == 1.0  # 1 item over 7 days = 1 a week
    assert found["within_sle_ratio"] == 1.0
    assert found["flow_efficiency_ratio"] == 1.0
    assert found["feature_ratio"] == 1.0
    common = {"window": "7d", "type": "all"}
    assert value(snap, "streamgauge_flow_time_window_seconds", **common, percentile="50") == 259200
    assert value(snap, "streamgauge_flow_velocity_window_per_week", **common) == 1.0
    assert value(snap, "streamgauge_flow_time_within_sle_window_ratio", **common) == 1.0
    assert value(snap, "streamgauge_flow_efficiency_window_ratio", **common) == 1.0
    share = value(snap, "streamgauge_flow_distribution_window_ratio", window="7d", type="feature")
    assert share == 1.0
    history = explain(facts, "flow_items_done", settings()).summary
    assert history["feature_done"] == 1
    assert (history["le_2d"], history["le_4d"]) == (0, 1)  # 3 d: over 2 d, within 4 d


def test_work_items_in_progress_and_over_the_sle() -> None:
    # A active since day 15 (age 15 d at day 30, 5 d over the 10 d SLE), B waiting since 28
    a = work_item(created_at=at(days=14), key="PAY-10", flow_state=FlowState.ACTIVE)
    b = work_item(created_at=at(days=27), key="PAY-11", flow_state=FlowState.WAITING)
    data = Dataset(
        work_items=[a, b],
        status_changes=[
            status_change(
                item=a, at=at(days=15), from_state=FlowState.NEW, to_state=FlowState.ACTIVE
            ),
            status_change(
                item=b, at=at(days=28), from_state=FlowState.NEW, to_state=FlowState.WAITING
            ),
        ],
    )
    facts = compute_facts(data, now=NOW, settings=settings())
    snap = snapshot_of(facts, settings())
    now = explain(facts, "work_item_age", settings()).summary
    # ages 15 d and 2 d: p50 = 8.5 d = 734400 s, oldest 15 d = 1296000 s; one active, one waiting
    assert now["age_p50_seconds"] == 734400
    assert now["oldest_age_seconds"] == 1296000
    assert (now["active_work_items"], now["waiting_work_items"]) == (1, 1)
    assert value(snap, "streamgauge_work_item_age_seconds", type="all", percentile="50") == 734400
    assert value(snap, "streamgauge_work_item_age_oldest_seconds", type="all") == 1296000
    load = value(snap, "streamgauge_flow_load", type="feature", flow_state="active")
    assert load == now["active_work_items"]
    over = explain(facts, "work_items_over_sle", settings())
    assert [(r["item"], r["over_sle_seconds"]) for r in over.rows] == [("PAY-10", 432000)]
    assert value(snap, "streamgauge_work_items_over_sle", type="all") == len(over.rows)


def test_value_stream_shows_where_each_stage_s_complete_and_accurate_comes_from() -> None:
    # The value-stream story of tests/metrics/test_stages.py: X goes back from test to dev,
    # Y goes forward through every stage and its change's delivery stages.
    facts = compute_facts(stage_story(), now=NOW, settings=settings())
    snap = snapshot_of(facts, settings())
    found = explain(facts, "value_stream", settings(), window="7d")
    rows = {r["item"]: r for r in found.rows}
    assert rows["PAY-1"]["path"] == "backlog > dev > test > dev > test > done"
    assert rows["PAY-1"]["came_back_to"] == "dev, test"
    # X: lead 5 d, process 3 d (dev 1 + 1, test 1), wait 2 d
    assert (rows["PAY-1"]["process_seconds"], rows["PAY-1"]["wait_seconds"]) == (259200, 172800)
    assert rows["PAY-2"]["path"] == (
        "backlog > dev > test > done > coding > pickup > code_review > deploy"
    )
    assert rows["PAY-2"]["came_back_to"] == ""
    stages = {s["stage"]: s for s in found.tables["stages"]}
    # in stream order: backlog, dev, test, then the delivery stages
    assert list(stages) == ["backlog", "dev", "test", "coding", "pickup", "code_review", "deploy"]
    # dev: both entered, only Y left it forward for good: 1 of 2
    assert (stages["dev"]["entered"], stages["dev"]["complete_accurate"]) == (2, 1)
    assert stages["dev"]["complete_accurate_ratio"] == 0.5
    # backlog wait: 1 d each, mean 1 d
    assert stages["backlog"]["wait_seconds"] == 86400
    name = "streamgauge_value_stream_stage_complete_accurate_window_ratio"
    times = "streamgauge_value_stream_stage_time_window_seconds"
    for stage, row in stages.items():
        assert checkout(name, snap, "7d", stage=stage) == row["complete_accurate_ratio"], stage
        for part in ("process", "wait"):
            shown = checkout(times, snap, "7d", stage=stage, part=part)
            assert shown == pytest.approx(row[f"{part}_seconds"]), (stage, part)
    # rolled: 1 * 0.5 * 0.5 * 1 * 1 * 1 * 1 = 0.25; lead p50 of 3 d and 5 d = 4 d
    assert found.summary["complete_accurate_ratio"] == 0.25
    rolled = "streamgauge_value_stream_complete_accurate_window_ratio"
    assert checkout(rolled, snap, "7d") == pytest.approx(0.25)
    assert found.summary["lead_time_p50_seconds"] == 4 * 86400
    # process 3 d + 1.25 d over lead 5 d + 3 d = 0.53125
    assert found.summary["efficiency_ratio"] == pytest.approx(0.53125)
    text = io.StringIO()
    write_table(found, text, width=200)
    assert "stages:" in text.getvalue()


def test_a_window_without_deployments_rates_its_frequency_low() -> None:
    # 20 days after the story, the 7d window (day 43, day 50] has no deployment: 0 a day,
    # below medium's once a month, so low; no lead time, failure or recovery to rate
    later = NOW + timedelta(days=20)
    facts = compute_facts(story(), now=later, settings=settings())
    snap = snapshot_of(facts, settings())
    found = explain(facts, "levels", settings(), window="7d")
    assert [(r["metric"], r["value"], r["level"]) for r in found.rows] == [
        ("deployment_frequency", 0.0, "low")
    ]
    family = "streamgauge_deployment_frequency_window_level"
    assert value(snap, family, window="7d", level="low") == 1.0


def test_bottleneck_lists_each_stage_s_evidence_the_rule_and_what_waits_in_front() -> None:
    # The growing-queue story of tests/metrics/test_bottleneck.py: test's queue grows (C and D
    # wait there from day 26 and day 28), backlog has the larger wait share (6/7).
    facts = compute_facts(bottleneck_story(), now=NOW, settings=settings())
    found = explain(facts, "bottleneck", settings(), window="7d")
    assert found.summary == {"bottleneck": "test", "rule": "growing_queue"}
    rows = {r["stage"]: r for r in found.rows}
    assert list(rows) == ["backlog", "dev", "test"]  # stream order
    # test: queue 2 now, 0 at day 23; 3 in (E, C, D), 1 out (E); E waited 0.5 d of 3.5 d
    assert (rows["test"]["queue"], rows["test"]["queue_at_start"]) == (2, 0)
    assert (rows["test"]["arrivals"], rows["test"]["departures"]) == (3, 1)
    assert rows["test"]["growing"]
    assert rows["test"]["bottleneck"]
    assert rows["test"]["wait_seconds"] == 43200
    assert rows["backlog"]["wait_share"] == 3 / 3.5
    assert not rows["backlog"]["bottleneck"]
    # waiting in front of test now, oldest first: C since day 26, D since day 28
    assert [q["what"] for q in found.tables["queued"]] == ["PAY-4", "PAY-5"]
    assert found.tables["queued"][0]["waiting_since"] == "2026-01-27T00:00:00Z"
    assert metric_key("streamgauge_value_stream_stage_queue_items") == "bottleneck"
