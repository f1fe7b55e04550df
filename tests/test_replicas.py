"""Two App replicas on one PostgreSQL store: one syncs each source, one computes, both serve it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, make_url, select
from sqlalchemy.pool import NullPool

from streamgauge.app import App
from streamgauge.config import ConfigError, Settings, load_settings
from streamgauge.connectors.demo import DemoConfig
from streamgauge.store.leadership import COMPUTE
from streamgauge.store.schema import Schema

pytestmark = pytest.mark.postgres

START = datetime(2026, 5, 1, tzinfo=UTC)


def soon(ask: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not ask():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def leader_values(app: App) -> dict[str, float]:
    text = app.exposition.rendered.text.decode()
    return {
        s.labels["source"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "streamgauge_source_leader"
    }


def sync_runs(url: str) -> int:
    engine = create_engine(make_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Schema().sync_runs)))
    finally:
        engine.dispose()


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[tuple[App, App, list[datetime]]]:
    now = [START + timedelta(days=30)]
    source = DemoConfig(name="demo", type="demo", days=20, start=START, teams=1)
    settings = Settings(
        data_dir=tmp_path,
        store={"url": postgres_url},
        sources=[source],
        server={"snapshot_max_age": "5m"},
    )
    first = App(settings, clock=lambda: now[0])
    second = App(settings, clock=lambda: now[0])
    try:
        yield first, second, now
    finally:
        first.close()
        second.close()


def test_one_replica_syncs_a_source_and_both_serve_the_snapshot_it_computed(
    replicas: tuple[App, App, list[datetime]], postgres_url: str
) -> None:
    first, second, now = replicas
    assert first.sync("demo").ok
    skipped = second.sync("demo")
    assert skipped.stopped
    assert not skipped.changed
    assert sync_runs(postgres_url) == 1  # one sync logged, not two

    computed = first.recompute()
    served = second.recompute()  # the follower computes nothing: it serves the stored one
    assert served.computed_at == computed.computed_at
    assert served.samples == computed.samples
    assert first.exposition.rendered.text == second.exposition.rendered.text.replace(
        b'streamgauge_source_leader{source="demo"} 0.0',
        b'streamgauge_source_leader{source="demo"} 1.0',
    )
    assert leader_values(first) == {"demo": 1.0}
    assert leader_values(second) == {"demo": 0.0}
    assert first.leadership.holds(COMPUTE)
    assert not second.leadership.holds(COMPUTE)
    assert first.readiness() == (True, "ready")
    assert second.readiness() == (True, "ready")

    # 5 minutes later, nothing computed since: the follower's snapshot is at the bound, ready;
    # one second past it, not ready, and it says which key bounds it
    now[0] += timedelta(minutes=5)
    assert second.readiness() == (True, "ready")
    now[0] += timedelta(seconds=1)
    ready, why = second.readiness()
    assert not ready
    assert "server.snapshot_max_age" in why


def test_a_source_passes_to_another_replica_when_its_holder_stops(
    replicas: tuple[App, App, list[datetime]], postgres_url: str
) -> None:
    first, second, _ = replicas
    assert first.sync("demo").ok
    first.recompute()
    first.close()  # its session ends: the source and the computation are free
    assert soon(lambda: not second.sync("demo").stopped)
    assert sync_runs(postgres_url) == 2
    assert leader_values(second) == {"demo": 1.0}
    assert not second.follow()  # it now computes
    assert second.recompute().computed_at == second.exposition.state.snapshot.computed_at  # type: ignore[union-attr]


def test_a_follower_that_starts_serves_the_stored_snapshot_at_once(
    replicas: tuple[App, App, list[datetime]],
) -> None:
    first, _, _ = replicas
    first.sync("demo")
    stored = first.recompute()
    third = App(first.settings, clock=first.clock)
    try:
        assert third.exposition.state.snapshot is not None
        assert third.exposition.state.snapshot.samples == stored.samples
        assert third.readiness() == (True, "ready")
    finally:
        third.close()


def test_snapshot_max_age_must_be_longer_than_zero(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server: {snapshot_max_age: 0s}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert [p.split(":")[0] for p in info.value.problems] == ["server.snapshot_max_age"]
    assert "must be longer than zero" in info.value.problems[0]
