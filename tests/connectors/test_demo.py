"""The demo connector: deterministic, incremental, and holding every feature the metrics need."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamgauge.cli import embedded_demo_config
from streamgauge.config import Settings
from streamgauge.connectors.base import RawRecord, SkippableRecord, SyncContext
from streamgauge.connectors.demo import DemoConfig, DemoConnector
from streamgauge.connectors.demo.config import build_org
from streamgauge.connectors.demo.plans import DAY
from streamgauge.connectors.demo.world import World
from streamgauge.model import (
    Change,
    ChangeState,
    Commit,
    Deployment,
    DeploymentKind,
    Environment,
    FlowState,
    FlowType,
    Incident,
    PipelineRun,
    Record,
    RunResult,
    StatusChange,
    WorkItem,
    to_json,
)
from streamgauge.store import Store
from streamgauge.sync import sync_source

START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 4, 1, 12, 30, tzinfo=UTC)  # 90 days and a half after START


def connector(**overrides: Any) -> DemoConnector:
    config = DemoConfig.model_validate({"name": "demo", "type": "demo", **overrides})
    return DemoConnector(config, Settings())


def sync(
    demo: DemoConnector, at: datetime, cursors: dict[str, str]
) -> tuple[dict[str, dict[str, Any]], list[RawRecord]]:
    """One sync driven like streamgauge.sync does: every stream from its cursor, cursors kept.

    Returns the records emitted (id -> JSON form) and the raws in the order they came.
    """
    emitted: dict[str, dict[str, Any]] = {}
    raws: list[RawRecord] = []
    ctx = SyncContext(source=demo.name, started_at=at, cursors=dict(cursors))
    for stream in demo.streams():
        for page in stream.read(cursors.get(stream.name), ctx):
            assert len(page.raws) <= 1000
            for raw in page.raws:
                (record,) = demo.normalize(raw)
                emitted[record.id] = to_json(record)
                raws.append(raw)
            if page.cursor is not None:
                until = datetime.fromisoformat(json.loads(page.cursor)["until"])
                assert until <= at, "a cursor never passes the sync's start"
                cursors[stream.name] = page.cursor
        ctx.cursors = dict(cursors)
    return emitted, raws


def _latest_timestamp(payload: dict[str, Any]) -> datetime:
    stamps = [
        datetime.fromisoformat(v)
        for k, v in payload.items()
        if isinstance(v, str) and (k.endswith("_at") or k == "at")
    ]
    return max(stamps)


def records_of(emitted: dict[str, dict[str, Any]]) -> list[Record]:
    demo = connector()
    return [r for payload in emitted.values() for r in demo.normalize(_raw(payload))]


def _raw(payload: dict[str, Any]) -> RawRecord:
    return RawRecord(stream="any", native_id=payload["id"], payload=payload, fetched_at=NOW)


@pytest.fixture(scope="module")
def world() -> list[Record]:
    """The default demo (3 teams, 2 apps each, 90 days) synced once at NOW."""
    emitted, _ = sync(connector(), NOW, {})
    return records_of(emitted)


def of(records: list[Record], kind: type[Record]) -> list[Any]:
    return [r for r in records if isinstance(r, kind)]


# --- determinism and incremental syncs ----------------------------------------------------------


def test_same_seed_gives_the_same_records_and_another_seed_others() -> None:
    first, _ = sync(connector(start=START, days=20), START + timedelta(days=20), {})
    again, _ = sync(connector(start=START, days=20), START + timedelta(days=20), {})
    other, _ = sync(connector(start=START, days=20, seed=7), START + timedelta(days=20), {})
    assert len(first) > 1000
    assert first == again
    assert other != first
    # Not merely a few values apart: most deployment times differ under another seed.
    starts = {v["started_at"] for v in first.values() if v["kind"] == "deployment"}
    other_starts = {v["started_at"] for v in other.values() if v["kind"] == "deployment"}
    assert len(starts & other_starts) < len(starts) / 10


@pytest.mark.parametrize("steps", [[13.3, 30.5], [2.1, 2.2, 9.75, 30.5], [29.99, 30.5]])
def test_syncs_in_steps_end_with_the_records_of_one_sync(steps: list[float]) -> None:
    """Syncs at t1 < t2 < ... leave the same records (by id and JSON) as one sync at the end."""
    stepped = connector(start=START, teams=2)
    cursors: dict[str, str] = {}
    stored: dict[str, dict[str, Any]] = {}
    for days in steps:
        at = START + timedelta(days=days)
        emitted, _ = sync(stepped, at, cursors)
        for payload in emitted.values():
            assert _latest_timestamp(payload) <= at, "nothing after the sync's start is emitted"
        stored.update(emitted)
    at_once, _ = sync(connector(start=START, teams=2), START + timedelta(days=steps[-1]), {})
    assert stored.keys() == at_once.keys()
    assert stored == at_once


def test_a_later_sync_emits_only_what_happened_since_and_numbers_move() -> None:
    demo = connector(start=START)
    cursors: dict[str, str] = {}
    first, _ = sync(demo, START + timedelta(days=30), cursors)
    second, _ = sync(demo, START + timedelta(days=30, hours=6), cursors)
    assert 0 < len(second) < len(first) / 20
    new = [v for v in second.values() if v["id"] not in first]
    changed = [v for v in second.values() if v["id"] in first and first[v["id"]] != v]
    assert new, "six hours of a working day add records"
    assert changed, "records open at the first sync move on (an item changes status)"


def test_the_first_sync_chooses_the_start_and_later_syncs_keep_it() -> None:
    at = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    cursors: dict[str, str] = {}
    first, _ = sync(connector(days=10), at, cursors)
    anchors = {json.loads(c)["anchor"] for c in cursors.values()}
    assert anchors == {"2026-02-28T00:00:00+00:00"}  # midnight of 10 days before
    earliest = min(v["created_at"] for v in first.values() if v["kind"] == "work_item")
    assert earliest.startswith("2026-02-28")
    # A new process (fresh connector) syncing a day later, with only one stream's cursor kept
    # (as after a sync cut short), still sees the same world.
    partial = {"deployments": cursors["deployments"]}
    later, _ = sync(connector(days=10), at + timedelta(days=1), partial)
    once, _ = sync(connector(days=10, start="2026-02-28T00:00:00Z"), at + timedelta(days=1), {})
    assert {k: v for k, v in later.items() if v["kind"] == "work_item"} == {
        k: v for k, v in once.items() if v["kind"] == "work_item"
    }


def test_pages_come_in_time_order_with_cursors_that_only_advance() -> None:
    demo = connector(start=START)
    ctx = SyncContext(source="demo", started_at=START + timedelta(days=60))
    (status_changes,) = [s for s in demo.streams() if s.name == "status_changes"]
    pages = list(status_changes.read(None, ctx))
    assert len(pages) > 3
    assert all(len(p.raws) == 1000 for p in pages[:-1])
    untils = [json.loads(p.cursor)["until"] for p in pages if p.cursor]
    assert untils == sorted(untils)
    assert untils[-1] == ctx.started_at.isoformat()
    ats = [raw.payload["at"] for p in pages for raw in p.raws]
    assert ats == sorted(ats)


def test_a_world_that_starts_later_holds_nothing_yet() -> None:
    demo = connector(start=START)
    ctx = SyncContext(source="demo", started_at=START - timedelta(days=1))
    for stream in demo.streams():
        pages = list(stream.read(None, ctx))
        assert [len(p.raws) for p in pages] == [0]


def test_normalize_returns_the_record_and_refuses_garbage() -> None:
    _, raws = sync(connector(start=START, teams=1), START + timedelta(days=3), {})
    demo = connector()
    (record,) = demo.normalize(raws[0])
    assert to_json(record) == raws[0].payload
    with pytest.raises(SkippableRecord, match="environment: is required"):
        demo.normalize(_raw({"kind": "deployment", "id": "x", "source": "demo"}))
    with pytest.raises(SkippableRecord, match="kind"):
        demo.normalize(_raw({"kind": "spaceship", "id": "x"}))


# --- what the simulated toolchain holds ---------------------------------------------------------


def test_every_flow_type_and_state_occurs_and_items_are_open_now(world: list[Record]) -> None:
    items: list[WorkItem] = of(world, WorkItem)
    assert {i.type for i in items} == set(FlowType)
    states = Counter(i.flow_state for i in items)
    assert set(states) == set(FlowState)
    assert states[FlowState.ACTIVE] >= 3
    assert states[FlowState.WAITING] >= 3
    assert {i.team for i in items} == {"payments", "checkout", "search"}
    assert {i.app for i in items} == {
        f"{team}-{suffix}"
        for team in ("payments", "checkout", "search")
        for suffix in ("api", "web")
    }


def test_status_changes_chain_and_some_go_backwards(world: list[Record]) -> None:
    by_item: dict[str, list[StatusChange]] = defaultdict(list)
    for change in of(world, StatusChange):
        by_item[change.item_id].append(change)
    items = {i.id: i for i in of(world, WorkItem)}
    assert by_item.keys() == items.keys()
    moves: Counter[tuple[str | None, str]] = Counter()
    for item_id, changes in by_item.items():
        changes.sort(key=lambda c: c.at)
        assert changes[0].from_status is None
        assert changes[0].to_status == "Backlog"
        for before, after in itertools.pairwise(changes):
            assert after.from_status == before.to_status
            assert after.at > before.at
        assert changes[-1].to_status == items[item_id].status
        assert changes[-1].to_stage == items[item_id].stage
        moves.update((c.from_status, c.to_status) for c in changes)
    assert moves[("Testing", "In Progress")] > 10  # rework after testing
    assert moves[("In Review", "In Progress")] > 10  # review rounds
    assert moves[("Backlog", "Canceled")] + moves[("Ready", "Canceled")] > 10


def test_work_item_timestamps_are_in_order(world: list[Record]) -> None:
    for item in of(world, WorkItem):
        assert item.updated_at is not None
        assert item.updated_at <= NOW
        if item.started_at is not None:
            assert item.created_at < item.started_at <= item.updated_at
        if item.done_at is not None:
            assert item.flow_state in (FlowState.DONE, FlowState.CANCELED)
            assert item.done_at == item.updated_at
        else:
            assert item.flow_state not in (FlowState.DONE, FlowState.CANCELED)


def test_changes_link_work_items_commits_and_reviews(world: list[Record]) -> None:
    keys = {i.key for i in of(world, WorkItem)}
    changes: list[Change] = of(world, Change)
    commits = {c.sha: c for c in of(world, Commit)}
    assert any(c.state is ChangeState.OPEN for c in changes)
    assert max(c.review_rounds for c in changes) >= 2
    for change in changes:
        assert 1 <= len(change.commit_shas) <= 5
        assert change.first_commit_at is not None
        assert change.first_commit_at <= change.created_at
        if change.state is ChangeState.MERGED:
            assert change.merged_at is not None
            assert change.first_review_at is not None
            assert change.approved_at is not None
            assert change.merge_sha in commits
            assert change.created_at <= change.first_review_at <= change.approved_at
            assert change.approved_at < change.merged_at
            assert all(sha in commits for sha in change.commit_shas)
            assert commits[change.merge_sha].committed_at == change.merged_at
        if change.title.startswith("Hotfix"):
            assert change.work_item_keys == ()
        else:
            (key,) = change.work_item_keys
            assert key in keys
            assert key in change.head_branch
            assert change.title.startswith(key)
    work_commits = [c for c in commits.values() if c.work_item_keys]
    assert work_commits
    assert all(
        c.message.split()[0] in c.work_item_keys for c in work_commits if "Merge" not in c.message
    )


def test_ci_runs_for_pull_requests_and_merges(world: list[Record]) -> None:
    runs: list[PipelineRun] = of(world, PipelineRun)
    assert {r.event for r in runs} == {"pull_request", "push"}
    assert any(r.result is RunResult.FAILURE for r in runs)
    assert any(r.attempt == 2 for r in runs)
    merge_shas = {c.merge_sha for c in of(world, Change) if c.merge_sha}
    assert {r.sha for r in runs if r.branch == "main"} <= merge_shas
    for run in runs:
        if run.finished_at is None:
            assert run.result is RunResult.RUNNING
        else:
            assert run.started_at < run.finished_at <= NOW


def test_deployments_ship_merge_commits_once_and_after_they_merged(world: list[Record]) -> None:
    merged = {c.merge_sha: c for c in of(world, Change) if c.merge_sha}
    deployments: list[Deployment] = of(world, Deployment)
    assert {d.environment for d in deployments} == {Environment.PRODUCTION, Environment.STAGING}
    for env in (Environment.PRODUCTION, Environment.STAGING):
        shipped = [sha for d in deployments if d.environment is env for sha in d.commit_shas]
        assert len(shipped) == len(set(shipped)), "a commit is shipped first only once"
    for deployment in deployments:
        for sha in deployment.commit_shas:
            change = merged[sha]
            assert change.app == deployment.app
            assert change.repo == deployment.repo
            assert change.merged_at is not None
            assert change.merged_at < deployment.started_at
        if (
            deployment.result is RunResult.FAILURE
            or deployment.deployment_kind is DeploymentKind.ROLLBACK
        ):
            assert deployment.commit_shas == ()


def test_every_merge_before_a_successful_deployment_is_shipped(world: list[Record]) -> None:
    shipped = {sha for d in of(world, Deployment) for sha in d.commit_shas}
    last_success: dict[str, datetime] = {}
    for d in of(world, Deployment):
        if (
            d.environment is Environment.PRODUCTION
            and d.result is RunResult.SUCCESS
            and d.deployment_kind is not DeploymentKind.ROLLBACK
        ):
            last_success[d.app] = max(d.started_at, last_success.get(d.app, d.started_at))
    merged = [c for c in of(world, Change) if c.merged_at is not None]
    before = [c for c in merged if c.merged_at < last_success[c.app]]
    assert len(before) > 100
    assert all(c.merge_sha in shipped for c in before)


def test_failures_rollbacks_hotfixes_and_incidents(world: list[Record]) -> None:
    deployments: list[Deployment] = of(world, Deployment)
    production = [d for d in deployments if d.environment is Environment.PRODUCTION]
    outcomes = Counter((d.deployment_kind, d.result) for d in production)
    assert outcomes[(DeploymentKind.REGULAR, RunResult.FAILURE)] >= 5
    assert outcomes[(DeploymentKind.ROLLBACK, RunResult.SUCCESS)] >= 3
    assert outcomes[(DeploymentKind.HOTFIX, RunResult.SUCCESS)] >= 3
    by_id = {d.id: d for d in deployments}
    incidents: list[Incident] = of(world, Incident)
    assert any(i.deployment_id is None for i in incidents), "some are left for inference"
    assert any(i.deployment_id is not None for i in incidents)
    for incident in incidents:
        if incident.deployment_id is not None:
            cause = by_id[incident.deployment_id]
            assert cause.app == incident.app
            assert cause.environment is Environment.PRODUCTION
            assert cause.finished_at is not None
            assert cause.finished_at < incident.opened_at
        if incident.opened_at < NOW - timedelta(days=2):
            assert incident.resolved_at is not None, "incidents get resolved"
        if incident.resolved_at is not None:
            assert incident.opened_at < incident.resolved_at <= NOW
    keys = {i.key: i for i in incidents}
    for remedy in production:
        if remedy.deployment_kind is DeploymentKind.REGULAR:
            assert remedy.incident_keys == ()
            continue
        (key,) = remedy.incident_keys
        incident = keys[key]
        assert incident.app == remedy.app
        assert incident.opened_at < remedy.started_at
        assert remedy.finished_at is not None
        assert incident.resolved_at is not None
        assert remedy.finished_at < incident.resolved_at
    for rollback in (d for d in production if d.deployment_kind is DeploymentKind.ROLLBACK):
        assert rollback.commit_shas == ()
        earlier = [
            d.sha
            for d in production
            if d.app == rollback.app and d.started_at < rollback.started_at
        ]
        assert rollback.sha in earlier, "a rollback goes back to a version deployed before"


def test_organisation_names_are_readable_and_unique_when_large() -> None:
    config = DemoConfig(name="big", type="demo", teams=50, apps_per_team=4)
    teams = build_org(config)
    assert [t.name for t in teams[:3]] == ["payments", "checkout", "search"]
    assert teams[20].name == "payments2"
    assert teams[20].project == "PAY2"
    assert len({t.project for t in teams}) == 50
    apps = [a.name for t in teams for a in t.apps]
    assert len(set(apps)) == 200
    assert teams[0].apps[3].name == "payments-gateway"
    assert teams[0].apps[3].repo == "acme/payments-gateway"


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        DemoConfig(name="demo", type="demo", start=datetime(2026, 1, 1))


# --- end to end through the real store ----------------------------------------------------------


def test_syncs_into_the_store_are_incremental_and_idempotent(tmp_path: Path) -> None:
    clock_at = [START + timedelta(days=20)]
    demo = connector(start=START, teams=2)
    with Store.open(f"sqlite:///{tmp_path / 'a.db'}") as store:
        first = sync_source(demo, store, clock=lambda: clock_at[0])
        assert first.ok
        assert first.skipped == 0
        assert first.written.inserted > 1000
        again = sync_source(demo, store, clock=lambda: clock_at[0])
        assert again.ok
        assert again.written.changed == 0, "the same moment twice changes nothing"
        clock_at[0] += timedelta(days=2)
        later = sync_source(demo, store, clock=lambda: clock_at[0])
        assert later.ok
        assert later.written.changed > 0
        stepped = {r.id: to_json(r) for kind in _KINDS for r in store.iter_records(kind)}
    with Store.open(f"sqlite:///{tmp_path / 'b.db'}") as store:
        sync_source(connector(start=START, teams=2), store, clock=lambda: clock_at[0])
        once = {r.id: to_json(r) for kind in _KINDS for r in store.iter_records(kind)}
    assert stepped == once


_KINDS = (
    "work_item",
    "status_change",
    "change",
    "commit",
    "pipeline_run",
    "deployment",
    "incident",
)


def test_the_embedded_demo_moves_at_every_hour_of_the_day() -> None:
    """Someone evaluating the demo sees boards move within minutes, at whatever hour they try.

    The teams follow the sun (08:00-19:00 in three time zones 8 hours apart), so a week after
    the 90 days of history, at three seeds: at least 97% of the week's 336 half hours hold a
    new or changed record, at least 90% of its 28 quarter days a production deployment, and
    the week at least two incidents. (With one office's hours, nights and evenings were empty
    for hours on end.)
    """
    config = yaml.safe_load(embedded_demo_config().read_text())
    (source,) = config["sources"]
    week = (90 * DAY, 97 * DAY)
    for seed in (42, 1, 7):
        world = World(DemoConfig.model_validate({**source, "seed": seed}), START)
        world.advance(week[1])
        plans = (world.items, world.changes, world.runs, world.deployments, world.incidents)
        moments = [t for kind in plans for plan in kind for t in plan.events]
        moments += [commit.visible for commit in world.commits]
        half_hours = {t // 1800 for t in moments if week[0] <= t < week[1]}
        assert len(half_hours) >= 0.97 * 336, seed
        production = [
            d.events[-1]
            for d in world.deployments
            if d.environment is Environment.PRODUCTION and week[0] <= d.events[-1] < week[1]
        ]
        assert len({t // (6 * 3600) for t in production}) >= 0.9 * 28, seed
        assert sum(week[0] <= i.events[0] < week[1] for i in world.incidents) >= 2, seed
