"""Every known cause of a store failure, once: the codes that mean it, its label and its sentence.

``faults.store_reason`` gives the label (a bounded metric label and log word);
``failures.cause`` gives the sentence, which says what is wrong and the fix. Both read the tables
here, so a code is classified the same way for both.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cause:
    """One cause. A sentence ends "... failed: <sentence>"; ``{detail}`` is what the database
    said, ``{lock_timeout}`` the SQLite lock timeout. A missing sentence quotes the database's
    own words instead (they tell more than any sentence of ours)."""

    label: str
    file: str | None  # said of an SQLite file
    server: str | None  # said of a PostgreSQL server


_READ_ONLY_FILE = (
    "the file or its folder is read-only; give streamgauge write access to both (SQLite writes "
    "its -wal and -shm files beside the store), or set data_dir or store.url to a writable place"
)

CAUSES: tuple[Cause, ...] = (
    Cause(
        "store_full",
        "the disk holding it is full; free space on it, or set data_dir or store.url to a disk "
        "with room",
        "the database server is out of disk space or memory ({detail}); free some on it",
    ),
    Cause(
        "store_locked",
        "another process held its lock for more than {lock_timeout} s; stop the other process "
        "writing to it, or give each process a store of its own",
        None,
    ),
    Cause(
        "store_corrupt",
        "the file is corrupt or not an SQLite database ({detail}); restore it from a backup, or "
        "move it away so that streamgauge starts a new store, which the next syncs fill again",
        None,
    ),
    Cause(
        "store_read_only",
        _READ_ONLY_FILE,
        "the database is read-only (a standby?); point store.url at the primary server",
    ),
    Cause(
        "store_unreachable",
        "the file cannot be opened ({detail}); check that its folder can be created",
        None,
    ),
    Cause("store_io", None, None),
    Cause("store", None, None),  # any other failure of the store
)
BY_LABEL = {c.label: c for c in CAUSES}

# SQLite's primary result codes (https://www.sqlite.org/rescode.html); an extended code keeps
# its primary code in the low byte. sqlite3's exceptions carry it as `sqlite_errorcode`.
SQLITE_CODES = {
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
SQLITE_WORDS = (
    ("disk is full", "store_full"),
    ("database is locked", "store_locked"),
    ("table is locked", "store_locked"),
    ("not a database", "store_corrupt"),
    ("malformed", "store_corrupt"),
    ("readonly database", "store_read_only"),
    ("unable to open database", "store_unreachable"),
    ("disk i/o error", "store_io"),
)

# SQLSTATE codes and classes of PostgreSQL (Appendix A, "PostgreSQL Error Codes").
PG_STATES = {
    "53100": "store_full",  # disk_full
    "53200": "store_full",  # out_of_memory
    "55P03": "store_locked",  # lock_not_available
    "40P01": "store_locked",  # deadlock_detected
    "57014": "store_locked",  # query_canceled (statement or lock timeout)
    "25006": "store_read_only",  # read_only_sql_transaction
    "XX001": "store_corrupt",  # data_corrupted
    "XX002": "store_corrupt",  # index_corrupted
}
PG_CLASSES = {"08": "store_unreachable", "57": "store_unreachable", "53": "store_full"}

ERRNOS = {
    errno.ENOSPC: "store_full",
    errno.EDQUOT: "store_full",
    errno.EROFS: "store_read_only",
    errno.EACCES: "store_read_only",
    errno.EIO: "store_io",
}
