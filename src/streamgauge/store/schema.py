"""The store's tables: one per model kind, derived from the record dataclasses, plus bookkeeping."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from streamgauge.model import KINDS, Record

FieldType = Literal["str", "int", "bool", "enum", "datetime", "strings"]

# Every timestamp is stored as integer microseconds since the Unix epoch (UTC): it round-trips
# exactly on SQLite and PostgreSQL alike, sorts and compares as a number, and needs no
# dialect-specific time-zone handling.
_COLUMN_TYPES: dict[FieldType, TypeEngine[Any]] = {
    "str": Text(),
    "int": Integer(),
    "bool": Boolean(),
    "enum": Text(),
    "datetime": BigInteger(),
    "strings": Text(),  # JSON array text
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How one field of a model record is stored."""

    name: str
    form: FieldType
    nullable: bool
    enum: type[StrEnum] | None = None


def field_specs(cls: type[Record]) -> tuple[FieldSpec, ...]:
    """The stored form of every field of a record class, in declaration order."""
    hints = typing.get_type_hints(cls)
    return tuple(_spec(f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _spec(name: str, hint: Any) -> FieldSpec:
    nullable = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"{name}: only `X | None` unions can be stored, not {hint}")
        hint, nullable = args[0], True
    if typing.get_origin(hint) is tuple:
        return FieldSpec(name, "strings", nullable)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return FieldSpec(name, "enum", nullable, hint)
    simple: dict[Any, FieldType] = {str: "str", int: "int", bool: "bool", datetime: "datetime"}
    if hint in simple:
        return FieldSpec(name, simple[hint], nullable)
    raise TypeError(f"{name}: no stored form for {hint}")


class Schema:
    """Every table of the store, built fresh for each store (no shared module-level metadata)."""

    def __init__(self) -> None:
        self.metadata = MetaData()
        md = self.metadata
        self.specs: dict[str, tuple[FieldSpec, ...]] = {k: field_specs(c) for k, c in KINDS.items()}
        self.models: dict[str, Table] = {k: self._model_table(k) for k in KINDS}
        self.raw_records = Table(
            "raw_records",
            md,
            Column("source", Text, primary_key=True),
            Column("stream", Text, primary_key=True),
            Column("native_id", Text, primary_key=True),
            Column("payload", Text, nullable=False),
            Column("url", Text),
            Column("fetched_at", BigInteger, nullable=False),
        )
        self.sync_cursors = Table(
            "sync_cursors",
            md,
            Column("source", Text, primary_key=True),
            Column("stream", Text, primary_key=True),
            Column("value", Text, nullable=False),
            Column("updated_at", BigInteger, nullable=False),
        )
        # Records a sync skipped, one row per skipped record (by source and `key`, a digest of
        # where it came from and why), kept for `streamgauge skipped`. Every text is escaped and
        # cut short first: what failed to be stored must not fail again here.
        self.skipped_records = Table(
            "skipped_records",
            md,
            Column("source", Text, primary_key=True),
            Column("key", Text, primary_key=True),
            Column("stream", Text, nullable=False),
            Column("location", Text, nullable=False),
            Column("record_id", Text),
            Column("reason", Text, nullable=False),
            Column("detail", Text, nullable=False),
            Column("excerpt", Text),
            Column("first_seen_at", BigInteger, nullable=False),
            Column("last_seen_at", BigInteger, nullable=False),
            Column("times", BigInteger, nullable=False),
        )
        self.sync_runs = Table(
            "sync_runs",
            md,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("source", Text, nullable=False, index=True),
            Column("started_at", BigInteger, nullable=False),
            Column("finished_at", BigInteger, nullable=False),
            Column("ok", Boolean, nullable=False),
            Column("records_changed", Integer, nullable=False),
            Column("skipped", Integer, nullable=False),
            Column("api_calls", Integer, nullable=False),
            Column("rate_limit_remaining", Integer),
            Column("error", Text),
        )
        # Per source, the pause its rate limit asked for and since when it has failed: kept so
        # that a restarted process neither asks a paused API at once nor forgets how long a
        # source has failed. A row with both empty is deleted.
        self.source_states = Table(
            "source_states",
            md,
            Column("source", Text, primary_key=True),
            Column("paused_until", BigInteger),
            Column("failing_since", BigInteger),
        )
        self.snapshots = Table(
            "snapshots",
            md,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("computed_at", BigInteger, nullable=False, index=True),
            Column("payload", Text, nullable=False),
        )
        # One row: the last `seq` handed out. Writers update it inside their transaction, so
        # the row lock orders them and seq values become visible in commit order; a reader
        # that saw seq N can never later find a new row with a seq below N.
        self.store_seq = Table(
            "store_seq",
            md,
            Column("id", Integer, primary_key=True, autoincrement=False),
            Column("value", BigInteger, nullable=False),
        )
        # Pushed events as received: the raw body and its headers, kept before the sender is
        # answered; `dedup_key` makes a redelivery a no-op, `status` says what normalizing made
        # of it (pending, normalized, ignored, malformed) so a restart resumes the pending ones.
        self.webhook_events = Table(
            "webhook_events",
            md,
            Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
            Column("source", Text, nullable=False),
            Column("dedup_key", Text, nullable=False),
            Column("received_at", BigInteger, nullable=False),
            Column("content_type", Text, nullable=False),
            Column("headers", Text, nullable=False),
            Column("body", LargeBinary, nullable=False),
            Column("status", Text, nullable=False),
            Column("error", Text),
            Index("ix_webhook_events_dedup", "source", "dedup_key", unique=True),
            Index("ix_webhook_events_status", "source", "status", "id"),
        )
        self.schema_version = Table(
            "schema_version",
            md,
            Column("version", Integer, primary_key=True, autoincrement=False),
            Column("description", Text, nullable=False),
            Column("applied_at", BigInteger, nullable=False),
        )

    def _model_table(self, kind: str) -> Table:
        # Keyed by source and id: a record of one source never takes the place of another's.
        columns = [
            Column(
                s.name,
                _COLUMN_TYPES[s.form],
                primary_key=s.name in ("source", "id"),
                nullable=s.nullable,
            )
            for s in self.specs[kind]
        ]
        table = Table(
            kind,
            self.metadata,
            *columns,
            Column("digest", Text, nullable=False),
            Column("seq", BigInteger, nullable=False),
        )
        # iter_records filters by source; changed_since scans by seq.
        Index(f"ix_{kind}_source", table.c.source)
        Index(f"ix_{kind}_seq", table.c.seq, unique=True)
        return table

    def model_columns(self, kind: str) -> list[str]:
        """The model field columns of a kind, in the order records are built from."""
        return [s.name for s in self.specs[kind]]
