"""Values the store hands in and out: write results, sync runs, per-source health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one batch did to the model tables."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@dataclass(frozen=True, slots=True)
class SyncRun:
    """One sync of one source, logged when it ends (or fails)."""

    source: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    records_changed: int = 0
    skipped: int = 0
    api_calls: int = 0
    rate_limit_remaining: int | None = None
    error: str | None = None  # already free of secrets


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """Cumulative health of a source over the whole sync log."""

    source: str
    last_success_at: datetime | None
    errors_total: int
    records_total: int
    skipped_total: int
    api_calls_total: int
    rate_limit_remaining: int | None
    last_error: str | None


class StoreError(Exception):
    """The store cannot do what was asked: unreachable, unsupported, or a data file from the future."""
