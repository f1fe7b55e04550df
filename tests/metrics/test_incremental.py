"""The calculator kept between computations gives exactly what a computation from scratch gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.builders import at, change, deployment, incident, status_change, work_item
from tests.metrics.helpers import DAY

from streamgauge.config import Settings
from streamgauge.connectors.base import SyncContext
from streamgauge.connectors.demo import DemoConfig, DemoConnector
from streamgauge.metrics import compute_all
from streamgauge.metrics.incremental import Calculator
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import Dataset, FlowState, Record, RunResult

START = datetime(2026, 1, 1, tzinfo=UTC)
SETTINGS = Settings(
    teams={"payments": {"apps": ["payments-api"]}, "checkout": {"apps": ["checkout-web"]}},
    windows=["1d", "7d", "30d"],
)


def sync(demo: DemoConnector, at: datetime, cursors: dict[str, str]) -> list[Record]:
    """What one sync of the demo source at ``at`` brings, from the cursors of the last one."""
    records: list[Record] = []
    ctx = SyncContext(source="demo", started_at=at, cursors=dict(cursors))
    for stream in demo.streams():
        for page in stream.read(cursors.get(stream.name), ctx):
            for raw in page.raws:
                records.extend(demo.normalize(raw))
            cursors[stream.name] = page.cursor
    return records


def everything(by_id: dict[str, Record]) -> Dataset:
    data = Dataset()
    for record in by_id.values():
        data.add(record)
    return data


def same(a: Snapshot, b: Snapshot) -> None:
    assert {(s.name, s.labels): s.value for s in a.samples} == {
        (s.name, s.labels): s.value for s in b.samples
    }
    assert sorted((h.name, h.labels, h.counts, h.sum) for h in a.histograms) == sorted(
        (h.name, h.labels, h.counts, h.sum) for h in b.histograms
    )


def test_updates_and_moving_now_match_a_fresh_computation() -> None:
    config = DemoConfig.model_validate(
        {"name": "demo", "type": "demo", "seed": 3, "start": START.isoformat()}
    )
    demo = DemoConnector(config, Settings())
    cursors: dict[str, str] = {}
    now = START + timedelta(days=40)
    first = sync(demo, now, cursors)
    known = {r.id: r for r in first}
    calculator = Calculator(SETTINGS)
    calculator.load(everything(known))
    same(calculator.snapshot(now), compute_all(everything(known), now=now, settings=SETTINGS))
    before = calculator.facts(now)
    for hours in (6, 30, 75):  # syncs that bring new records and changed ones
        now += timedelta(hours=hours)
        update = sync(demo, now, cursors)
        assert update  # the simulated world moved on
        known.update((r.id, r) for r in update)
        calculator.upsert(update)
        facts = calculator.facts(now)
        # facts that did not move are the very objects of the previous computation, in order
        for old, new in (
            (before.dora.lead_times, facts.dora.lead_times),
            (before.dora.outcomes, facts.dora.outcomes),
            (before.streams, facts.streams),
        ):
            kept = {id(f) for f in new} & {id(f) for f in old}
            assert len(kept) > 0.8 * len(old)
            in_old = [id(f) for f in old if id(f) in kept]
            assert in_old == [id(f) for f in new if id(f) in kept]
        same(calculator.snapshot(now), compute_all(everything(known), now=now, settings=SETTINGS))
        before = facts
    assert calculator.memo.flows  # done items' flows were kept, not recomputed
    assert calculator.memo.streams
    assert calculator.memo.outcomes  # apps whose deployments all ended kept their outcomes
    # time alone moves windows and finishes nothing new; then a look back at an earlier moment
    for moment in (now + timedelta(days=2), now - timedelta(days=10)):
        expected = compute_all(everything(known), now=moment, settings=SETTINGS)
        same(calculator.snapshot(moment), expected)


def test_links_taken_in_place_match_links_built_anew() -> None:
    # Day 1: change 1 (commit a1) merged, shipped by deployment d1 on day 2. Change 2 (commit
    # b1) merged on day 3, not shipped yet. Then d2 ships b1 on day 5: the joins are extended in
    # place, and change 2's lead time is day 1 (its first commit) -> day 5 = 4 days.
    settings = Settings(teams={"payments": {"apps": ["checkout"]}}, windows=["7d", "30d"])
    now = at(days=6)
    first = change(
        created_at=at(days=1),
        first_commit_at=at(days=1),
        merged_at=at(days=1, hours=2),
        merge_sha="a1",
        native_id=1,
    )
    second = change(
        created_at=at(days=1),
        first_commit_at=at(days=1),
        merged_at=at(days=3),
        merge_sha="b1",
        native_id=2,
    )
    d1 = deployment(finished_at=at(days=2), commit_shas=("a1",), native_id=10)
    item = work_item(created_at=at(days=0), key="PAY-1", native_id=1)
    known: dict[str, Record] = {r.id: r for r in (first, second, d1, item)}
    calculator = Calculator(settings)
    calculator.load(everything(known))
    same(calculator.snapshot(now), compute_all(everything(known), now=now, settings=settings))
    links = calculator.links

    d2 = deployment(finished_at=at(days=5), commit_shas=("b1",), native_id=11)
    hit = incident(opened_at=at(days=5, hours=1), native_id=20)
    for update in ([d2, hit], [work_item(created_at=at(days=0), key="PAY-1", native_id=1)]):
        known.update((r.id, r) for r in update)
        calculator.upsert(update)
        snap = calculator.snapshot(now)
        same(snap, compute_all(everything(known), now=now, settings=settings))
        assert calculator.links is links  # taken in place, not built anew
    lead = [h for h in snap.histograms if h.name == "streamgauge_change_lead_time_seconds"]
    assert sum(h.count for h in lead) == 2  # both changes shipped
    assert sum(h.sum for h in lead) == 1 * DAY + 4 * DAY  # change 1: day 1 -> 2; change 2: 1 -> 5
    assert calculator.links.blame[hit.id] is d2  # the latest deployment before it opened

    # A deployment replaced (d1 failed after all) or a work item re-keyed: built anew.
    for update in (
        [
            deployment(
                finished_at=at(days=2), commit_shas=("a1",), native_id=10, result=RunResult.FAILURE
            )
        ],
        [work_item(created_at=at(days=0), key="PAY-9", native_id=1)],
    ):
        known.update((r.id, r) for r in update)
        calculator.upsert(update)
        same(calculator.snapshot(now), compute_all(everything(known), now=now, settings=settings))
        assert calculator.links is not links
        links = calculator.links


def test_a_status_change_moved_twice_in_one_update_ends_in_one_history() -> None:
    # The change is made on item A, then (one sync) moved to B and at once on to C: only C has
    # it. C went active on day 2 and is still active on day 4: age 2 days.
    now = at(days=4)
    items = [work_item(created_at=at(days=1), native_id=n) for n in (1, 2, 3)]
    moved = status_change(item=items[0], at=at(days=2), to_state=FlowState.ACTIVE, native_id=9)
    known: dict[str, Record] = {r.id: r for r in (*items, moved)}
    calculator = Calculator(SETTINGS)
    calculator.load(everything(known))
    calculator.snapshot(now)
    update = [replace(moved, item_id=items[1].id), replace(moved, item_id=items[2].id)]
    known.update((r.id, r) for r in update)
    calculator.upsert(update)
    assert [h for h in calculator.histories.values() if h] == [(update[1],)]
    flows = {f.item.id: f for f in calculator.facts(now).flows}
    assert flows[items[2].id].age_seconds(now) == 2 * DAY
    assert flows[items[0].id].state is FlowState.NEW
    same(calculator.snapshot(now), compute_all(everything(known), now=now, settings=SETTINGS))
