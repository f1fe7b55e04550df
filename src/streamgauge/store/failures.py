"""What went wrong with the store, said as its cause and its fix, never with a password or SQL."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

# SQLite's primary result codes (https://www.sqlite.org/rescode.html); an extended code keeps
# its primary code in the low byte.
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26

# PostgreSQL's SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_PG_DISK_FULL = "53100"
_PG_READ_ONLY = "25006"


def reason(exc: SQLAlchemyError) -> str:
    """The database's own words, first line only (SQLAlchemy appends the statement)."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


def sqlite_file(url: URL) -> Path | None:
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return Path(database).expanduser()


def read_only(url: URL) -> bool:
    """Whether the SQLite file of ``url``, its journal files or its folder cannot be written.

    ``os.access`` answers no on a read-only file system even to root, who may write any file
    of a writable one whatever its mode.
    """
    file = sqlite_file(url)
    if file is None:
        return False
    if file.parent.is_dir() and not os.access(file.parent, os.W_OK | os.X_OK):
        return True  # no journal file can be made beside the store
    journals = (file, Path(f"{file}-wal"), Path(f"{file}-shm"))
    return any(p.exists() and not os.access(p, os.W_OK) for p in journals)


def cause(exc: SQLAlchemyError, url: URL, *, lock_timeout: float) -> str:
    """Why the store failed and what to do, as the end of one sentence.

    The clauses name the setting to change; what the database said is quoted only where it
    tells more than the cause (a corrupt file), and never holds the password: psycopg's and
    sqlite3's messages carry neither parameters nor the connection string.
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        primary = code & 0xFF
        if primary in (_SQLITE_READONLY, _SQLITE_PERM) or (
            primary in (_SQLITE_CANTOPEN, _SQLITE_IOERR) and read_only(url)
        ):
            return (
                "the file or its folder is read-only; give streamgauge write access to both "
                "(SQLite writes its -wal and -shm files beside the store), or set data_dir or "
                "store.url to a writable place"
            )
        if primary == _SQLITE_FULL:
            return (
                "the disk holding it is full; free space on it, or set data_dir or store.url "
                "to a disk with room"
            )
        if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return (
                f"the file is corrupt or not an SQLite database ({orig}); restore it from a "
                "backup, or move it away so that streamgauge starts a new store, which the "
                "next syncs fill again"
            )
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return (
                f"another process held its lock for more than {lock_timeout:g} s; stop the "
                "other process writing to it, or give each process a store of its own"
            )
        if primary == _SQLITE_CANTOPEN:
            return f"the file cannot be opened ({orig}); check that its folder can be created"
    state = getattr(orig, "sqlstate", None)
    if state == _PG_DISK_FULL:
        return "the database server's disk is full; free space on it"
    if state == _PG_READ_ONLY:
        return "the database is read-only (a standby?); point store.url at the primary server"
    return _masked(reason(exc), url)


def _masked(text: str, url: URL) -> str:
    if url.password:
        text = re.sub(re.escape(str(url.password)), "***", text)
    return text
