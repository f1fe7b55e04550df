"""Which replica syncs each source and computes: PostgreSQL advisory locks, one per duty.

Each duty (a source's sync, the computation) has a session-level advisory lock. A lock is held
on a connection of its own, outside the store's pool: a session lock survives a rollback and the
return of its connection to a pool, and taking it twice stacks, so a pooled connection must
never hold one. A replica that dies loses its connection and, with it, its locks; another
replica takes each duty over when it next asks for it. On SQLite (one process) every duty is
local.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from typing import Protocol

from sqlalchemy import URL, Connection, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from streamgauge.store.engine import display_url, parse_url
from streamgauge.store.types import StoreError

log = logging.getLogger(__name__)

COMPUTE = "compute"  # the duty of computing the snapshot that every replica serves

# TCP keep-alives on the lock connection (libpq's parameters): a replica whose network is cut
# loses its session on the server within about a minute, so its duties pass to another.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5}

PGBOUNCER_TRANSACTION_MODE = (
    "the store URL reaches PostgreSQL through a pooler that hands each transaction another "
    "server session (PgBouncer's pool_mode = transaction): session advisory locks, which decide "
    "which replica syncs a source, do not work through it; point store.url at PostgreSQL "
    "itself or at a pool in session mode"
)


def source_duty(source: str) -> str:
    return f"source:{source}"


def lock_key(namespace: str, duty: str) -> int:
    """A signed 64-bit key for ``pg_try_advisory_lock``, from the schema and the duty's name.

    The schema is part of it: two deployments in two schemas of one database do not collide.
    """
    digest = hashlib.blake2b(f"streamgauge {namespace} {duty}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leadership(Protocol):
    shared: bool  # several processes may share the store, so duties are decided by locks

    def hold(self, duty: str) -> bool:
        """Whether this process holds ``duty`` now, taking it if nobody does."""
        ...

    def holds(self, duty: str) -> bool:
        """Whether this process held ``duty`` when last asked (no database round trip)."""
        ...

    def close(self) -> None: ...


class LocalLeadership:
    """One process on its own store: it holds every duty."""

    shared = False

    def hold(self, duty: str) -> bool:
        return True

    def holds(self, duty: str) -> bool:
        return True

    def close(self) -> None:
        pass


class AdvisoryLeadership:
    """Duties held as PostgreSQL session advisory locks on one dedicated connection."""

    shared = True

    def __init__(self, url: URL) -> None:
        self._url = url
        self._engine = create_engine(
            url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=KEEPALIVES
        )
        self._connection: Connection | None = None
        self._namespace = ""
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def _connect(self) -> Connection:
        if self._connection is not None:
            return self._connection
        connection = self._engine.connect()
        try:
            # Through a pooler in transaction mode two statements may run in two sessions.
            pids = {connection.scalar(text("SELECT pg_backend_pid()")) for _ in range(3)}
            if len(pids) > 1:
                raise StoreError(PGBOUNCER_TRANSACTION_MODE)
            self._namespace = str(connection.scalar(text("SELECT current_schema()")))
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _drop(self, exc: Exception) -> None:
        if self._held:
            log.warning(
                "the leadership connection to %s failed (%s); these duties are released and "
                "will be asked for again: %s",
                display_url(self._url),
                type(exc).__name__,
                ", ".join(sorted(self._held)),
            )
        self._held.clear()
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.invalidate()
                self._connection.close()
        self._connection = None

    def hold(self, duty: str) -> bool:
        with self._lock:
            try:
                connection = self._connect()
                if duty in self._held:
                    # the lock lasts as long as the session: a live session still holds it
                    connection.execute(text("SELECT 1"))
                    return True
                key = lock_key(self._namespace, duty)
                taken = connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            except SQLAlchemyError as exc:
                self._drop(exc)
                return False
            if taken:
                self._held.add(duty)
                log.info("this replica now holds %s", duty)
            return bool(taken)

    def holds(self, duty: str) -> bool:
        with self._lock:
            return duty in self._held

    def connect(self) -> None:
        """Open the lock connection now, so a pooler in transaction mode is refused at start."""
        with self._lock:
            self._connect()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                with contextlib.suppress(SQLAlchemyError):
                    self._connection.close()  # ends the session: its locks go with it
                self._connection = None
            self._held.clear()
            self._engine.dispose()


def open_leadership(url: str) -> Leadership:
    """Advisory locks on PostgreSQL; on SQLite, one process holds every duty."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        leadership = AdvisoryLeadership(parsed)
        leadership.connect()
        return leadership
    return LocalLeadership()
