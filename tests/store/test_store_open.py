"""Opening a store: SQLite files and folders, in-memory SQLite, URL forms, clear refusals."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from tests.builders import SOURCE, at, commit

from streamgauge.store import MIGRATIONS, Store, StoreError, WriteResult


def test_open_creates_the_folder_of_an_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "store.db"
    with Store.open(f"sqlite:///{path}") as store:
        assert store.schema_version() == MIGRATIONS[-1].version
    assert path.is_file()


def test_an_sqlite_file_is_in_wal_mode_for_concurrent_readers(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Store.open(f"sqlite:///{path}").close()
    # WAL is a property of the file: a plain connection sees it.
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_an_in_memory_store_works_for_one_process() -> None:
    with Store.open("sqlite://") as store:
        a = commit(sha="a", authored_at=at(days=1))
        result = store.write_batch(source=SOURCE, stream="c", raws=[], records=[a], cursor="1")
        assert result == WriteResult(inserted=1)
        assert list(store.iter_records("commit")) == [a]


def test_a_bare_postgresql_url_means_psycopg(postgres_url: str) -> None:
    bare = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with Store.open(bare) as store:
        assert store.schema_version() == MIGRATIONS[-1].version


def test_postgresql_plans_each_lookup_for_its_own_ids(postgres_url: str) -> None:
    # psycopg prepares a statement after its fifth run, and PostgreSQL may then keep one plan
    # for any parameters: planned while the table was young, the digest lookup scanned every
    # row of the source, so a first large sync grew quadratic. Eight batches of the same size
    # run the same lookup eight times: nothing may be left prepared on the connection.
    with Store.open(postgres_url) as store:
        for batch in range(8):
            records = [commit(sha=f"{batch}-{n}", authored_at=at(days=1)) for n in range(20)]
            store.write_batch(source=SOURCE, stream="c", raws=[], records=records, cursor=None)
        with store._engine.connect() as connection:
            prepared = connection.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements")
            assert prepared.scalar() == 0
        assert len(list(store.iter_records("commit"))) == 160


def test_an_unknown_kind_is_refused_when_asked_for(sqlite_store: Store) -> None:
    with pytest.raises(StoreError, match="unknown record kind 'build'; one of work_item"):
        sqlite_store.iter_records("build")


def test_unsupported_and_unreachable_databases_are_refused_clearly() -> None:
    with pytest.raises(StoreError, match="unsupported store database 'mysql'"):
        Store.open("mysql://u@127.0.0.1/x")
    with pytest.raises(StoreError, match="not a database URL"):
        Store.open("not a url")
    # Port 1 on loopback refuses connections; the password must not reach the message.
    with pytest.raises(StoreError, match=r"cannot open the store at .*127\.0\.0\.1:1") as info:
        Store.open("postgresql+psycopg://u:hunter2@127.0.0.1:1/x?connect_timeout=2")
    assert "hunter2" not in str(info.value)
    assert "***" in str(info.value)
