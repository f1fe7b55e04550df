"""Pushed events: verify, keep the raw request, answer; then normalize what was kept.

A request is answered 202 only after its raw body, headers and dedup key are committed, so a
crash after the answer loses nothing and a redelivery stores nothing twice. Normalizing runs
after the answer, from the stored rows, in the order they came; records and the events' new
status are written in one transaction, so a restart resumes with what was left pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from streamgauge.connectors.base import Clock, RawRecord, system_clock
from streamgauge.connectors.webhook import envelope
from streamgauge.connectors.webhook.auth import AuthError, verify
from streamgauge.connectors.webhook.connector import WebhookConnector
from streamgauge.connectors.webhook.counters import WebhookCounters
from streamgauge.connectors.webhook.normalizing import STREAM, Batch, normalize_events
from streamgauge.intake import make_skip
from streamgauge.store import RecordRefused, Store, StoreError
from streamgauge.store.bounds import RecordLimits, SkipReason, printable
from streamgauge.store.inbox import (
    IGNORED,
    MALFORMED,
    NORMALIZED,
    EventOutcome,
    PushedEvent,
    Receipt,
)
from streamgauge.store.types import WriteResult

log = logging.getLogger(__name__)

# Headers never stored: they carry the credential itself (a bearer token) or a session.
_NOT_STORED = frozenset({"authorization", "proxy-authorization", "cookie"})
# Events normalized per transaction: small enough that a batch never holds the write lock
# long while senders wait for their own commit, large enough that the queries of a batch
# (pending events, ids of other sources, stored parts, the write) are paid once for many.
BATCH = 100
# Least seconds between two passes of the normalizer: under a burst, events gather between
# passes and are normalized a batch at a time instead of a few per wake, each pass competing
# with the receipts for the interpreter and the write lock.
PASS_SPACING = 0.25
# Least seconds between two recomputes asked for by pushed events: a burst of events costs
# one computation (which holds the interpreter for a while) every so often, not one per batch;
# Prometheus scrapes every 30 s or so anyway.
RECOMPUTE_SPACING = 15.0
# Seconds a sender is asked to wait when the store cannot take its event.
RETRY_AFTER = 5


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    text: str
    headers: tuple[tuple[str, str], ...] = ()


class _Waiter:
    """One request waiting for its receipt to be committed."""

    __slots__ = ("done", "error", "lead", "new", "receipt")

    def __init__(self, receipt: Receipt) -> None:
        self.receipt = receipt
        self.done = threading.Event()
        self.lead = False  # woken to commit the next group, not with its answer
        self.new = False
        self.error: StoreError | None = None


class GroupCommit:
    """Commits the receipts of concurrent requests together, each answered after the commit.

    The first request to arrive commits itself and whatever queued behind it in one
    transaction; requests that arrive meanwhile wait, and the first of them commits the next
    group. Under load one commit serves many requests, and no request waits on a polling lock.
    A failed transaction fails every request of its group (each answered 503, none kept).
    """

    def __init__(self, store: Store, *, max_group: int = 64) -> None:
        self.store = store
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._committing = False

    def keep(self, receipt: Receipt) -> bool:
        """Commit ``receipt``; False for a duplicate. Raises :class:`StoreError`."""
        waiter = _Waiter(receipt)
        with self._lock:
            self._queue.append(waiter)
            waiter.lead = not self._committing
            self._committing = True
        if not waiter.lead:
            waiter.done.wait()
        if waiter.lead:
            self._commit_next()
        if waiter.error is not None:
            raise waiter.error
        return waiter.new

    def _commit_next(self) -> None:
        # The leader is first in the queue: it arrived to an idle committer, or was woken first.
        with self._lock:
            group = self._queue[: self.max_group]
            del self._queue[: self.max_group]
        try:
            results = self.store.receive_events([w.receipt for w in group])
        except StoreError as exc:
            for waiter in group:
                waiter.error = exc
        else:
            for waiter, new in zip(group, results, strict=True):
                waiter.new = new
        for waiter in group:
            waiter.lead = False
            waiter.done.set()
        with self._lock:
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                successor.done.set()
            else:
                self._committing = False


@dataclass(frozen=True, slots=True)
class NormalizeOutcome:
    events: int = 0
    normalized: int = 0
    ignored: int = 0
    malformed: int = 0
    written: WriteResult = field(default_factory=WriteResult)


class Intake:
    """One webhook source's endpoint and its normalizer."""

    def __init__(
        self,
        connector: WebhookConnector,
        store: Store,
        counters: WebhookCounters,
        *,
        clock: Clock = system_clock,
        commits: GroupCommit | None = None,
        limits: RecordLimits | None = None,
    ) -> None:
        self.connector = connector
        self.store = store
        self.counters = counters
        self.clock = clock
        self.source = connector.name
        self.max_body = connector.webhook.max_body
        self.commits = commits or GroupCommit(store)
        self.limits = limits or RecordLimits()
        self._normalizing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- receiving ------------------------------------------------------------------------

    def receive(self, content_type: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one request whose body was read whole (at most ``max_body`` bytes).

        ``headers`` are keyed by lower-case name.
        """
        try:
            verify(self.connector.webhook, headers, body, self.clock())
        except AuthError as exc:
            return self._reject(401, exc.reason, str(exc))
        try:
            dedup_key = envelope.read(content_type, headers, body).dedup_key
        except envelope.EnvelopeError as exc:
            if exc.reason != envelope.TOO_DEEP:
                return self._reject(exc.status, exc.reason, str(exc))
            # kept, to be skipped as too_deep by the normalizer and looked at: not lost
            dedup_key = envelope.fallback_key(headers, body)
        kept = {k: v for k, v in headers.items() if k not in _NOT_STORED}
        receipt = Receipt(self.source, dedup_key, content_type, kept, body)
        try:
            new = self.commits.keep(receipt)
        except StoreError as exc:
            log.warning("%s: event not kept, sender asked to retry: %s", self.source, exc)
            self.counters.reject(self.source, "unavailable")
            return Answer(
                503,
                "the store cannot take the event now; send it again\n",
                (("Retry-After", str(RETRY_AFTER)),),
            )
        if not new:
            self.counters.add(self.source, "duplicates")
            return Answer(202, "duplicate: already received\n")
        self.counters.add(self.source, "received")
        self.counters.add_pending(self.source, 1)
        self._wake.set()
        return Answer(202, "accepted\n")

    def too_large(self) -> Answer:
        return self._reject(413, "too_large", f"the body is over {self.max_body} bytes")

    def _reject(self, status: int, reason: str, message: str) -> Answer:
        self.counters.reject(self.source, reason)
        log.info("%s: request refused (%d %s): %s", self.source, status, reason, message)
        return Answer(status, message + "\n")

    # --- normalizing ----------------------------------------------------------------------

    def normalize_pending(self, *, limit: int | None = None) -> NormalizeOutcome:
        """Normalize stored events not normalized yet, batch by batch, until none is left."""
        total = NormalizeOutcome()
        with self._normalizing:
            while limit is None or total.events < limit:
                events = self.store.pending_events(self.source, BATCH)
                if not events:
                    break
                done = self._batch(events)
                total = NormalizeOutcome(
                    total.events + done.events,
                    total.normalized + done.normalized,
                    total.ignored + done.ignored,
                    total.malformed + done.malformed,
                    total.written + done.written,
                )
            # from the store: events another process received or requeued count too
            self.counters.set_pending(self.source, self.store.pending_count(self.source))
        return total

    def _batch(self, events: list[PushedEvent]) -> NormalizeOutcome:
        batch = normalize_events(
            self.connector, self.store, events, now=self.clock(), limits=self.limits
        )
        try:
            written = self.store.finish_events(
                batch.outcomes, batch.records, source=self.source, skips=batch.skips
            )
        except RecordRefused as exc:
            if len(events) > 1:
                # halves on their own, down to the one event whose records the store refuses
                half = len(events) // 2
                first, second = self._batch(events[:half]), self._batch(events[half:])
                return NormalizeOutcome(
                    first.events + second.events,
                    first.normalized + second.normalized,
                    first.ignored + second.ignored,
                    first.malformed + second.malformed,
                    first.written + second.written,
                )
            batch = self._refused(events[0], batch, str(exc))
            written = self.store.finish_events(
                batch.outcomes, [], source=self.source, skips=batch.skips
            )
        counts = Counter(o.status for o in batch.outcomes)
        for status, n in counts.items():
            self.counters.add(self.source, status, n)
        self.counters.add_pending(self.source, -len(batch.outcomes))
        return NormalizeOutcome(
            len(events), counts[NORMALIZED], counts[IGNORED], counts[MALFORMED], written
        )

    def _refused(self, event: PushedEvent, batch: Batch, error: str) -> Batch:
        """The one event whose records the store refused, kept as malformed, its records
        skipped as write_failed."""
        log.warning("%s: event %d kept as malformed: %s", self.source, event.id, error)
        where = RawRecord(STREAM, f"event {event.id}", {}, event.received_at, event.dedup_key)
        refused = make_skip(where, SkipReason.WRITE_FAILED, error)
        return Batch([EventOutcome(event.id, MALFORMED, printable(error, 1000))], [], [refused])

    # --- the background normalizer ----------------------------------------------------------

    def start(
        self,
        on_change: Callable[[], None],
        *,
        spacing: float = RECOMPUTE_SPACING,
        leads: Callable[[], bool] = lambda: True,
    ) -> None:
        """Normalize in a thread of its own: at once after a receipt, and every second.

        ``on_change`` (a recompute) is called after records changed, at most once per
        ``spacing`` seconds: a burst of events costs one computation, not one per batch.
        ``leads`` says whether this replica normalizes the source's events: any replica stores
        what it receives, only the one holding the source normalizes them.
        """

        def run() -> None:
            changed, last_call, last_pass = False, 0.0, 0.0
            while not self._stop.is_set():
                self._wake.wait(timeout=1.0)
                # the events sent meanwhile join this pass: they are stored, only not mapped yet
                self._stop.wait(max(0.0, last_pass + PASS_SPACING - time.monotonic()))
                self._wake.clear()
                if self._stop.is_set():
                    break
                last_pass = time.monotonic()
                try:
                    if not leads():
                        continue
                    outcome = self.normalize_pending()
                except StoreError as exc:
                    log.warning("%s: normalizing waits for the store: %s", self.source, exc)
                    self._stop.wait(RETRY_AFTER)
                    continue
                except Exception:  # the job boundary: the next pass tries again
                    log.exception("%s: normalizing failed", self.source)
                    self._stop.wait(RETRY_AFTER)
                    continue
                changed |= outcome.written.changed > 0
                # the write-ahead log is copied back here, off the receipts' commits
                self.store.checkpoint()
                if changed and time.monotonic() - last_call >= spacing:
                    on_change()
                    changed, last_call = False, time.monotonic()

        self._thread = threading.Thread(target=run, name=f"intake {self.source}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
