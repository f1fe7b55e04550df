"""Invariants of the full suite on generated histories (derandomized, so every run is the same),
and Little's law on a steady-state demo organisation."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from tests.builders import at, status_change, work_item
from tests.metrics.test_properties import SETTINGS, datasets

from streamgauge.cli import embedded_demo_config
from streamgauge.config import Settings, load_settings
from streamgauge.connectors.base import SyncContext
from streamgauge.connectors.demo import DemoConfig, DemoConnector
from streamgauge.metrics import compute_all, compute_facts
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import Dataset, FlowState, FlowType

NOW = at(days=40)
STAGES = st.sampled_from(["backlog", "dev", "review", None])


@st.composite
def histories(draw: st.DrawFn) -> Dataset:
    """Deployments and changes as in test_properties, plus items moving through states."""
    data = draw(datasets())
    items = []
    moves = []
    for n in range(draw(st.integers(0, 12))):
        created = draw(st.integers(0, 45 * 24 * 60))
        item = work_item(
            created_at=at(minutes=created),
            type=draw(st.sampled_from(list(FlowType))),
            team=draw(st.sampled_from(["payments", None])),
            key=f"PAY-{n + 1}",
        )
        state: FlowState = FlowState.NEW
        stage = None
        t = created
        for _ in range(draw(st.integers(0, 6))):
            t += draw(st.integers(0, 5 * 24 * 60))
            to_state = draw(st.sampled_from(list(FlowState)))
            to_stage = draw(STAGES)
            moves.append(
                status_change(
                    item=item,
                    at=at(minutes=t),
                    from_state=state,
                    to_state=to_state,
                    from_stage=stage,
                    to_stage=to_stage,
                )
            )
            state, stage = to_state, to_stage
        items.append(item)
    data.work_items = items
    data.status_changes = moves
    return data


examples = hypothesis_settings(derandomize=True, max_examples=80, deadline=None)


@examples
@given(histories())
def test_every_ratio_is_between_0_and_1_and_no_duration_is_negative(data: Dataset) -> None:
    snap = compute_all(data, now=NOW, settings=SETTINGS)
    for sample in snap.samples:
        if sample.name.endswith("_ratio"):
            assert 0.0 <= sample.value <= 1.0, sample
        elif sample.name.endswith(("_seconds", "_per_day", "_per_week", "_total")):
            assert sample.value >= 0.0, sample
    for h in snap.histograms:
        assert h.sum >= 0
        assert list(h.counts) == sorted(h.counts)


@examples
@given(histories())
def test_velocity_by_type_sums_to_the_total(data: Dataset) -> None:
    snap = compute_all(data, now=NOW, settings=SETTINGS)
    by_cut: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    for key, value in snap.values("streamgauge_flow_velocity_window_per_week").items():
        d = dict(key)
        by_cut[d["team"], d["app"], d["window"]][d["type"]] = value
    for types in by_cut.values():
        parts = sum(v for t, v in types.items() if t != "all")
        assert parts == pytest.approx(types["all"])


@examples
@given(histories())
def test_item_time_splits_into_active_and_waiting_and_stages_add_up(data: Dataset) -> None:
    facts = compute_facts(data, now=NOW, settings=SETTINGS)
    for flow in facts.flows:
        if flow.done_at is not None and flow.active_seconds is not None:
            assert flow.waiting_seconds is not None
            total = flow.active_seconds + flow.waiting_seconds
            assert total == pytest.approx(flow.flow_seconds or 0.0)
            assert flow.active_seconds >= 0
            assert flow.waiting_seconds >= 0
    for stream in facts.streams:
        assert all(v >= 0 for v in stream.times.values())
        assert stream.process_seconds <= stream.lead_seconds + 1e-6


@examples
@given(histories())
def test_flow_load_counts_the_items_active_or_waiting(data: Dataset) -> None:
    facts = compute_facts(data, now=NOW, settings=SETTINGS)
    snap = compute_all(data, now=NOW, settings=SETTINGS)
    whole = {
        k: v
        for k, v in snap.values("streamgauge_flow_load").items()
        if dict(k)["team"] == "all" and dict(k)["app"] == "all"
    }
    in_progress = sum(1 for f in facts.flows if f.state in (FlowState.ACTIVE, FlowState.WAITING))
    assert sum(whole.values()) == in_progress


# --- Little's law ---------------------------------------------------------------------------

DEMO_NOW = datetime(2026, 4, 1, tzinfo=UTC)


def demo_dataset() -> Dataset:
    """Three teams' 90 days of simulated work, read straight from the demo connector's streams."""
    config = DemoConfig.model_validate(
        {"name": "demo", "type": "demo", "seed": 7, "start": "2026-01-01T00:00:00Z"}
    )
    demo = DemoConnector(config, Settings())
    data = Dataset()
    ctx = SyncContext(source="demo", started_at=DEMO_NOW, cursors={})
    for stream in demo.streams():
        for page in stream.read(None, ctx):
            for raw in page.raws:
                for record in demo.normalize(raw):
                    data.add(record)
    return data


def _done(snap: Snapshot) -> tuple[int, float]:
    histograms = [h for h in snap.histograms if h.name == "streamgauge_flow_time_seconds"]
    return sum(h.count for h in histograms), sum(h.sum for h in histograms)


def _load(snap: Snapshot) -> float:
    return sum(
        v
        for k, v in snap.values("streamgauge_flow_load").items()
        if dict(k)["team"] == "all" and dict(k)["app"] == "all"
    )


def test_littles_law_holds_on_a_steady_demo_organisation() -> None:
    # Over the last 30 days: throughput lambda (items done a day) times mean flow time W
    # (both from the whole-history flow-time histogram, as PromQL increase() would give them)
    # should match the mean number of items in progress L, sampled every 12 hours.
    data = demo_dataset()
    settings = Settings(windows=["30d"])
    start = DEMO_NOW - timedelta(days=30)
    (c1, s1), (c0, s0) = (
        _done(compute_all(data, now=t, settings=settings)) for t in (DEMO_NOW, start)
    )
    throughput = (c1 - c0) / 30.0
    mean_days = (s1 - s0) / (c1 - c0) / 86400.0
    samples = [
        _load(compute_all(data, now=start + timedelta(hours=12 * i + 6), settings=settings))
        for i in range(60)
    ]
    mean_load = sum(samples) / len(samples)
    assert c1 - c0 > 100  # enough items for an average to mean something
    assert throughput * mean_days == pytest.approx(mean_load, rel=0.15)


def test_rolled_complete_and_accurate_of_every_demo_team_is_between_zero_and_one() -> None:
    # The demo's items are created into a stage and mostly move forward to done, some go back:
    # every team's rolled %C&A (a product of per-stage shares) must be neither 0 nor 1.
    settings = load_settings(embedded_demo_config())
    snap = compute_all(demo_dataset(), now=DEMO_NOW, settings=settings)
    rolled = {
        (dict(k)["team"], dict(k)["window"]): v
        for k, v in snap.values("streamgauge_value_stream_complete_accurate_window_ratio").items()
        if dict(k)["app"] == "all"
    }
    teams = {team for team, _ in rolled}
    assert teams >= {*settings.teams, "all"}
    for key, value in rolled.items():
        assert 0 < value < 1, key
