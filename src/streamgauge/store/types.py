"""Values the store hands in and out: write results, sync runs, per-source health."""

from __future__ import annotations

import hashlib
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
    # Skipped records by reason, over the whole history: (reason, count), sorted by reason.
    skipped_by_reason: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Skip:
    """A record a sync skipped, as the store keeps it; every text already escaped and short."""

    stream: str
    location: str  # where it came from: the native id, and the URL when there is one
    reason: str
    detail: str  # what is wrong, naming the field
    record_id: str | None = None
    excerpt: str | None = None  # the start of the payload or record, for a look

    @property
    def key(self) -> str:
        """Tells one skipped record from another: where it came from and why."""
        text = "\n".join((self.stream, self.location, self.record_id or "", self.reason))
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A kept skipped record, with when it was first and last seen and how often."""

    source: str
    skip: Skip
    first_seen_at: datetime
    last_seen_at: datetime
    times: int


@dataclass(frozen=True, slots=True)
class SourceState:
    """What the scheduler must remember of a source across restarts: until when its rate limit
    paused it, and since when it has failed (None: not paused, not failing)."""

    source: str
    paused_until: datetime | None = None
    failing_since: datetime | None = None


class StoreError(Exception):
    """The store cannot do what was asked: unreachable, unsupported, or a data file from the future."""


class RecordRefused(StoreError):
    """The database refused what a batch holds (a value it cannot keep), not the batch itself:
    the same batch without the record at fault can be written."""
