"""One write batch: raw payloads, model upserts by digest, then the cursor, in one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from streamgauge.connectors.base import RawRecord
from streamgauge.model import Record
from streamgauge.store.codec import RecordCodec, dump_json, to_micros
from streamgauge.store.schema import Schema
from streamgauge.store.types import RecordRefused, Skip, StoreError, WriteResult

# Ids per `IN (...)` lookup: well under SQLite's oldest parameter limit (999).
_LOOKUP_CHUNK = 500


@dataclass(slots=True)
class _KindPlan:
    """The rows of one model table that a batch inserts and updates."""

    table: Table
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)


def _upsert(table: Table, dialect: str) -> Any:
    """``INSERT ... ON CONFLICT`` in the dialect's own construct (both spell it the same)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise StoreError(f"no upsert for database {dialect!r}")


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_raws(
    connection: Connection, schema: Schema, source: str, raws: Sequence[RawRecord]
) -> None:
    """Upsert raw payloads; one whose payload and URL are unchanged keeps its row as it was.

    Keeping the first ``fetched_at`` of an unchanged payload is what makes a second sync of the
    same data leave the store byte-for-byte unchanged.
    """
    if not raws:
        return
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in raws:  # the last copy of a payload in a batch wins
        try:
            payload = dump_json(raw.payload)
        except (TypeError, ValueError, RecursionError) as exc:
            raise RecordRefused(
                f"raw payload {source}/{raw.stream}/{raw.native_id} is not JSON: {exc}"
            ) from None
        rows[(raw.stream, raw.native_id)] = {
            "source": source,
            "stream": raw.stream,
            "native_id": raw.native_id,
            "payload": payload,
            "url": raw.url,
            "fetched_at": to_micros(raw.fetched_at),
        }
    table = schema.raw_records
    insert: Any = _upsert(table, connection.dialect.name)
    statement: Insert = insert.on_conflict_do_update(
        index_elements=[table.c.source, table.c.stream, table.c.native_id],
        set_={
            "payload": insert.excluded.payload,
            "url": insert.excluded.url,
            "fetched_at": insert.excluded.fetched_at,
        },
        where=or_(
            table.c.payload != insert.excluded.payload,
            table.c.url.is_distinct_from(insert.excluded.url),
        ),
    )
    connection.execute(statement, list(rows.values()))


def write_records(
    connection: Connection,
    schema: Schema,
    codecs: dict[str, RecordCodec],
    records: Sequence[Record],
) -> WriteResult:
    """Insert new records, rewrite changed ones, leave identical ones untouched.

    A record is found by its source and id together, so one source's record never rewrites
    another source's, whatever ids they carry.
    """
    by_kind: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for record in records:
        codec = codecs.get(record.kind)
        if codec is None or type(record) is not codec.cls:
            raise StoreError(f"{record.id}: {type(record).__name__} is not a stored model kind")
        by_kind.setdefault(record.kind, {})[(record.source, record.id)] = codec.encode(record)

    plans: list[_KindPlan] = []
    unchanged = 0
    for kind, rows in by_kind.items():
        plan = _KindPlan(schema.models[kind])
        stored = _stored_digests(connection, plan.table, list(rows))
        for key, row in rows.items():
            old = stored.get(key)
            if old is None:
                plan.inserts.append(row)
            elif old != row["digest"]:
                plan.updates.append(row)
            else:
                unchanged += 1
        plans.append(plan)

    inserted = sum(len(p.inserts) for p in plans)
    updated = sum(len(p.updates) for p in plans)
    if inserted + updated:
        seq = _take_seq(connection, schema, inserted + updated)
        for plan in plans:
            for row in plan.inserts + plan.updates:
                seq += 1
                row["seq"] = seq
            if plan.inserts:
                connection.execute(plan.table.insert(), plan.inserts)
            if plan.updates:
                _update_rows(connection, plan.table, plan.updates)
    return WriteResult(inserted=inserted, updated=updated, unchanged=unchanged)


def _stored_digests(
    connection: Connection, table: Table, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    ids_of: dict[str, list[str]] = {}
    for source, record_id in keys:
        ids_of.setdefault(source, []).append(record_id)
    stored: dict[tuple[str, str], str] = {}
    for source, ids in ids_of.items():
        for chunk in _chunks(ids, _LOOKUP_CHUNK):
            query = select(table.c.id, table.c.digest).where(
                table.c.source == source, table.c.id.in_(chunk)
            )
            stored.update(
                ((source, record_id), old) for record_id, old in connection.execute(query)
            )
    return stored


def _take_seq(connection: Connection, schema: Schema, count: int) -> int:
    """Reserve ``count`` seq values; returns the last one handed out before them."""
    counter = schema.store_seq
    # The UPDATE locks the counter row until commit (PostgreSQL) or the whole database is
    # write-locked already (SQLite), so concurrent batches get their seq in commit order.
    bump = counter.update().where(counter.c.id == 1).values(value=counter.c.value + count)
    connection.execute(bump)
    last = connection.scalar(select(counter.c.value).where(counter.c.id == 1))
    if last is None:
        raise StoreError("the store has no seq counter; it was not created by streamgauge")
    return int(last) - count


def _update_rows(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    # The SET clause comes from the parameter keys; the key is matched, never rewritten.
    statement = table.update().where(
        table.c.id == bindparam("b_id"), table.c.source == bindparam("b_source")
    )
    params = [
        {k: v for k, v in row.items() if k not in ("id", "source")}
        | {"b_id": row["id"], "b_source": row["source"]}
        for row in rows
    ]
    connection.execute(statement, params)


def write_skips(
    connection: Connection, schema: Schema, source: str, skips: Sequence[Skip], now: datetime
) -> None:
    """Keep skipped records for inspection; one seen again counts once more."""
    if not skips:
        return
    rows: dict[str, dict[str, Any]] = {}
    for skip in skips:
        row = rows.get(skip.key)
        if row is not None:
            row["times"] += 1
            continue
        rows[skip.key] = {
            "source": source,
            "key": skip.key,
            "stream": skip.stream,
            "location": skip.location,
            "record_id": skip.record_id,
            "reason": skip.reason,
            "detail": skip.detail,
            "excerpt": skip.excerpt,
            "first_seen_at": to_micros(now),
            "last_seen_at": to_micros(now),
            "times": 1,
        }
    table = schema.skipped_records
    insert: Any = _upsert(table, connection.dialect.name)
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.source, table.c.key],
        set_={
            "detail": insert.excluded.detail,
            "excerpt": insert.excluded.excerpt,
            "last_seen_at": insert.excluded.last_seen_at,
            "times": table.c.times + insert.excluded.times,
        },
    )
    connection.execute(statement, list(rows.values()))


def write_cursor(
    connection: Connection, schema: Schema, source: str, stream: str, value: str, now: datetime
) -> None:
    """Store a cursor as given; ``updated_at`` moves only when the value does."""
    table = schema.sync_cursors
    insert: Any = _upsert(table, connection.dialect.name)
    statement = insert.values(
        source=source, stream=stream, value=value, updated_at=to_micros(now)
    ).on_conflict_do_update(
        index_elements=[table.c.source, table.c.stream],
        set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
        where=table.c.value != insert.excluded.value,
    )
    connection.execute(statement)
