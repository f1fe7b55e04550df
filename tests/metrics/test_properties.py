"""Invariants of compute_all on generated histories (derandomized, so every run is the same)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from tests.builders import at, change, deployment, incident, work_item

from streamgauge.config import Settings
from streamgauge.linking import Links
from streamgauge.metrics import compute_all
from streamgauge.metrics.dimensions import LabelFolder
from streamgauge.metrics.dora import dora_facts
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import (
    Dataset,
    DeploymentKind,
    Environment,
    FlowState,
    FlowType,
    RunResult,
)

NOW = at(days=40)
SHAS = [f"s{i}" for i in range(12)]
APPS = st.sampled_from(["checkout", "ledger", "indexer", None])  # indexer is not configured
TEAMS = st.sampled_from(["payments", "search", None])
SETTINGS = Settings(
    teams={"payments": {"apps": ["checkout", "ledger"]}}, windows=["1d", "7d", "30d"]
)

deployments = st.builds(
    lambda start, minutes, running, app, team, env, result, kind, shas: deployment(
        started_at=at(minutes=start),
        finished_at=None if running else at(minutes=start + minutes),
        result=RunResult.RUNNING if running else result,
        app=app,
        team=team,
        environment=env,
        kind=kind,
        commit_shas=tuple(shas),
    ),
    st.integers(0, 45 * 24 * 60),  # some start after now
    st.integers(0, 180),
    st.booleans(),
    APPS,
    TEAMS,
    st.sampled_from([Environment.PRODUCTION, Environment.PRODUCTION, Environment.STAGING]),
    st.sampled_from([RunResult.SUCCESS, RunResult.FAILURE, RunResult.CANCELED]),
    st.sampled_from(list(DeploymentKind)),
    st.lists(st.sampled_from(SHAS), max_size=3),
)
changes = st.builds(
    lambda created, commit_offset, merged, sha, shas: change(
        created_at=at(minutes=created),
        first_commit_at=None if commit_offset is None else at(minutes=created + commit_offset),
        merged_at=at(minutes=created + 30) if merged else None,
        merge_sha=sha,
        commit_shas=tuple(shas),
    ),
    st.integers(-200 * 24 * 60, 40 * 24 * 60),
    st.none() | st.integers(-3 * 24 * 60, 2 * 24 * 60),  # first commit may even be after
    st.booleans(),
    st.none() | st.sampled_from(SHAS),
    st.lists(st.sampled_from(SHAS), max_size=3),
)
incident_data = st.tuples(
    st.integers(0, 45 * 24 * 60),
    st.none() | st.integers(-600, 3 * 24 * 60),  # resolution may even precede the opening
    APPS,
    st.none() | st.integers(0, 30),  # index of an explicitly named deployment
)
work_items = st.builds(
    lambda created, state, flow_type, team, app: work_item(
        created_at=at(minutes=created), flow_state=state, type=flow_type, team=team, app=app
    ),
    st.integers(0, 45 * 24 * 60),
    st.sampled_from(list(FlowState)),
    st.sampled_from(list(FlowType)),
    TEAMS,
    APPS,
)


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    deps = draw(st.lists(deployments, max_size=30))
    incidents = []
    for opened, resolved, app, named in draw(st.lists(incident_data, max_size=8)):
        target = deps[named].id if named is not None and named < len(deps) else None
        incidents.append(
            incident(
                opened_at=at(minutes=opened),
                resolved_at=None if resolved is None else at(minutes=opened + resolved),
                app=app,
                deployment_id=target,
            )
        )
    return Dataset(
        deployments=deps,
        changes=draw(st.lists(changes, max_size=15)),
        incidents=incidents,
        work_items=draw(st.lists(work_items, max_size=15)),
    )


def pair_level(snap: Snapshot, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        k: v
        for k, v in snap.values(name).items()
        if dict(k)["team"] != "all" and dict(k)["app"] != "all"
    }


examples = hypothesis_settings(derandomize=True, max_examples=100, deadline=None)


@examples
@given(datasets())
def test_ratios_are_between_0_and_1(data: Dataset) -> None:
    snap = compute_all(data, now=NOW, settings=SETTINGS)
    for value in snap.values("streamgauge_change_failure_rate_window_ratio").values():
        assert 0.0 <= value <= 1.0


@examples
@given(datasets())
def test_no_duration_is_negative(data: Dataset) -> None:
    snap = compute_all(data, now=NOW, settings=SETTINGS)
    for name in (
        "streamgauge_change_lead_time_window_seconds",
        "streamgauge_failed_deployment_recovery_time_window_seconds",
        "streamgauge_deployment_frequency_window_per_day",
    ):
        assert all(v >= 0 for v in snap.values(name).values())
    for h in snap.histograms:
        assert h.sum >= 0
        assert list(h.counts) == sorted(h.counts)  # cumulative
        assert h.counts[-1] <= h.count
    facts = dora_facts(
        data,
        Links.build(data, incident_window=timedelta(hours=24)),
        now=NOW,
        max_lead_time=timedelta(days=180),
        recovery="incident_resolved",
        fold=LabelFolder.from_settings(SETTINGS),
    )
    assert all(lt.seconds >= 0 for lt in facts.lead_times)
    assert all((o.recovery_seconds or 0) >= 0 for o in facts.outcomes)


@examples
@given(datasets())
def test_per_app_deployment_counters_sum_to_the_total(data: Dataset) -> None:
    snap = compute_all(data, now=NOW, settings=SETTINGS)
    expected: dict[str, int] = defaultdict(int)
    for d in data.deployments:
        end = d.finished_at or d.started_at
        production = d.environment is Environment.PRODUCTION
        if production and d.result is not RunResult.RUNNING and d.started_at <= NOW >= end:
            expected[d.result.value] += 1
    got: dict[str, float] = defaultdict(float)
    for key, value in snap.values("streamgauge_deployments_total").items():
        got[dict(key)["result"]] += value
    assert {r: got[r] for r in ("success", "failure", "canceled")} == {
        r: float(expected[r]) for r in ("success", "failure", "canceled")
    }


@examples
@given(datasets())
def test_group_frequencies_add_up_to_the_organisation(data: Dataset) -> None:
    snap = compute_all(data, now=NOW, settings=SETTINGS)
    frequency = "streamgauge_deployment_frequency_window_per_day"
    for window in ("1d", "7d", "30d"):
        whole = snap.values(frequency)[(("app", "all"), ("team", "all"), ("window", window))]
        parts = [v for k, v in pair_level(snap, frequency).items() if dict(k)["window"] == window]
        assert sum(parts) == pytest.approx(whole)


@examples
@given(datasets())
def test_flow_load_equals_the_items_in_progress(data: Dataset) -> None:
    snap = compute_all(data, now=NOW, settings=SETTINGS)
    in_progress = sum(
        1
        for item in data.work_items
        if item.created_at <= NOW and item.flow_state in (FlowState.ACTIVE, FlowState.WAITING)
    )
    assert sum(pair_level(snap, "streamgauge_flow_load").values()) == in_progress
