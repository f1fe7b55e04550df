"""The store's read queries and small writes: bulk record loads, sync-run health, snapshots."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, case, func, select

from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import Record
from streamgauge.store.codec import LoadPools, RecordCodec, dump_json, from_micros, to_micros
from streamgauge.store.schema import Schema
from streamgauge.store.types import Skip, SkippedRecord, SourceHealth, SyncRun

# Rows fetched per round trip when loading whole tables.
_FETCH_ROWS = 5000


def decode_all(
    connection: Connection, schema: Schema, codec: RecordCodec, kind: str, pools: LoadPools
) -> Iterator[Record]:
    """Every record of a kind, in storage order, fetched in slices (a server-side cursor on
    PostgreSQL) so that only the records, not the rows too, are ever held whole."""
    table = schema.models[kind]
    query = select(*(table.c[name] for name in codec.names))
    for rows in _row_slices(connection, query):
        yield from codec.decode_rows(rows, pools)


def _row_slices(connection: Connection, query: Select[Any]) -> Iterator[Sequence[Sequence[Any]]]:
    if connection.dialect.name == "sqlite":
        # The bare driver's tuples, in this connection's transaction: SQLAlchemy's Row objects
        # cost a tenth of load time, and the codec converts every column itself.
        cursor = connection.connection.cursor()
        try:
            cursor.execute(str(query.compile(dialect=connection.dialect)))
            while rows := cursor.fetchmany(_FETCH_ROWS):
                yield rows
        finally:
            cursor.close()
        return
    streaming = {"stream_results": True, "yield_per": _FETCH_ROWS}
    yield from connection.execute(query, execution_options=streaming).partitions()


def changed_since(
    connection: Connection, schema: Schema, codecs: dict[str, RecordCodec], seq: int
) -> list[tuple[int, Record]]:
    found: list[tuple[int, Record]] = []
    for kind, codec in codecs.items():
        table = schema.models[kind]
        query = select(table.c.seq, *(table.c[name] for name in codec.names)).where(
            table.c.seq > seq
        )
        for row in connection.execute(query):
            found.append((row[0], codec.decode(row[1:])))
    return found


def insert_sync_run(connection: Connection, schema: Schema, run: SyncRun) -> None:
    connection.execute(
        schema.sync_runs.insert().values(
            source=run.source,
            started_at=to_micros(run.started_at),
            finished_at=to_micros(run.finished_at),
            ok=run.ok,
            records_changed=run.records_changed,
            skipped=run.skipped,
            api_calls=run.api_calls,
            rate_limit_remaining=run.rate_limit_remaining,
            error=run.error,
        )
    )


def health(connection: Connection, schema: Schema) -> list[SourceHealth]:
    """Totals per source over every logged run.

    The rate-limit budget is the newest run's (the last logged); the last error is the message
    of the newest run that had one, kept after the source recovers so it can still be read.
    """
    runs = schema.sync_runs
    totals = (
        select(
            runs.c.source,
            func.max(case((runs.c.ok, runs.c.finished_at))),
            func.sum(case((runs.c.ok, 0), else_=1)),
            func.sum(runs.c.records_changed),
            func.sum(runs.c.skipped),
            func.sum(runs.c.api_calls),
            func.max(runs.c.id),
            func.max(case((runs.c.error.is_not(None), runs.c.id))),
        )
        .group_by(runs.c.source)
        .order_by(runs.c.source)
    )
    rows = connection.execute(totals).all()
    wanted = {row[6] for row in rows} | {row[7] for row in rows if row[7] is not None}
    details: dict[int, tuple[int | None, str | None]] = {}
    if wanted:
        query = select(runs.c.id, runs.c.rate_limit_remaining, runs.c.error).where(
            runs.c.id.in_(sorted(wanted))
        )
        details = {run_id: (budget, error) for run_id, budget, error in connection.execute(query)}
    by_reason: dict[str, list[tuple[str, int]]] = {}
    skipped = schema.skipped_records
    per_reason = (
        select(skipped.c.source, skipped.c.reason, func.sum(skipped.c.times))
        .group_by(skipped.c.source, skipped.c.reason)
        .order_by(skipped.c.source, skipped.c.reason)
    )
    for source, reason, times in connection.execute(per_reason):
        by_reason.setdefault(source, []).append((reason, int(times)))
    logged = [
        SourceHealth(
            source=source,
            last_success_at=from_micros(last_ok) if last_ok is not None else None,
            errors_total=int(errors),
            records_total=int(records),
            skipped_total=int(skipped),
            api_calls_total=int(calls),
            rate_limit_remaining=details[newest][0],
            last_error=details[error_id][1] if error_id is not None else None,
            skipped_by_reason=tuple(by_reason.get(source, ())),
        )
        for source, last_ok, errors, records, skipped, calls, newest, error_id in rows
    ]
    # A pushed source logs no sync run, yet the records skipped from its events count the same.
    pushed = [
        SourceHealth(
            source=source,
            last_success_at=None,
            errors_total=0,
            records_total=0,
            skipped_total=sum(n for _, n in reasons),
            api_calls_total=0,
            rate_limit_remaining=None,
            last_error=None,
            skipped_by_reason=tuple(reasons),
        )
        for source, reasons in by_reason.items()
        if source not in {h.source for h in logged}
    ]
    return sorted(logged + pushed, key=lambda h: h.source)


def skipped_records(
    connection: Connection, schema: Schema, source: str | None
) -> list[SkippedRecord]:
    """Kept skipped records, newest first (then by source and location)."""
    table = schema.skipped_records
    query = select(table).order_by(
        table.c.last_seen_at.desc(), table.c.source, table.c.location, table.c.reason
    )
    if source is not None:
        query = query.where(table.c.source == source)
    return [
        SkippedRecord(
            source=row.source,
            skip=Skip(
                stream=row.stream,
                location=row.location,
                reason=row.reason,
                detail=row.detail,
                record_id=row.record_id,
                excerpt=row.excerpt,
            ),
            first_seen_at=from_micros(row.first_seen_at),
            last_seen_at=from_micros(row.last_seen_at),
            times=int(row.times),
        )
        for row in connection.execute(query)
    ]


def insert_snapshot(connection: Connection, schema: Schema, snapshot: Snapshot, keep: int) -> None:
    table = schema.snapshots
    connection.execute(
        table.insert().values(
            computed_at=to_micros(snapshot.computed_at), payload=dump_json(snapshot.to_json())
        )
    )
    newest = select(table.c.id).order_by(table.c.computed_at.desc(), table.c.id.desc()).limit(keep)
    connection.execute(table.delete().where(table.c.id.not_in(newest.scalar_subquery())))


def latest_snapshot(connection: Connection, schema: Schema) -> Snapshot | None:
    table = schema.snapshots
    query = select(table.c.payload).order_by(table.c.computed_at.desc(), table.c.id.desc())
    payload = connection.scalar(query.limit(1))
    return Snapshot.from_json(json.loads(payload)) if payload is not None else None


def latest_snapshot_at(connection: Connection, schema: Schema) -> datetime | None:
    table = schema.snapshots
    micros = connection.scalar(select(func.max(table.c.computed_at)))
    return from_micros(micros) if micros is not None else None
