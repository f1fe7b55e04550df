"""Rate-limit pauses and failing-since times of sources, kept across restarts."""

from __future__ import annotations

from sqlalchemy import Connection, select

from streamgauge.store.codec import from_micros, to_micros
from streamgauge.store.schema import Schema
from streamgauge.store.types import SourceState


def save(connection: Connection, schema: Schema, state: SourceState) -> None:
    """Replace the row of ``state.source``; a source neither paused nor failing has none."""
    table = schema.source_states
    connection.execute(table.delete().where(table.c.source == state.source))
    if state.paused_until is None and state.failing_since is None:
        return
    connection.execute(
        table.insert().values(
            source=state.source,
            paused_until=None if state.paused_until is None else to_micros(state.paused_until),
            failing_since=None if state.failing_since is None else to_micros(state.failing_since),
        )
    )


def load(connection: Connection, schema: Schema) -> dict[str, SourceState]:
    table = schema.source_states
    rows = connection.execute(select(table.c.source, table.c.paused_until, table.c.failing_since))
    return {
        source: SourceState(
            source,
            paused_until=None if paused is None else from_micros(paused),
            failing_since=None if failing is None else from_micros(failing),
        )
        for source, paused, failing in rows
    }
