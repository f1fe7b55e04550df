"""The composition root: Settings -> store, connectors, calculator, exposition, scheduler."""

from __future__ import annotations

import logging
import threading
from collections import Counter

from streamgauge.config import Settings
from streamgauge.connectors.base import Clock, Connector, system_clock
from streamgauge.connectors.registry import connectors as registered_connectors
from streamgauge.connectors.webhook import WebhookConnector
from streamgauge.connectors.webhook.counters import WebhookCounters
from streamgauge.connectors.webhook.intake import GroupCommit, Intake
from streamgauge.exposition.collector import Exposition, ServedState
from streamgauge.logs import redact, secrets_of
from streamgauge.metrics.catalog import CUMULATIVE
from streamgauge.metrics.incremental import Calculator
from streamgauge.metrics.snapshot import Snapshot, never_below
from streamgauge.store import Store, StoreError
from streamgauge.store.faults import store_reason
from streamgauge.store.leadership import COMPUTE, open_leadership, source_duty
from streamgauge.store.types import SourceState, SyncRun, WriteResult
from streamgauge.sync import Progress, SyncOutcome, failure_reason, sync_source

log = logging.getLogger(__name__)


class RecordCache:
    """The model records in memory, refreshed from the store by what changed since last time.

    They live in a :class:`~streamgauge.metrics.incremental.Calculator`, which keeps what it
    computed from them, so a refresh that brings a few records recomputes little.
    """

    def __init__(self, settings: Settings) -> None:
        self.calculator = Calculator(settings)
        self.seq = -1

    def refresh(self, store: Store) -> int:
        """Load what changed in the store; returns how many records were (re)loaded."""
        if self.seq < 0:
            # max_seq first: a record written during the load then comes again, harmlessly.
            seq = store.max_seq()
            self.calculator.load(store.load_dataset())
            self.seq = seq
            return len(self.calculator)
        records, self.seq = store.changed_since(self.seq)
        return self.calculator.upsert(records)


class App:
    """Everything one streamgauge process runs, built from its settings."""

    def __init__(self, settings: Settings, *, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.stop = threading.Event()  # set once when the process stops; every wait watches it
        # pushed events commit one by one while senders wait: SQLite's log is checkpointed by
        # the webhook normalizer between commits, not inside the commit that fills it
        pushed_to = any(s.type == "webhook" and s.enabled for s in settings.sources)
        self.store = Store.open(settings.store_url, manual_checkpoints=pushed_to)
        self.leadership = open_leadership(settings.store_url)
        self.connectors: dict[str, Connector] = build_connectors(settings, clock=clock)
        for connector in self.connectors.values():
            connector.stop = self.stop
        self.exposition = Exposition(ServedState(sources=tuple(self.connectors)))
        pushed = {n: c for n, c in self.connectors.items() if isinstance(c, WebhookConnector)}
        self.webhook_counters = WebhookCounters(pushed)
        self.webhook_counters.load(self.store.event_counts())
        commits = GroupCommit(self.store)  # one for all webhook sources: one store to write
        self.intakes = {
            name: Intake(connector, self.store, self.webhook_counters, clock=clock, commits=commits)
            for name, connector in pushed.items()
        }
        self._compute_lock = threading.Lock()
        self._cache = RecordCache(settings)
        self._attempted: set[str] = set()
        self._computed_after_sync = False
        self._state_lock = threading.Lock()
        # What this process saw, beside the store's sync log: failures the store itself could
        # not log (a full disk), pauses, and since when each failing source has failed.
        self._sync_failures: Counter[tuple[str, str]] = Counter()
        self._recompute_failures: Counter[str] = Counter()
        # Pauses and failing-since times are kept in the store too, so a restart keeps them.
        kept = self.store.source_states()
        self._paused_until = {s: k.paused_until for s, k in kept.items() if k.paused_until}
        self._failing_since = {s: k.failing_since for s, k in kept.items() if k.failing_since}
        self._last_error: dict[str, str] = {}
        self._seen_marker = self.store.change_marker()  # the store as this process found it
        stored = self.store.latest_snapshot()
        self._publish(stored)

    # --- jobs --------------------------------------------------------------------------------

    def sync(self, source: str, *, progress: Progress | None = None) -> SyncOutcome:
        """One sync of ``source``; a source paused by its rate limit is not asked before then."""
        now = self.clock()
        with self._state_lock:
            paused_until = self._paused_until.get(source)
        if paused_until is not None and now < paused_until:
            log.info("%s: paused by its rate limit until %s", source, paused_until.isoformat())
            return SyncOutcome(
                source, False, WriteResult(), 0, 0, error="paused", paused_until=paused_until
            )
        if not self.leadership.hold(source_duty(source)):
            with self._state_lock:
                self._attempted.add(source)  # another replica syncs it
            return SyncOutcome(source, True, WriteResult(), 0, 0, stopped=True)
        connector = self.connectors[source]
        try:
            if source in self.intakes:
                outcome = self._normalize_pushed(source)
            else:
                outcome = sync_source(
                    connector, self.store, clock=self.clock, progress=progress, stop=self.stop
                )
        except Exception as exc:  # the job boundary: the store failed before the sync began
            reason = failure_reason(exc)
            log.exception("%s: sync failed (%s)", source, reason)
            outcome = SyncOutcome(
                source,
                False,
                WriteResult(),
                0,
                0,
                error=redact(f"{type(exc).__name__}: {exc}", list(secrets_of(connector.config))),
                reason=reason,
            )
        self._note_outcome(outcome)
        self._publish(self.exposition.state.snapshot)
        return outcome

    def _note_outcome(self, outcome: SyncOutcome) -> None:
        source = outcome.source
        with self._state_lock:
            before = self._kept_state(source)
            self._count_outcome(outcome)
            after = self._kept_state(source)
        if after != before:
            try:
                self.store.save_source_state(after)
            except StoreError as exc:  # a full or locked store: kept in memory until it is back
                log.error("%s: its pause and failures could not be kept: %s", source, exc)

    def _kept_state(self, source: str) -> SourceState:
        return SourceState(source, self._paused_until.get(source), self._failing_since.get(source))

    def _count_outcome(self, outcome: SyncOutcome) -> None:
        """Counts ``outcome`` and notes its pause and failure (the caller holds the lock)."""
        source = outcome.source
        self._attempted.add(source)
        if outcome.stopped:
            return
        if outcome.paused_until is not None:
            self._paused_until[source] = outcome.paused_until
        else:
            self._paused_until.pop(source, None)
        if outcome.ok:
            self._failing_since.pop(source, None)
            self._last_error.pop(source, None)
            return
        self._sync_failures[source, outcome.reason or "error"] += 1
        self._last_error[source] = outcome.error or "failed"
        if outcome.reason != "rate_limited":  # a pause is the API's rhythm, not a failure
            self._failing_since.setdefault(source, self.clock())

    def _normalize_pushed(self, source: str) -> SyncOutcome:
        """A pushed source's sync: normalize what it was sent and has not normalized yet."""
        started_at = self.clock()
        error = None
        try:
            done = self.intakes[source].normalize_pending()
        except StoreError as exc:
            error = str(exc)
            log.error("%s: normalizing pushed events failed: %s", source, error)
            done = None
        written = done.written if done is not None else WriteResult()
        skipped = done.malformed if done is not None else 0
        self.store.record_sync(
            SyncRun(
                source=source,
                started_at=started_at,
                finished_at=self.clock(),
                ok=error is None,
                records_changed=written.changed,
                skipped=skipped,
                error=error,
            )
        )
        return SyncOutcome(source, error is None, written, skipped, 0, error)

    def sync_all(self, *, progress: Progress | None = None) -> list[SyncOutcome]:
        return [self.sync(name, progress=progress) for name in self.connectors]

    def recompute(self) -> Snapshot:
        """Compute every metric from the stored records and serve the result.

        A failure is counted by its cause (``store_full``, ``store_locked``...) and raised.
        """
        try:
            return self._recompute()
        except Exception as exc:
            reason = store_reason(exc) or "error"
            with self._state_lock:
                self._recompute_failures[reason] += 1
            self._publish(self.exposition.state.snapshot)
            raise

    def store_changed(self) -> bool:
        """Whether any process wrote records or logged a sync since the last look (cheap)."""
        marker = self.store.change_marker()
        with self._state_lock:
            changed = marker != self._seen_marker
            self._seen_marker = marker
        return changed

    def follow(self) -> bool:
        """On a replica that does not compute, serve the newest stored snapshot if it is newer
        than the one served. Returns whether this replica follows (cheap while nothing moved)."""
        if self.leadership.hold(COMPUTE):
            return False
        served = self.exposition.state.snapshot
        stored_at = self.store.latest_snapshot_at()
        if stored_at is not None and (served is None or stored_at > served.computed_at):
            self._publish(self.store.latest_snapshot())
        else:
            self._publish(served)  # the sync log moves on every replica alike
        return True

    def _recompute(self) -> Snapshot:
        following = self.follow()
        served = self.exposition.state.snapshot
        if following and served is not None:
            return served
        with self._compute_lock:
            marker = self.store.change_marker()
            self._cache.refresh(self.store)
            snapshot = never_below(
                self.exposition.state.snapshot,
                self._cache.calculator.snapshot(self.clock()),
                CUMULATIVE,
            )
            if self.stop.is_set():
                # Stopping: keep the stored snapshot rather than write while the process exits.
                log.info("stopping: the snapshot just computed is not stored")
                return snapshot
            if following:
                # nothing stored yet by the replica that computes: serve this, store nothing
                self._publish(snapshot)
                return snapshot
            self.store.save_snapshot(snapshot)
            with self._state_lock:
                # what this computation read: a later store check looks for news after it
                self._seen_marker = marker
            # Served first, ready after: a scrape that follows /readyz sees these numbers.
            self._publish(snapshot)
            with self._state_lock:
                if self._attempted >= set(self.connectors):
                    self._computed_after_sync = True
            return snapshot

    # --- serving -----------------------------------------------------------------------------

    def _publish(self, snapshot: Snapshot | None) -> None:
        try:
            health = self.store.health()
        except Exception as exc:  # an unreadable store: serve the health last read
            log.error("the sync log could not be read (%s): %s", store_reason(exc) or "error", exc)
            health = list(self.exposition.state.health)
        now = self.clock()
        succeeded = {h.source: h.last_success_at for h in health if h.last_success_at}
        with self._state_lock:
            self._paused_until = {s: t for s, t in self._paused_until.items() if t > now}
            # A success logged since the failures began (by a sync run by hand, or a replica)
            # ends them: the source's records are current again.
            for source, since in list(self._failing_since.items()):
                last_ok = succeeded.get(source)
                if last_ok is not None and last_ok > since:
                    del self._failing_since[source]
                    self._last_error.pop(source, None)
            state = ServedState(
                snapshot=snapshot,
                health=health,
                sources=tuple(self.connectors),
                sync_failures=dict(self._sync_failures),
                recompute_failures=dict(self._recompute_failures),
                paused_until=dict(self._paused_until),
                failing_since=dict(self._failing_since),
                leading=frozenset(
                    s for s in self.connectors if self.leadership.holds(source_duty(s))
                ),
            )
        self.exposition.update(state)

    @property
    def computed_after_sync(self) -> bool:
        """Whether a computation has followed the first sync of every source."""
        with self._state_lock:
            return self._computed_after_sync

    def readiness(self) -> tuple[bool, str]:
        now = self.clock()
        limit = self.settings.server.source_failing_after
        following = self.leadership.shared and not self.leadership.holds(COMPUTE)
        served = self.exposition.state.snapshot
        with self._state_lock:
            failing = sorted(
                (source, since)
                for source, since in self._failing_since.items()
                if now - since >= limit
            )
            errors = dict(self._last_error)
            computed = self._computed_after_sync
            waiting = sorted(set(self.connectors) - self._attempted)
        if failing:
            return False, "\n".join(
                f"source {source} failing since {since:%Y-%m-%d %H:%M:%S}Z "
                f"(longer than server.source_failing_after): {errors.get(source, 'failed')}"
                for source, since in failing
            )
        if following:
            bound = self.settings.server.snapshot_max_age
            if served is None:
                return False, "waiting for the replica that computes to store a snapshot"
            if now - served.computed_at > bound:
                return False, (
                    f"the snapshot served was computed at {served.computed_at:%Y-%m-%d %H:%M:%S}Z,"
                    " longer ago than server.snapshot_max_age: is a replica computing?"
                )
            return True, "ready"
        if computed:
            return True, "ready"
        if waiting:
            return False, f"waiting for the first sync of {', '.join(waiting)}"
        return False, "waiting for the first computation"

    def close(self) -> None:
        self.stop.set()
        for connector in self.connectors.values():
            connector.close()
        self.leadership.close()
        self.store.close()


def build_connectors(settings: Settings, *, clock: Clock = system_clock) -> dict[str, Connector]:
    """One connector per enabled source, by its configured type."""
    classes = registered_connectors()
    return {
        source.name: classes[source.type](source, settings, clock=clock)
        for source in settings.sources
        if source.enabled
    }
