"""Forward migrations: an older store upgrades on open, a newer one is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection
from tests.builders import SOURCE, at, deployment
from tests.store.store_peek import TablePeek

from streamgauge.store import MIGRATIONS, Migration, Store, StoreError
from streamgauge.store.schema import Schema

V1 = (MIGRATIONS[0],)


def add_deployment_note(connection: Connection, schema: Schema) -> None:
    connection.exec_driver_sql("ALTER TABLE deployment ADD COLUMN note TEXT")
    connection.exec_driver_sql("UPDATE deployment SET note = 'from version 1'")


V2 = (*V1, Migration(2, "deployment notes", add_deployment_note))


def test_a_new_store_is_at_the_newest_version(store: Store, peek: TablePeek) -> None:
    assert store.schema_version() == MIGRATIONS[-1].version == 4
    assert peek.rows("SELECT version FROM schema_version") == [(4,)]


def test_an_older_store_upgrades_on_open_and_keeps_its_records(
    store_url: str, peek: TablePeek
) -> None:
    shipped = deployment(finished_at=at(days=1))
    with Store.open(store_url, migrations=V1) as old:
        old.write_batch(source=SOURCE, stream="d", raws=[], records=[shipped], cursor="c")
        assert old.schema_version() == 1

    with Store.open(store_url, migrations=V2) as upgraded:
        assert upgraded.schema_version() == 2
        assert upgraded.load_dataset().deployments == [shipped]
        assert upgraded.get_cursor(SOURCE, "d") == "c"

    assert "note" in peek.columns("deployment")
    assert peek.rows("SELECT note FROM deployment") == [("from version 1",)]
    versions = peek.rows("SELECT version, description FROM schema_version ORDER BY version")
    assert versions == [(1, MIGRATIONS[0].description), (2, "deployment notes")]

    # Opening again runs nothing twice (a second ALTER TABLE would fail).
    with Store.open(store_url, migrations=V2) as again:
        assert again.schema_version() == 2


def test_a_store_from_a_newer_version_is_refused(store_url: str) -> None:
    with Store.open(store_url, migrations=V1):
        pass
    with Store.open(store_url, migrations=V2):
        pass
    with pytest.raises(StoreError, match=r"schema version 2, .* versions up to 1"):
        Store.open(store_url, migrations=V1)


def test_a_failing_step_leaves_the_store_at_its_old_version(
    store_url: str, peek: TablePeek
) -> None:
    def half_done(connection: Connection, schema: Schema) -> None:
        connection.exec_driver_sql("ALTER TABLE deployment ADD COLUMN note TEXT")
        raise RuntimeError("step 2 broke")

    with Store.open(store_url, migrations=V1):
        pass
    with pytest.raises(RuntimeError, match="step 2 broke"):
        Store.open(store_url, migrations=(*V1, Migration(2, "broken", half_done)))

    # Both databases run DDL inside the transaction, so the added column went with it.
    assert "note" not in peek.columns("deployment")
    with Store.open(store_url, migrations=V1) as store:
        assert store.schema_version() == 1


def test_migrations_must_be_numbered_without_gaps(store_url: str) -> None:
    gap = (*V1, Migration(3, "skips 2", add_deployment_note))
    with pytest.raises(StoreError, match=r"numbered 1, 2, 3, .* not \[1, 3\]"):
        Store.open(store_url, migrations=gap)


def test_a_version_1_store_gains_the_pushed_events_table(store_url: str, peek: TablePeek) -> None:
    with Store.open(store_url, migrations=V1) as old:
        old.write_batch(
            source=SOURCE,
            stream="d",
            raws=[],
            records=[deployment(finished_at=at(days=1))],
            cursor="c",
        )
    # a store written by a streamgauge of version 1 had no such table
    with peek.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE webhook_events")
    with Store.open(store_url) as upgraded:
        assert upgraded.schema_version() == 4
        assert upgraded.receive_event(
            source="push", dedup_key="k", content_type="application/json", headers={}, body=b"{}"
        )
        assert upgraded.event_counts() == {("push", "pending"): 1}
        assert len(upgraded.load_dataset().deployments) == 1
    versions = peek.rows("SELECT version, description FROM schema_version ORDER BY version")
    assert versions == [(m.version, m.description) for m in MIGRATIONS]
