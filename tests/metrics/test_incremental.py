"""The calculator kept between computations gives exactly what a computation from scratch gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamgauge.config import Settings
from streamgauge.connectors.base import SyncContext
from streamgauge.connectors.demo import DemoConfig, DemoConnector
from streamgauge.metrics import compute_all
from streamgauge.metrics.incremental import Calculator
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import Dataset, Record

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
    for hours in (6, 30, 75):  # syncs that bring new records and changed ones
        now += timedelta(hours=hours)
        update = sync(demo, now, cursors)
        assert update  # the simulated world moved on
        known.update((r.id, r) for r in update)
        calculator.upsert(update)
        same(calculator.snapshot(now), compute_all(everything(known), now=now, settings=SETTINGS))
    assert calculator.memo.flows  # done items' flows were kept, not recomputed
    assert calculator.memo.streams
    # time alone moves windows and finishes nothing new; then a look back at an earlier moment
    for moment in (now + timedelta(days=2), now - timedelta(days=10)):
        expected = compute_all(everything(known), now=moment, settings=SETTINGS)
        same(calculator.snapshot(moment), expected)
