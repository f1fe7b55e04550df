"""Numbered forward migrations: an older data file is brought up to date when it is opened.

A new data file is created directly at the newest version from the table definitions in
``schema.py``; an existing file runs, in order and in one transaction, every step above the
version it records. So each step after the first must turn the previous version's tables into
exactly what the definitions create now: when a model field is added, add a step that adds its
column (nullable, or with the field's default).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, MetaData, Table, func, inspect, select

from streamgauge.store.codec import to_micros
from streamgauge.store.engine import WRITE_OPTION
from streamgauge.store.schema import Schema
from streamgauge.store.types import StoreError

log = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock held while migrating, so that two replicas starting at
# once do not both upgrade the same database. Any fixed 64-bit number works; this is "sgschema".
_MIGRATION_LOCK = 0x7367736368656D61


@dataclass(frozen=True, slots=True)
class Migration:
    """One step: ``apply`` turns version ``version - 1`` into ``version``."""

    version: int
    description: str
    apply: Callable[[Connection, Schema], None]


def _create_tables(connection: Connection, schema: Schema) -> None:
    schema.metadata.create_all(connection)


def _key_by_source(connection: Connection, schema: Schema) -> None:
    """Version 1 keyed model records by id alone; key them by id and source, and add the table
    of skipped records."""
    for kind, table in schema.models.items():
        if connection.dialect.name == "postgresql":
            name = inspect(connection).get_pk_constraint(kind)["name"]
            connection.exec_driver_sql(f'ALTER TABLE "{kind}" DROP CONSTRAINT "{name}"')
            connection.exec_driver_sql(f'ALTER TABLE "{kind}" ADD PRIMARY KEY (id, source)')
            continue
        # SQLite cannot change a primary key in place: copy the rows into a new table.
        old = f"{kind}_by_id"
        connection.exec_driver_sql(f'ALTER TABLE "{kind}" RENAME TO "{old}"')
        for index in table.indexes:
            connection.exec_driver_sql(f'DROP INDEX "{index.name}"')
        table.create(connection)
        previous = Table(old, MetaData(), autoload_with=connection)
        names = [c.name for c in table.columns]
        copy = select(*(previous.c[name] for name in names))
        connection.execute(table.insert().from_select(names, copy))
        previous.drop(connection)
    schema.skipped_records.create(connection, checkfirst=True)


def _create_webhook_events(connection: Connection, schema: Schema) -> None:
    # A store created at version 1 by this code already has the table (step 1 creates every
    # table defined now); one created by an older streamgauge gets it here.
    schema.webhook_events.create(connection, checkfirst=True)


def _create_source_states(connection: Connection, schema: Schema) -> None:
    schema.source_states.create(connection, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "raw records, model tables, cursors, sync runs, snapshots", _create_tables),
    Migration(2, "model records keyed by source and id; skipped records", _key_by_source),
    Migration(3, "pushed events received by webhook sources", _create_webhook_events),
    Migration(4, "rate-limit pauses and failing-since times of sources", _create_source_states),
)


def current_version(connection: Connection, schema: Schema) -> int:
    """The version a database records; 0 for an empty database."""
    if not inspect(connection).has_table(schema.schema_version.name):
        return 0
    version = connection.scalar(select(func.max(schema.schema_version.c.version)))
    return int(version or 0)


def migrate(engine: Engine, schema: Schema, migrations: Sequence[Migration], now: datetime) -> int:
    """Bring the database up to the newest of ``migrations``; returns that version."""
    _check_numbering(migrations)
    newest = migrations[-1].version
    with engine.connect() as connection:
        connection.execution_options(**{WRITE_OPTION: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            found = current_version(connection, schema)
            if found > newest:
                raise StoreError(
                    f"the store is at schema version {found}, but this streamgauge knows "
                    f"versions up to {newest}; run a newer streamgauge or point it at another "
                    "store"
                )
            if found == 0:
                migrations[0].apply(connection, schema)
                connection.execute(schema.store_seq.insert().values(id=1, value=0))
                _record(connection, schema, migrations[-1], now)
                log.info("created a new store at schema version %d", newest)
                return newest
            for step in migrations:
                if step.version > found:
                    log.info(
                        "upgrading the store to schema version %d: %s",
                        step.version,
                        step.description,
                    )
                    step.apply(connection, schema)
                    _record(connection, schema, step, now)
    return newest


def _record(connection: Connection, schema: Schema, step: Migration, now: datetime) -> None:
    connection.execute(
        schema.schema_version.insert().values(
            version=step.version, description=step.description, applied_at=to_micros(now)
        )
    )


def _check_numbering(migrations: Sequence[Migration]) -> None:
    numbers = [m.version for m in migrations]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StoreError(f"migrations must be numbered 1, 2, 3, ... without gaps, not {numbers}")
