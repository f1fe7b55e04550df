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


_PERCENT_ENCODE = (
    "percent-encode the user name and password ('@' as %40, ':' as %3A, '/' as %2F, '%' as "
    "%25; urllib.parse.quote(password, safe='') does it)"
)


def url_problem(url: str) -> str | None:
    """What is wrong with a store URL, in words that quote none of it (it may hold a password).

    SQLAlchemy reads the password up to the first '@', so an unescaped '@' in it makes the rest
    of the password part of the host name, which then appears in connection errors.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return (
            "is not a database URL; write sqlite:///path/to/file.db or "
            f"postgresql+psycopg://user:password@host:5432/db, and {_PERCENT_ENCODE}"
        )
    if "@" in (parsed.host or ""):
        return f"has a user name or password with an unescaped '@'; {_PERCENT_ENCODE}"
    return None


def parse_url(url: str) -> URL:
    problem = url_problem(url)
    if problem is not None:
        raise StoreError(f"the store URL {problem}")
    return make_url(url)


def sqlite_lock_timeout(url: URL) -> float:
    """Seconds an SQLite connection waits for another's lock: the URL's ``timeout`` query
    parameter (as Python's sqlite3 calls it), else :data:`SQLITE_BUSY_TIMEOUT_MS`."""
    value = url.query.get("timeout")
    if isinstance(value, str) and url.get_backend_name() == "sqlite":
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if seconds >= 0:
            return seconds
        raise StoreError(
            f"the store URL's timeout {value!r} is not a number of seconds; write e.g. ?timeout=30"
        )
    return SQLITE_BUSY_TIMEOUT_MS / 1000


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
            kwargs: dict[str, Any] = {}
            if url.drivername == "postgresql+psycopg":
                # psycopg prepares a statement run five times, and PostgreSQL may then plan it
                # once for any parameters: the store's digest lookup (``source = $1 AND id IN
                # (...)``), planned while a table is young, keeps scanning every row of the
                # source through the source index, so a first large sync grows quadratic. A
                # plan per execution costs a fraction of a millisecond.
                kwargs["connect_args"] = {"prepare_threshold": None}
            return create_engine(
                url,
                pool_size=5,
                max_overflow=5,
                pool_pre_ping=True,
                hide_parameters=True,
                **kwargs,
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
    lock_timeout = sqlite_lock_timeout(url)
    kwargs: dict[str, Any] = {
        # Error messages must not carry record contents; the database's reason is enough.
        "hide_parameters": True,
        # Connections move between the scheduler and HTTP threads through the pool; the pool
        # hands each to one thread at a time, which is what sqlite3's check guards.
        "connect_args": {"check_same_thread": False, "timeout": lock_timeout},
    }
    if memory:
        # An in-memory database lives in its one connection; every user must share it.
        kwargs["poolclass"] = StaticPool
    else:
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot open the store at {display_url(url)}: its folder cannot be made "
                f"({exc.strerror}); set data_dir or store.url to a writable place"
            ) from None
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
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
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
