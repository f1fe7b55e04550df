"""Engines for the two supported databases, tuned for one writer and concurrent readers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from streamgauge.store.types import StoreError

# How long an SQLite connection waits for another connection's write lock before failing. A
# write batch takes well under a second; this covers a slow disk with a large margin.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# A write transaction marks its connection with this execution option; on SQLite it then
# starts with BEGIN IMMEDIATE, taking the write lock before its first read.
WRITE_OPTION = "streamgauge_write"


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store URL is not a database URL: {exc}") from None


def display_url(url: URL) -> str:
    """The URL with any password masked, for messages and logs."""
    return url.render_as_string(hide_password=True)


def build_engine(url: URL, *, manual_checkpoints: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get their folder created.

    ``manual_checkpoints``: an SQLite file's write-ahead log is not copied back into the
    database by the commit that fills it (SQLite's auto-checkpoint, an fsync inside that commit
    while other writers wait) but by whoever calls the store's ``checkpoint``.
    """
    backend = url.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(url, manual_checkpoints=manual_checkpoints)
        if backend == "postgresql":
            if "+" not in url.drivername:
                # psycopg 3 is the driver streamgauge ships with; a bare `postgresql://` means
                # it (SQLAlchemy's own default would be psycopg2).
                url = url.set(drivername="postgresql+psycopg")
            # The scheduler writes while the HTTP thread and CLI read: a small pool is plenty,
            # and pre-ping replaces connections that a restarted server dropped.
            return create_engine(
                url, pool_size=5, max_overflow=5, pool_pre_ping=True, hide_parameters=True
            )
    except ImportError as exc:
        raise StoreError(
            f"the database driver for {display_url(url)} is not installed ({exc.name})"
        ) from None
    raise StoreError(
        f"unsupported store database {backend!r} in {display_url(url)}; "
        "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"
    )


def _sqlite_engine(url: URL, *, manual_checkpoints: bool) -> Engine:
    database = url.database or ""
    memory = database in ("", ":memory:") or url.query.get("mode") == "memory"
    kwargs: dict[str, Any] = {
        # Error messages must not carry record contents; the database's reason is enough.
        "hide_parameters": True,
        # Connections move between the scheduler and HTTP threads through the pool; the pool
        # hands each to one thread at a time, which is what sqlite3's check guards.
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    }
    if memory:
        # An in-memory database lives in its one connection; every user must share it.
        kwargs["poolclass"] = StaticPool
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["pool_size"] = 5
        kwargs["max_overflow"] = 5
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself: the sqlite3 module's own
        # transaction handling never begins one for a SELECT, so multi-query reads would not
        # see one consistent state (SQLAlchemy docs, "Serializable isolation / Savepoints").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            # WAL lets readers (a scrape, the CLI) run while the scheduler writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL is still crash-safe for the database; only the last commits
            # before a power loss may be lost, and a re-sync restores them.
            cursor.execute("PRAGMA synchronous=NORMAL")
            if manual_checkpoints:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A write that began deferred would take its read snapshot first and then fail with
        # SQLITE_BUSY (no retry) if another connection committed in between; IMMEDIATE waits
        # for the write lock up front, within busy_timeout.
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
