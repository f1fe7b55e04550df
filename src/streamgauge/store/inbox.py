"""Pushed events: kept as received before the answer, normalized later, each exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from streamgauge.model import Record
from streamgauge.store.codec import RecordCodec, from_micros, to_micros
from streamgauge.store.schema import Schema
from streamgauge.store.writes import _chunks, _upsert

PENDING = "pending"
NORMALIZED = "normalized"
IGNORED = "ignored"  # an event type no metric uses; kept, answered 202
MALFORMED = "malformed"  # kept for a replay once the mapping or the sender is fixed
STATUSES = (PENDING, NORMALIZED, IGNORED, MALFORMED)


@dataclass(frozen=True, slots=True)
class PushedEvent:
    """One stored request: what the sender sent, byte for byte, and its headers."""

    id: int
    source: str
    dedup_key: str
    received_at: datetime
    content_type: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What normalizing made of one stored event."""

    id: int
    status: str
    error: str | None = None


def insert_statement(schema: Schema, dialect: str) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` of one event, built once per store:
    a receipt is a hot path, and building the statement costs more than running it."""
    table = schema.webhook_events
    insert: Any = _upsert(table, dialect)
    # RETURNING tells a new row from a conflict alike on both databases (rowcount does not:
    # an INSERT with an implicit RETURNING may report -1)
    return insert.on_conflict_do_nothing(
        index_elements=[table.c.source, table.c.dedup_key]
    ).returning(table.c.id)


@dataclass(frozen=True, slots=True)
class Receipt:
    """One request to keep: where it was sent, its dedup key, and what came."""

    source: str
    dedup_key: str
    content_type: str
    headers: Mapping[str, str]
    body: bytes


def insert_event(
    connection: Connection, statement: Any, receipt: Receipt, received_at: datetime
) -> bool:
    """Store one event unless its dedup key is already stored; True when it was new."""
    row = {
        "source": receipt.source,
        "dedup_key": receipt.dedup_key,
        "received_at": to_micros(received_at),
        "content_type": receipt.content_type,
        "headers": json.dumps(dict(receipt.headers), sort_keys=True, separators=(",", ":")),
        "body": receipt.body,
        "status": PENDING,
    }
    return connection.execute(statement, row).first() is not None


def pending_events(
    connection: Connection, schema: Schema, source: str, limit: int
) -> list[PushedEvent]:
    """The oldest events of ``source`` not normalized yet, in the order they were received."""
    table = schema.webhook_events
    query = (
        select(
            table.c.id,
            table.c.dedup_key,
            table.c.received_at,
            table.c.content_type,
            table.c.headers,
            table.c.body,
        )
        .where(table.c.source == source, table.c.status == PENDING)
        .order_by(table.c.id)
        .limit(limit)
    )
    return [
        PushedEvent(
            int(row_id), source, key, from_micros(received), ctype, json.loads(headers), bytes(body)
        )
        for row_id, key, received, ctype, headers, body in connection.execute(query)
    ]


def mark_events(connection: Connection, schema: Schema, outcomes: Sequence[EventOutcome]) -> None:
    """Set each event's status; only a pending event moves, so a second pass changes nothing."""
    if not outcomes:
        return
    table = schema.webhook_events
    statement = (
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.status == PENDING)
        .values(status=bindparam("b_status"), error=bindparam("b_error"))
    )
    connection.execute(
        statement,
        [{"b_id": o.id, "b_status": o.status, "b_error": o.error} for o in outcomes],
    )


def event_counts(connection: Connection, schema: Schema) -> dict[tuple[str, str], int]:
    """Stored events by (source, status)."""
    table = schema.webhook_events
    query = select(table.c.source, table.c.status, func.count()).group_by(
        table.c.source, table.c.status
    )
    return {(source, status): int(n) for source, status, n in connection.execute(query)}


def pending_count(connection: Connection, schema: Schema, source: str) -> int:
    """Events of ``source`` not normalized yet (an index range, not a scan of the table)."""
    table = schema.webhook_events
    query = (
        select(func.count())
        .select_from(table)
        .where(table.c.source == source, table.c.status == PENDING)
    )
    return int(connection.scalar(query) or 0)


def requeue_events(connection: Connection, schema: Schema, source: str, status: str) -> int:
    """Put every event of ``source`` in ``status`` back in line for normalizing."""
    table = schema.webhook_events
    statement = (
        table.update()
        .where(table.c.source == source, table.c.status == status)
        .values(status=PENDING, error=None)
    )
    return int(connection.execute(statement).rowcount)


def records_by_id(
    connection: Connection,
    schema: Schema,
    codec: RecordCodec,
    kind: str,
    ids: Iterable[str],
) -> dict[str, Record]:
    """The stored records of one kind with these ids."""
    table = schema.models[kind]
    found: dict[str, Record] = {}
    for chunk in _chunks(sorted(set(ids)), 500):
        query = select(*(table.c[name] for name in codec.names)).where(table.c.id.in_(chunk))
        for row in connection.execute(query):
            record = codec.decode(row)
            found[record.id] = record
    return found
