"""The cause of a failed store operation in one word, for logs and a bounded metric label."""

from __future__ import annotations

import errno

# SQLSTATE classes and codes of PostgreSQL (Appendix A, "PostgreSQL Error Codes").
_PG_STATES = {
    "53100": "store_full",  # disk_full
    "53200": "store_full",  # out_of_memory
    "55P03": "store_locked",  # lock_not_available
    "40P01": "store_locked",  # deadlock_detected
    "57014": "store_locked",  # query_canceled (statement or lock timeout)
    "25006": "store_read_only",  # read_only_sql_transaction
    "XX001": "store_corrupt",  # data_corrupted
    "XX002": "store_corrupt",  # index_corrupted
}
_PG_CLASSES = {"08": "store_unreachable", "57": "store_unreachable", "53": "store_full"}

# SQLite's primary result codes (https://www.sqlite.org/rescode.html); an extended code keeps
# its primary code in the low byte. sqlite3's exceptions carry it as `sqlite_errorcode`.
_SQLITE_CODES = {
    3: "store_read_only",  # SQLITE_PERM
    5: "store_locked",  # SQLITE_BUSY
    6: "store_locked",  # SQLITE_LOCKED
    8: "store_read_only",  # SQLITE_READONLY
    10: "store_io",  # SQLITE_IOERR
    11: "store_corrupt",  # SQLITE_CORRUPT
    13: "store_full",  # SQLITE_FULL
    14: "store_unreachable",  # SQLITE_CANTOPEN
    26: "store_corrupt",  # SQLITE_NOTADB
}

# The same causes as the sqlite3 module words them, for an error that lost its code.
_SQLITE_WORDS = (
    ("disk is full", "store_full"),
    ("database is locked", "store_locked"),
    ("table is locked", "store_locked"),
    ("not a database", "store_corrupt"),
    ("malformed", "store_corrupt"),
    ("readonly database", "store_read_only"),
    ("unable to open database", "store_unreachable"),
    ("disk i/o error", "store_io"),
)

_ERRNOS = {
    errno.ENOSPC: "store_full",
    errno.EDQUOT: "store_full",
    errno.EROFS: "store_read_only",
    errno.EACCES: "store_read_only",
    errno.EIO: "store_io",
}

# Every reason a store failure can be given, so the label's values are bounded and documented.
STORE_REASONS = (
    "store_full",
    "store_locked",
    "store_corrupt",
    "store_read_only",
    "store_unreachable",
    "store_io",
    "store",
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        orig = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError keeps the driver's error
        if isinstance(orig, BaseException) and orig not in seen:
            seen.append(orig)
        current = current.__cause__ or current.__context__
    return seen


def store_reason(exc: BaseException) -> str | None:
    """``store_full``, ``store_locked``... when ``exc`` comes from the store, else None."""
    from sqlalchemy.exc import SQLAlchemyError

    from streamgauge.store.types import StoreError

    chain = _chain(exc)
    for cause in chain:
        state = getattr(cause, "sqlstate", None)
        if isinstance(state, str) and state:
            return _PG_STATES.get(state) or _PG_CLASSES.get(state[:2]) or "store"
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_CODES:
            return _SQLITE_CODES[code & 0xFF]
        if isinstance(cause, OSError) and cause.errno in _ERRNOS:
            return _ERRNOS[cause.errno]
        text = str(cause).lower()
        if type(cause).__module__ == "sqlite3":
            for words, reason in _SQLITE_WORDS:
                if words in text:
                    return reason
    if any(isinstance(c, SQLAlchemyError | StoreError) for c in chain):
        for cause in chain:
            text = str(cause).lower()
            for words, reason in _SQLITE_WORDS:
                if words in text:
                    return reason
        return "store"
    return None
