"""Storage of raw payloads, model records, cursors, sync runs and snapshots (SQLite or PostgreSQL)."""

from streamgauge.store.migrations import MIGRATIONS, Migration
from streamgauge.store.store import Store
from streamgauge.store.types import (
    RecordRefused,
    Skip,
    SkippedRecord,
    SourceHealth,
    SourceState,
    StoreError,
    SyncRun,
    WriteResult,
)

__all__ = [
    "MIGRATIONS",
    "Migration",
    "RecordRefused",
    "Skip",
    "SkippedRecord",
    "SourceHealth",
    "SourceState",
    "Store",
    "StoreError",
    "SyncRun",
    "WriteResult",
]
