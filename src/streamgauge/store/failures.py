"""What went wrong with the store, said as its cause and its fix, never with a password or SQL."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from streamgauge.store.causes import BY_LABEL
from streamgauge.store.faults import store_reason


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

    The cause is the one ``faults.store_reason`` names, said by its sentence in
    :mod:`.causes`, which names the setting to change; what the database said is quoted only
    where it tells more than the cause (a corrupt file), and never holds the password:
    psycopg's and sqlite3's messages carry neither parameters nor the connection string.
    """
    label = store_reason(exc) or "store"
    if label in ("store_unreachable", "store_io") and read_only(url):
        label = "store_read_only"  # SQLite says it cannot open what it may not write
    found = BY_LABEL.get(label, BY_LABEL["store"])
    sentence = found.file if sqlite_file(url) is not None else found.server
    if sentence is None:
        return _masked(reason(exc), url)
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return sentence.format(detail=_masked(str(orig), url), lock_timeout=f"{lock_timeout:g}")


def _masked(text: str, url: URL) -> str:
    if url.password:
        text = re.sub(re.escape(str(url.password)), "***", text)
    return text
