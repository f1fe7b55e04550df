"""Each way a store fails is named by its cause, from the real database's own error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from streamgauge.store.faults import store_reason


def _fails(url: str, *statements: str, **connect_args: object) -> DBAPIError:
    """The driver's error that running ``statements`` in one transaction ends with."""
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    except DBAPIError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError(f"{statements} succeeded on {url}")


def _sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (v BLOB)")
    return path


def test_a_store_locked_by_another_writer(tmp_path: Path) -> None:
    path = _sqlite_file(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        error = _fails(f"sqlite:///{path}", "INSERT INTO t VALUES (1)", timeout=0)
    finally:
        holder.close()
    assert store_reason(error) == "store_locked"


def test_a_corrupt_store_file(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"this is no SQLite file " * 200)
    assert store_reason(_fails(f"sqlite:///{path}", "SELECT * FROM t")) == "store_corrupt"


def test_a_read_only_store(tmp_path: Path) -> None:
    path = _sqlite_file(tmp_path)
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    assert store_reason(_fails(url, "INSERT INTO t VALUES (1)")) == "store_read_only"


def test_a_full_store(tmp_path: Path) -> None:
    # SQLite's page limit gives the same SQLITE_FULL a full disk does.
    path = _sqlite_file(tmp_path)
    error = _fails(
        f"sqlite:///{path}", "PRAGMA max_page_count = 3", "INSERT INTO t VALUES (zeroblob(100000))"
    )
    assert store_reason(error) == "store_full"


@pytest.mark.postgres
def test_a_postgres_lock_that_times_out(postgres_url: str) -> None:
    holder = create_engine(postgres_url, poolclass=NullPool)
    try:
        with holder.begin() as connection:
            connection.execute(text("CREATE TABLE t (v int)"))
        with holder.connect() as connection, connection.begin():
            connection.execute(text("LOCK TABLE t IN ACCESS EXCLUSIVE MODE"))
            error = _fails(postgres_url, "SET lock_timeout = '100ms'", "SELECT * FROM t")
    finally:
        holder.dispose()
    assert store_reason(error) == "store_locked"


def test_an_error_from_elsewhere_is_no_store_failure() -> None:
    assert store_reason(RuntimeError("database is locked")) is None
    assert store_reason(KeyError("number")) is None


def test_every_code_names_a_cause_with_its_label_and_sentence() -> None:
    # One table of causes serves the label and the sentence: a code classified into a label
    # the table lacks would give a label with no sentence.
    from streamgauge.store import causes
    from streamgauge.store.faults import STORE_REASONS

    tables = (causes.SQLITE_CODES, causes.PG_STATES, causes.PG_CLASSES, causes.ERRNOS)
    labels = {label for table in tables for label in table.values()}
    labels |= {label for _, label in causes.SQLITE_WORDS}
    assert labels <= set(causes.BY_LABEL)
    assert set(STORE_REASONS) == set(causes.BY_LABEL)
    assert STORE_REASONS[-1] == "store"  # the cause of last resort
