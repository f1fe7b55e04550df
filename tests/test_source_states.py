"""A restart keeps a source's rate-limit pause and the time it began to fail, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine
from tests.connectors.github.conftest import small_org
from tests.fakes.github import FakeGitHub
from tests.test_pauses import paused_gauge, running

from streamgauge.app import App
from streamgauge.config import Settings
from streamgauge.connectors.github import GithubConfig
from streamgauge.store import SourceState, Store


def test_a_restarted_app_does_not_ask_a_paused_source_before_its_pause_ends(
    store_url: str, tmp_path: Path
) -> None:
    now = [datetime(2026, 6, 1, 12, 0, tzinfo=UTC)]
    with running("github") as tool:
        tool.inject_long_429()  # the second page answers 429 with Retry-After: 600
        settings = Settings(data_dir=tmp_path, store={"url": store_url}, sources=[tool.config()])
        first = App(settings, clock=lambda: now[0])
        try:
            paused = first.sync("src")
        finally:
            first.close()
        # 12:00 + 600 s
        assert paused.paused_until == datetime(2026, 6, 1, 12, 10, tzinfo=UTC)

        now[0] = datetime(2026, 6, 1, 12, 5, tzinfo=UTC)  # restarted before the pause ends
        second = App(settings, clock=lambda: now[0])
        try:
            assert paused_gauge(second) == {"src": paused.paused_until.timestamp()}
            before = tool.requests()
            still = second.sync("src")
            assert tool.requests() == before  # not asked at all
            assert (still.error, still.paused_until) == ("paused", paused.paused_until)

            now[0] = datetime(2026, 6, 1, 12, 10, 1, tzinfo=UTC)  # a second after the reset
            resumed = second.sync("src")
            assert resumed.ok, resumed.error
            assert tool.requests() > before
            assert second.store.source_states() == {}  # nothing left to keep
        finally:
            second.close()


def test_a_restarted_app_keeps_the_time_a_source_began_to_fail(
    store_url: str, tmp_path: Path
) -> None:
    fake = FakeGitHub(small_org(), token="the-right-token").start()
    now = [datetime(2026, 6, 1, 12, 0, tzinfo=UTC)]

    def app(token: str) -> App:
        source = GithubConfig(name="gh", base_url=fake.base_url, token=token, org="acme")
        settings = Settings(
            data_dir=tmp_path,
            store={"url": store_url},
            sources=[source],
            server={"source_failing_after": "10m"},
        )
        return App(settings, clock=lambda: now[0])

    try:
        first = app("a-wrong-token")
        try:
            assert first.sync("gh").fatal  # failing since 12:00
        finally:
            first.close()
        now[0] = datetime(2026, 6, 1, 12, 9, tzinfo=UTC)
        second = app("a-wrong-token")
        try:
            assert not second.sync("gh").ok  # still failing, since 12:00, not since 12:09
            now[0] = datetime(2026, 6, 1, 12, 10, tzinfo=UTC)  # 10 minutes after 12:00
            ready, body = second.readiness()
            assert not ready
            assert body.startswith("source gh failing since 2026-06-01 12:00:00Z")
        finally:
            second.close()
        with Store.open(store_url) as store:
            assert store.source_states() == {
                "gh": SourceState("gh", failing_since=datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
            }
        third = app("the-right-token")
        try:
            assert third.sync("gh").ok
            assert third.store.source_states() == {}  # a success ends the failing state
        finally:
            third.close()
    finally:
        fake.stop()


def test_a_store_at_version_3_gets_the_table_of_source_states(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with Store.open(url) as store:
        assert store.schema_version() == 4
    engine = create_engine(url)
    with engine.begin() as connection:  # as a streamgauge of version 3 left it
        connection.exec_driver_sql("DROP TABLE source_states")
        connection.exec_driver_sql("UPDATE schema_version SET version = 3")
    engine.dispose()
    with Store.open(url) as store:
        assert store.schema_version() == 4
        state = SourceState("a", paused_until=datetime(2026, 6, 1, 12, 10, tzinfo=UTC))
        store.save_source_state(state)
        assert store.source_states() == {"a": state}
