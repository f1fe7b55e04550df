"""One sync of one source: read each stream from its cursor, normalize, store page by page."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from streamgauge.connectors.base import (
    Clock,
    Connector,
    FatalError,
    RateLimited,
    RetriableError,
    Stopped,
    SyncContext,
    system_clock,
)
from streamgauge.intake import prepare, without_taken_ids, write_page
from streamgauge.logs import redact, secrets_of
from streamgauge.store import Store, StoreError
from streamgauge.store.bounds import RecordLimits
from streamgauge.store.faults import store_reason
from streamgauge.store.types import SyncRun, WriteResult

log = logging.getLogger(__name__)

DEFAULT_LIMITS = RecordLimits()

# Called after each stored page: (stream name, records stored so far in this sync).
Progress = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    source: str
    ok: bool
    written: WriteResult
    skipped: int
    api_calls: int
    error: str | None = None
    fatal: bool = False
    paused_until: datetime | None = None  # the API budget is spent until then
    reason: str | None = None  # why it failed, one word of FAILURE_REASONS
    stopped: bool = False  # the process stopped it part-way; nothing of it is in the sync log

    @property
    def changed(self) -> bool:
        return self.written.changed > 0


# Why a sync failed, as the `reason` label of streamgauge_sync_failures_total: a bounded set.
FAILURE_REASONS = (
    "rate_limited",  # the API budget is spent: the source pauses until its reset
    "refused",  # bad credentials, missing scope, a project or API that does not exist
    "api",  # the tool kept failing (5xx, time-outs, cut-off answers) after every retry
    "store_full",
    "store_locked",
    "store_corrupt",
    "store_read_only",
    "store_unreachable",
    "store_io",
    "store",  # any other store failure
    "error",  # anything else: a bug, named with its traceback in the log
)


def failure_reason(exc: BaseException) -> str:
    """The reason label of a failed sync."""
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, FatalError):
        return "refused"
    found = store_reason(exc)
    if found is not None:
        return found
    if isinstance(exc, RetriableError):
        return "api"
    return "error"


def _describe(exc: BaseException, secrets: Sequence[str]) -> str:
    """The error as stored in the sync log and printed: any secret of the source masked, since
    an exception from a client library may quote a request's headers."""
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, FatalError | RetriableError | StoreError):
        text = f"{type(exc).__name__}: {text}"
    return redact(text, secrets)


def sync_source(
    connector: Connector,
    store: Store,
    *,
    clock: Clock = system_clock,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    limits: RecordLimits = DEFAULT_LIMITS,
) -> SyncOutcome:
    """Sync every stream of ``connector`` into ``store``.

    Each page is written with its cursor in one transaction, so a crash at any point leaves the
    store at the end of a whole page and the next sync resumes from there; overlapping reads are
    harmless because writes are idempotent upserts. ``stop`` ends the sync between two pages.
    Every record is checked against ``limits`` first; one outside them, or one the database
    refuses, is skipped, counted by reason and kept for ``streamgauge skipped``.
    """
    source = connector.name
    secrets = list(secrets_of(connector.config))
    started_at = clock()
    ctx = SyncContext(source=source, started_at=started_at, cursors=store.cursors(source))
    written = WriteResult()
    error: str | None = None
    fatal = False
    paused_until: datetime | None = None
    reason: str | None = None
    stopped = False
    try:
        for stream in connector.streams():
            cursor = store.get_cursor(source, stream.name)
            if stop is not None and stop.is_set():
                break
            for page in stream.read(cursor, ctx):
                prepared = prepare(connector, page.raws, now=started_at, limits=limits)
                prepared = without_taken_ids(prepared, store, source)
                for skip in prepared.skips:
                    log.warning(
                        "%s/%s: skipped %s (%s): %s",
                        source,
                        stream.name,
                        skip.location,
                        skip.reason,
                        skip.detail,
                    )
                if page.cursor is not None and page.cursor != cursor:
                    cursor = page.cursor
                    new_cursor: str | None = cursor
                else:
                    new_cursor = None
                page_written, refused = write_page(
                    store,
                    source=source,
                    stream=stream.name,
                    units=prepared.units,
                    skips=prepared.skips,
                    cursor=new_cursor,
                )
                written += page_written
                ctx.stats.skipped += len(prepared.skips) + len(refused)
                if progress is not None:
                    progress(stream.name, written.changed + written.unchanged)
                if stop is not None and stop.is_set():
                    log.info("%s: stopping after stream %s page", source, stream.name)
                    stopped = True
                    break
            if stopped:
                break
            ctx.cursors = store.cursors(source)
    except Stopped:
        stopped = True
        log.info("%s: stopping in a wait between retries; the stored pages are kept", source)
    except RateLimited as exc:
        paused_until, reason = exc.reset_at, "rate_limited"
        error = _describe(exc, secrets)
        log.warning(
            "%s: sync failed (rate_limited): pausing until %s", source, exc.reset_at.isoformat()
        )
    except FatalError as exc:
        error, fatal, reason = _describe(exc, secrets), True, "refused"
        log.error("%s: sync failed (refused): %s", source, error)
    except StoreError as exc:  # its message names the cause and the fix; no traceback helps
        error, reason = _describe(exc, secrets), failure_reason(exc)
        log.error("%s: sync failed (%s): %s", source, reason, error)
    except Exception as exc:  # the job boundary: one source's failure never stops the others
        error, reason = _describe(exc, secrets), failure_reason(exc)
        log.exception("%s: sync failed (%s)", source, reason)
    finished_at = clock()
    if stopped and error is None:
        # Neither a success nor a failure: the next sync resumes from the stored cursors.
        return SyncOutcome(
            source, True, written, ctx.stats.skipped, ctx.stats.api_calls, stopped=True
        )
    try:
        store.record_sync(
            SyncRun(
                source=source,
                started_at=started_at,
                finished_at=finished_at,
                ok=error is None,
                records_changed=written.changed,
                skipped=ctx.stats.skipped,
                api_calls=ctx.stats.api_calls,
                rate_limit_remaining=ctx.stats.rate_limit_remaining,
                error=error,
            )
        )
    except Exception as exc:  # a store that cannot log the sync is a failed sync, said why
        logged = _describe(exc, secrets)
        if error is None:
            error, reason = logged, failure_reason(exc)
        log.error("%s: the sync log could not be written (%s): %s", source, reason, logged)
    ok = error is None
    if ok:
        log.info(
            "%s: synced in %.1fs: %d new, %d changed, %d unchanged, %d skipped, %d API calls",
            source,
            (finished_at - started_at).total_seconds(),
            written.inserted,
            written.updated,
            written.unchanged,
            ctx.stats.skipped,
            ctx.stats.api_calls,
        )
    return SyncOutcome(
        source=source,
        ok=ok,
        written=written,
        skipped=ctx.stats.skipped,
        api_calls=ctx.stats.api_calls,
        error=error,
        fatal=fatal,
        paused_until=paused_until,
        reason=reason,
    )
