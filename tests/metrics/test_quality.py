"""Data quality: one record per reason, counted by team, app and reason.

Every expected count is worked out in the comment beside the record that causes it.
"""

from __future__ import annotations

from tests.builders import at, change, deployment, incident, status_change, work_item
from tests.metrics.helpers import NOW, settings

from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import labels
from streamgauge.model import Dataset, Environment, FlowState

NAME = "streamgauge_data_quality_records"


def test_each_reason_is_counted() -> None:
    linked = work_item(created_at=at(days=1), key="PAY-5", flow_state=FlowState.ACTIVE, stage="dev")
    unmapped = work_item(created_at=at(days=2), key="PAY-6", flow_state=FlowState.ACTIVE)
    partial = work_item(
        created_at=at(days=3), key="PAY-7", flow_state=FlowState.DONE, history_complete=False
    )
    staged = status_change(
        item=linked, at=at(days=1, hours=1), to_state=FlowState.ACTIVE, to_stage="dev"
    )
    # k1: first commit (day 17 06:00) after the change was opened (day 17 00:00): its parts
    #     were clamped -> negative_span 1
    k1 = change(
        created_at=at(days=17),
        first_commit_at=at(days=17, hours=6),
        merged_at=at(days=17, hours=12),
        merge_sha="k1",
        work_item_keys=("PAY-5",),
    )
    # n1: merged day 20, never deployed -> change_never_deployed 1; names no work item ->
    #     change_without_work_item 1
    n1 = change(created_at=at(days=19), merged_at=at(days=20), merge_sha="n1")
    # old1: first commit 300 days before its deployment -> lead_time_too_long 1
    old1 = change(
        created_at=at(days=-300),
        first_commit_at=at(days=-300),
        merged_at=at(days=24),
        merge_sha="old1",
        work_item_keys=("PAY-5",),
    )
    shipped_k1 = deployment(finished_at=at(days=18), commit_shas=("k1",))
    shipped_old = deployment(finished_at=at(days=25), commit_shas=("old1",))
    # ships only a sha nobody knows -> deployment_without_commits 1
    mystery = deployment(finished_at=at(days=26), commit_shas=("zzz",))
    incidents = [
        # day 3: no deployment before it -> incident_unattributed 1
        incident(opened_at=at(days=3), resolved_at=at(days=3, hours=2)),
        # names shipped_k1 but was resolved (day 17) before it opened (day 20) -> negative_span;
        # that also makes shipped_k1's recovery (day 17 - day 18) negative -> negative_span
        incident(opened_at=at(days=20), resolved_at=at(days=17), deployment_id=shipped_k1.id),
    ]
    data = Dataset(
        work_items=[linked, unmapped, partial],
        status_changes=[staged],
        changes=[k1, n1, old1],
        deployments=[shipped_k1, shipped_old, mystery],
        incidents=incidents,
    )
    snap = compute_all(data, now=NOW, settings=settings())
    counts = {
        dict(k)["reason"]: v
        for k, v in snap.values(NAME).items()
        if dict(k)["team"] == "payments" and dict(k)["app"] == "checkout"
    }
    assert counts == {
        "deployment_without_commits": 1,
        "change_never_deployed": 1,
        "change_without_work_item": 1,
        "incident_unattributed": 1,
        "incident_non_production": 0,  # every incident here names a production deployment
        "incident_below_min_severity": 0,  # by default every severity counts
        "negative_span": 3,
        "lead_time_too_long": 1,
        "incomplete_history": 1,  # PAY-7
        "unmapped_status": 1,  # PAY-6: in progress, no stage, while its source maps stages
    }
    # the organisation sees the same: every record is payments / checkout
    assert snap.values(NAME)[labels(team="all", app="all", reason="negative_span")] == 3


def test_clean_data_reports_zeros() -> None:
    d = deployment(finished_at=at(days=25), commit_shas=("c1",))
    c = change(created_at=at(days=24), merged_at=at(days=24, hours=1), merge_sha="c1")
    snap = compute_all(Dataset(deployments=[d], changes=[c]), now=NOW, settings=settings())
    values = snap.values(NAME)
    assert values  # zero series exist, so an alert on a rise has a baseline
    assert set(values.values()) == {0.0}


def test_an_incident_blamed_on_a_staging_deployment_is_counted_not_lost() -> None:
    # One production deployment day 25 (succeeded) and one staging deployment day 26; the
    # incident of day 26 names the staging one. No production deployment failed: failure rate
    # 0 / 1 = 0; the incident shows up as incident_non_production 1, not as unattributed.
    prod = deployment(finished_at=at(days=25), commit_shas=("c1",))
    staging = deployment(
        finished_at=at(days=26), commit_shas=("c2",), environment=Environment.STAGING
    )
    blamed = incident(opened_at=at(days=26, hours=1), deployment_id=staging.id)
    data = Dataset(deployments=[prod, staging], incidents=[blamed])
    snap = compute_all(data, now=NOW, settings=settings())
    values = snap.values(NAME)
    everyone = {"team": "all", "app": "all"}
    assert values[labels(**everyone, reason="incident_non_production")] == 1
    assert values[labels(**everyone, reason="incident_unattributed")] == 0
    rate = snap.values("streamgauge_change_failure_rate_window_ratio")
    assert rate[labels(**everyone, window="7d")] == 0.0
