"""The composition root: Settings -> store, connectors, calculator, exposition, scheduler."""

from __future__ import annotations

import logging
import threading

from streamgauge.config import Settings
from streamgauge.connectors.base import Clock, Connector, system_clock
from streamgauge.connectors.registry import connectors as registered_connectors
from streamgauge.connectors.webhook import WebhookConnector
from streamgauge.connectors.webhook.counters import WebhookCounters
from streamgauge.connectors.webhook.intake import GroupCommit, Intake
from streamgauge.exposition.collector import Exposition, ServedState
from streamgauge.metrics.incremental import Calculator
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.store import Store, StoreError
from streamgauge.store.types import SyncRun, WriteResult
from streamgauge.sync import Progress, SyncOutcome, sync_source

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
        # pushed events commit one by one while senders wait: SQLite's log is checkpointed by
        # the webhook normalizer between commits, not inside the commit that fills it
        pushed_to = any(s.type == "webhook" and s.enabled for s in settings.sources)
        self.store = Store.open(settings.store_url, manual_checkpoints=pushed_to)
        self.connectors: dict[str, Connector] = build_connectors(settings, clock=clock)
        self.exposition = Exposition(ServedState(sources=tuple(self.connectors)))
        pushed = {n: c for n, c in self.connectors.items() if isinstance(c, WebhookConnector)}
        self.webhook_counters = WebhookCounters(pushed)
        self.webhook_counters.load(self.store.event_counts())
        commits = GroupCommit(self.store)  # one for all webhook sources: one store to write
        self.intakes = {
            name: Intake(connector, self.store, self.webhook_counters, clock=clock, commits=commits)
            for name, connector in pushed.items()
        }
        self.stop = threading.Event()
        self._compute_lock = threading.Lock()
        self._cache = RecordCache(settings)
        self._attempted: set[str] = set()
        self._computed_after_sync = False
        self._state_lock = threading.Lock()
        stored = self.store.latest_snapshot()
        self._publish(stored)

    # --- jobs --------------------------------------------------------------------------------

    def sync(self, source: str, *, progress: Progress | None = None) -> SyncOutcome:
        if source in self.intakes:
            outcome = self._normalize_pushed(source)
        else:
            outcome = sync_source(
                self.connectors[source],
                self.store,
                clock=self.clock,
                progress=progress,
                stop=self.stop,
            )
        with self._state_lock:
            self._attempted.add(source)
        self._publish(self.exposition.state.snapshot)
        return outcome

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
        """Compute every metric from the stored records and serve the result."""
        with self._compute_lock:
            self._cache.refresh(self.store)
            snapshot = self._cache.calculator.snapshot(self.clock())
            self.store.save_snapshot(snapshot)
            # Served first, ready after: a scrape that follows /readyz sees these numbers.
            self._publish(snapshot)
            with self._state_lock:
                if self._attempted >= set(self.connectors):
                    self._computed_after_sync = True
            return snapshot

    # --- serving -----------------------------------------------------------------------------

    def _publish(self, snapshot: Snapshot | None) -> None:
        self.exposition.update(
            ServedState(
                snapshot=snapshot, health=self.store.health(), sources=tuple(self.connectors)
            )
        )

    def readiness(self) -> tuple[bool, str]:
        with self._state_lock:
            if self._computed_after_sync:
                return True, "ready"
            waiting = sorted(set(self.connectors) - self._attempted)
        if waiting:
            return False, f"waiting for the first sync of {', '.join(waiting)}"
        return False, "waiting for the first computation"

    def close(self) -> None:
        self.stop.set()
        for connector in self.connectors.values():
            connector.close()
        self.store.close()


def build_connectors(settings: Settings, *, clock: Clock = system_clock) -> dict[str, Connector]:
    """One connector per enabled source, by its configured type."""
    classes = registered_connectors()
    return {
        source.name: classes[source.type](source, settings, clock=clock)
        for source in settings.sources
        if source.enabled
    }
