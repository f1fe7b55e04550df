"""The store: the one place records, cursors, sync runs and snapshots are kept."""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import URL, Connection, Engine, Select, func, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError

from streamgauge.connectors.base import RawRecord, system_clock
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import DATASET_LISTS, KINDS, Dataset, Record
from streamgauge.store import inbox, queries, source_states
from streamgauge.store.codec import LoadPools, RecordCodec, from_micros
from streamgauge.store.engine import (
    WRITE_OPTION,
    build_engine,
    display_url,
    parse_url,
    sqlite_lock_timeout,
)
from streamgauge.store.failures import cause, reason
from streamgauge.store.migrations import MIGRATIONS, Migration, current_version, migrate
from streamgauge.store.schema import Schema
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
from streamgauge.store.writes import _chunks, write_cursor, write_raws, write_records, write_skips

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


# SQLSTATE classes of a value PostgreSQL refuses: data exceptions (22: out of range, bad
# encoding, NUL in text), integrity violations (23) and a program limit (54000: an index row
# too large). Anything else (disk full, connection lost, locks) is the store's, not a record's.
_REFUSED_SQLSTATES = ("22", "23", "54000")


def _refuses_a_value(exc: SQLAlchemyError) -> bool:
    """Whether the database refused a value of the batch rather than failed itself."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    cause = exc.orig if isinstance(exc, DBAPIError) else getattr(exc, "orig", None)
    if isinstance(cause, UnicodeError | OverflowError | ValueError | sqlite3.DataError):
        return True
    sqlstate = getattr(cause, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith(_REFUSED_SQLSTATES)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a million records are built.

    Each new record counts towards the next collection, and each full collection walks every
    record built so far: with it running, loading grows worse than linearly (about a third of
    the time at 10^6 records). Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _cause(exc: SQLAlchemyError, url: URL) -> str:
    return cause(exc, url, lock_timeout=sqlite_lock_timeout(url))


class Store:
    """SQLite or PostgreSQL behind one API; safe to share between the scheduler and HTTP threads."""

    def __init__(
        self, engine: Engine, url: URL, schema: Schema, *, clock: Clock, keep_snapshots: int
    ) -> None:
        self._engine = engine
        self._url = url
        self._schema = schema
        self._clock = clock
        self._keep_snapshots = keep_snapshots
        self._codecs = {kind: RecordCodec(cls, schema.specs[kind]) for kind, cls in KINDS.items()}
        self._insert_event = inbox.insert_statement(schema, engine.dialect.name)
        # SQLite lets one writer in at a time, and one that finds the lock taken polls for it
        # with sleeps of up to 100 ms (its busy handler): this process's writers queue here
        # instead and go in the moment the lock is free. Other processes still poll.
        self._sqlite_writer = threading.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def open(
        cls,
        url: str,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        clock: Clock = system_clock,
        keep_snapshots: int = 5,
        manual_checkpoints: bool = False,
    ) -> Store:
        """Connect, create or upgrade the schema, and return a ready store.

        ``migrations`` is the list of schema steps (tests inject their own); a store whose
        recorded version is newer than the last step is refused with :class:`StoreError`.
        """
        parsed = parse_url(url)
        engine = build_engine(parsed, manual_checkpoints=manual_checkpoints)
        schema = Schema()
        try:
            version = migrate(engine, schema, migrations, clock())
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(
                f"cannot open the store at {display_url(parsed)}: {_cause(exc, parsed)}"
            ) from None
        except BaseException:
            engine.dispose()
            raise
        log.debug("opened store %s at schema version %d", display_url(parsed), version)
        return cls(engine, parsed, schema, clock=clock, keep_snapshots=max(1, keep_snapshots))

    def close(self) -> None:
        self._engine.dispose()

    def checkpoint(self) -> None:
        """Copy an SQLite file's write-ahead log back into the database, without blocking
        readers or writers (a PASSIVE checkpoint); nothing to do on PostgreSQL. For a store
        opened with ``manual_checkpoints``, whose commits leave that to this call."""
        if self._engine.dialect.name != "sqlite":
            return
        # the bare driver connection, in autocommit: a checkpoint cannot run in a transaction
        raw = self._engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            raw.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({display_url(self._url)!r})"

    # --- transactions ---------------------------------------------------------------------

    def _failed(self, exc: SQLAlchemyError, what: str) -> StoreError:
        return StoreError(f"{what} at {display_url(self._url)} failed: {_cause(exc, self._url)}")

    @contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        """A write transaction, one writer at a time on SQLite, its errors as SQLAlchemy's."""
        with self._sqlite_writer or nullcontext(), self._engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                yield connection

    @contextmanager
    def _writing(self, what: str = "writing to the store") -> Iterator[Connection]:
        try:
            with self._write_transaction() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise self._failed(exc, what) from None

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A read transaction that sees one state across all its queries."""
        try:
            with self._engine.connect() as connection:
                if connection.dialect.name == "postgresql":
                    connection.execution_options(isolation_level="REPEATABLE READ")
                with connection.begin():
                    yield connection
        except SQLAlchemyError as exc:
            raise self._failed(exc, "reading the store") from None

    def schema_version(self) -> int:
        with self._reading() as connection:
            return current_version(connection, self._schema)

    # --- writing --------------------------------------------------------------------------

    @contextmanager
    def _refusing(self, what: str) -> Iterator[Connection]:
        """A write transaction whose refused value is raised as :class:`RecordRefused` (to be
        retried without the record at fault) and any other failure as :class:`StoreError`."""
        try:
            with self._write_transaction() as connection:
                yield connection
        except (UnicodeError, OverflowError, RecursionError) as exc:
            # Raised by the driver while binding a value, before the database saw the batch.
            raise RecordRefused(
                f"{what} failed and none of it was kept: "
                f"a value cannot be stored ({type(exc).__name__})"
            ) from exc
        except SQLAlchemyError as exc:
            if _refuses_a_value(exc):
                raise RecordRefused(
                    f"{what} failed and none of it was kept: {reason(exc)}"
                ) from exc
            raise self._failed(exc, f"{what} (none of it was kept)") from None

    def write_batch(
        self,
        *,
        source: str,
        stream: str,
        raws: Sequence[RawRecord],
        records: Sequence[Record],
        cursor: str | None,
        skips: Sequence[Skip] = (),
    ) -> WriteResult:
        """Raws, model records, the skipped records they came with and the cursor in one
        transaction: all of it is kept or none."""
        with self._refusing(f"writing a batch of {source}/{stream}") as connection:
            write_raws(connection, self._schema, source, raws)
            result = write_records(connection, self._schema, self._codecs, records)
            write_skips(connection, self._schema, source, skips, self._clock())
            if cursor is not None:
                write_cursor(connection, self._schema, source, stream, cursor, self._clock())
        return result

    # --- pushed events ---------------------------------------------------------------------

    def receive_event(
        self,
        *,
        source: str,
        dedup_key: str,
        content_type: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> bool:
        """Keep one pushed event, committed before this returns; False for a duplicate.

        Raises :class:`StoreError` when the store cannot take it, so the sender is told to
        retry and nothing is half-kept.
        """
        (new,) = self.receive_events(
            [inbox.Receipt(source, dedup_key, content_type, dict(headers), body)]
        )
        return new

    def receive_events(self, receipts: Sequence[inbox.Receipt]) -> list[bool]:
        """Keep several pushed events in one transaction: all of them or, on error, none.

        For each, in order, whether it was new (False: its dedup key was already stored, or
        came earlier in ``receipts``).
        """
        sources = ", ".join(sorted({r.source for r in receipts}))
        with self._writing(f"keeping events of {sources}") as connection:
            now = self._clock()
            return [
                inbox.insert_event(connection, self._insert_event, receipt, now)
                for receipt in receipts
            ]

    def ids_of_other_sources(
        self, source: str, ids: Mapping[str, Iterable[str]]
    ) -> dict[tuple[str, str], str]:
        """Of these record ids (by kind), those a source other than ``source`` has, with it."""
        found: dict[tuple[str, str], str] = {}
        with self._reading() as connection:
            for kind, wanted in ids.items():
                table = self._schema.models[kind]
                for chunk in _chunks(sorted(set(wanted)), 500):
                    query = select(table.c.id, table.c.source).where(
                        table.c.id.in_(chunk), table.c.source != source
                    )
                    for record_id, other in connection.execute(query):
                        found[kind, record_id] = other
        return found

    def pending_events(self, source: str, limit: int = 200) -> list[inbox.PushedEvent]:
        with self._reading() as connection:
            return inbox.pending_events(connection, self._schema, source, limit)

    def records_by_id(self, kind: str, ids: Iterable[str]) -> dict[str, Record]:
        """The stored records of one kind with these ids (absent ones are left out)."""
        codec = self._codec(kind)
        with self._reading() as connection:
            return inbox.records_by_id(connection, self._schema, codec, kind, ids)

    def finish_events(
        self,
        outcomes: Sequence[inbox.EventOutcome],
        records: Sequence[Record],
        *,
        source: str = "",
        skips: Sequence[Skip] = (),
    ) -> WriteResult:
        """The records normalized from some events, the records skipped from them and the
        events' new status, in one transaction: a crash in between leaves the events pending,
        to be normalized again. A value the database refuses raises :class:`RecordRefused`."""
        with self._refusing(f"storing {len(records)} records of pushed events") as connection:
            result = write_records(connection, self._schema, self._codecs, records)
            write_skips(connection, self._schema, source, skips, self._clock())
            inbox.mark_events(connection, self._schema, outcomes)
        return result

    def event_counts(self) -> dict[tuple[str, str], int]:
        """Stored pushed events by (source, status)."""
        with self._reading() as connection:
            return inbox.event_counts(connection, self._schema)

    def pending_count(self, source: str) -> int:
        """Pushed events of ``source`` waiting to be normalized."""
        with self._reading() as connection:
            return inbox.pending_count(connection, self._schema, source)

    def requeue_events(self, source: str, status: str = inbox.MALFORMED) -> int:
        """Normalize again the events of ``source`` in ``status`` (after a mapping change)."""
        with self._writing() as connection:
            return inbox.requeue_events(connection, self._schema, source, status)

    def record_sync(self, run: SyncRun) -> None:
        with self._writing(f"logging the sync of {run.source}") as connection:
            queries.insert_sync_run(connection, self._schema, run)

    def save_source_state(self, state: SourceState) -> None:
        with self._writing(f"keeping the pause and failures of {state.source}") as connection:
            source_states.save(connection, self._schema, state)

    def source_states(self) -> dict[str, SourceState]:
        with self._reading() as connection:
            return source_states.load(connection, self._schema)

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Store a snapshot and drop all but the newest few."""
        with self._writing("saving the computed metrics") as connection:
            queries.insert_snapshot(connection, self._schema, snapshot, self._keep_snapshots)

    # --- reading --------------------------------------------------------------------------

    def get_cursor(self, source: str, stream: str) -> str | None:
        table = self._schema.sync_cursors
        query = select(table.c.value).where(table.c.source == source, table.c.stream == stream)
        with self._reading() as connection:
            return connection.scalar(query)

    def cursors(self, source: str) -> dict[str, str]:
        table = self._schema.sync_cursors
        query = select(table.c.stream, table.c.value).where(table.c.source == source)
        with self._reading() as connection:
            return {stream: value for stream, value in connection.execute(query)}

    def _codec(self, kind: str) -> RecordCodec:
        codec = self._codecs.get(kind)
        if codec is None:
            raise StoreError(f"unknown record kind {kind!r}; one of {', '.join(self._codecs)}")
        return codec

    def load_dataset(self) -> Dataset:
        """Every model record, read in one consistent transaction, in no particular order.

        To follow up with :meth:`changed_since`, read :meth:`max_seq` *before* loading: a
        record written in between then comes twice, which replacing by id absorbs.
        """
        dataset = Dataset()
        pools = LoadPools()
        with _collector_paused(), self._reading() as connection:
            for kind, codec in self._codecs.items():
                target: list[Any] = getattr(dataset, DATASET_LISTS[kind])
                target.extend(queries.decode_all(connection, self._schema, codec, kind, pools))
        return dataset

    def iter_records(self, kind: str, source: str | None = None) -> Iterator[Record]:
        """Records of one kind (optionally one source) in the order they were last written."""
        codec = self._codec(kind)  # checked now, not at the first next()
        table = self._schema.models[kind]
        query = select(*(table.c[name] for name in codec.names)).order_by(table.c.seq)
        if source is not None:
            query = query.where(table.c.source == source)
        return map(codec.decode, self._stream(query))

    def iter_raw(self, source: str, stream: str | None = None) -> Iterator[RawRecord]:
        """Raw payloads of a source (optionally one stream), by stream and native id."""
        table = self._schema.raw_records
        query = select(
            table.c.stream, table.c.native_id, table.c.payload, table.c.fetched_at, table.c.url
        ).where(table.c.source == source)
        if stream is not None:
            query = query.where(table.c.stream == stream)
        query = query.order_by(table.c.stream, table.c.native_id)
        for row_stream, native_id, payload, fetched_at, url in self._stream(query):
            yield RawRecord(
                row_stream, native_id, json.loads(payload), from_micros(fetched_at), url
            )

    def _stream(self, query: Select[Any]) -> Iterator[Any]:
        """Rows of a query fetched in slices, so a large table never sits in memory whole."""
        with self._reading() as connection:
            streaming = {"stream_results": True, "yield_per": 2000}
            yield from connection.execute(query, execution_options=streaming)

    def changed_since(self, seq: int) -> tuple[list[Record], int]:
        """Records inserted or updated after ``seq``, oldest change first, and the new high-water
        seq to pass next time (``seq`` itself when nothing changed)."""
        with _collector_paused(), self._reading() as connection:
            found = queries.changed_since(connection, self._schema, self._codecs, seq)
        found.sort(key=lambda pair: pair[0])
        high = found[-1][0] if found else seq
        return [record for _, record in found], high

    def max_seq(self) -> int:
        """The newest seq handed out (0 for an empty store)."""
        table = self._schema.store_seq
        with self._reading() as connection:
            return int(connection.scalar(select(table.c.value).where(table.c.id == 1)) or 0)

    def change_marker(self) -> tuple[int, int]:
        """The newest record seq and sync-run id: two index lookups, cheap enough for every tick.

        Either moves when any process writes records or logs a sync, so a server that compares
        it with what it last saw notices another process's writes.
        """
        runs = self._schema.sync_runs
        seq = self._schema.store_seq
        with self._reading() as connection:
            newest_seq = connection.scalar(select(seq.c.value).where(seq.c.id == 1))
            newest_run = connection.scalar(select(func.max(runs.c.id)))
        return int(newest_seq or 0), int(newest_run or 0)

    def counts(self) -> dict[str, int]:
        """Model rows per kind, every kind listed."""
        with self._reading() as connection:
            return {
                kind: int(connection.scalar(select(func.count()).select_from(table)) or 0)
                for kind, table in self._schema.models.items()
            }

    def health(self) -> list[SourceHealth]:
        """Per source, from the whole sync log, sorted by source."""
        with self._reading() as connection:
            return queries.health(connection, self._schema)

    def skipped(self, source: str | None = None) -> list[SkippedRecord]:
        """Records syncs skipped (optionally of one source), the most recently seen first."""
        with self._reading() as connection:
            return queries.skipped_records(connection, self._schema, source)

    def latest_snapshot_at(self) -> datetime | None:
        """When the newest stored snapshot was computed: one index lookup, for every tick."""
        with self._reading() as connection:
            return queries.latest_snapshot_at(connection, self._schema)

    def latest_snapshot(self) -> Snapshot | None:
        with self._reading() as connection:
            return queries.latest_snapshot(connection, self._schema)
