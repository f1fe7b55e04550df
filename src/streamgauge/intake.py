"""One page of a sync into the store: every raw record checked, normalized and bounded.

A write the database refuses is retried without the record at fault, so that no record can
block a source or its cursor.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from streamgauge.connectors.base import Connector, RawRecord, SkippableRecord
from streamgauge.model import Record, to_json
from streamgauge.store import RecordRefused, Skip, Store, WriteResult
from streamgauge.store.bounds import (
    OutOfBounds,
    RecordLimits,
    SkipReason,
    check_raw,
    check_record,
    printable,
)

log = logging.getLogger(__name__)

_EXCERPT_CHARS = 500


@dataclass(slots=True)
class Unit:
    """A raw record with the model records it maps to: written, or left out, together."""

    raw: RawRecord
    records: list[Record]


@dataclass(slots=True)
class Prepared:
    """A page made ready to write: what is kept, and what is skipped (with why)."""

    units: list[Unit]
    skips: list[Skip]


def _location(raw: RawRecord) -> str:
    where = printable(raw.native_id)
    return f"{where} ({printable(raw.url)})" if raw.url else where


def _excerpt(value: object, reason: str) -> str | None:
    """The start of a payload or record; none for one too deep or too large to serialize."""
    if reason in (SkipReason.TOO_DEEP, SkipReason.TOO_LARGE):
        return None
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return None
    return printable(text, _EXCERPT_CHARS)


def make_skip(raw: RawRecord, reason: str, detail: str, record: Record | None = None) -> Skip:
    """A skip of ``raw`` (or of one of its records), every text safe for either store."""
    excerpt = _excerpt(to_json(record) if record is not None else dict(raw.payload), reason)
    return Skip(
        stream=printable(raw.stream),
        location=_location(raw),
        reason=reason,
        detail=printable(detail, 1000),
        record_id=printable(record.id) if record is not None else None,
        excerpt=excerpt,
    )


def prepare(
    connector: Connector,
    raws: Sequence[RawRecord],
    *,
    now: datetime,
    limits: RecordLimits,
) -> Prepared:
    """Check and normalize every raw record of a page.

    A raw payload out of bounds is neither kept nor normalized. A raw that does not map, or
    one of whose records is out of bounds, is kept (a later mapping may read it again) and
    none of its records are: a work item never lands without its history, nor the reverse.
    """
    source = connector.name
    units: list[Unit] = []
    skips: list[Skip] = []
    for raw in raws:
        try:
            check_raw(raw, limits)
        except OutOfBounds as exc:
            skips.append(make_skip(raw, exc.reason, str(exc)))
            continue
        try:
            records = list(connector.normalize(raw))
        except SkippableRecord as exc:
            skips.append(make_skip(raw, exc.reason, str(exc)))
            units.append(Unit(raw, []))
            continue
        except (ValueError, ArithmeticError, RecursionError) as exc:
            # A value the mapping could not take (a timestamp that overflows in UTC, a number
            # too large to convert): this record's fault, never the source's.
            skips.append(make_skip(raw, SkipReason.MALFORMED, f"{type(exc).__name__}: {exc}"))
            units.append(Unit(raw, []))
            continue
        kept = records
        for record in records:
            try:
                check_record(record, source, now, limits)
            except OutOfBounds as exc:
                skips.append(make_skip(raw, exc.reason, str(exc), record))
                kept = []
                break
        units.append(Unit(raw, kept))
    return Prepared(units, skips)


def without_taken_ids(prepared: Prepared, store: Store, source: str) -> Prepared:
    """``prepared`` with the records whose id another source's record has left out, skipped
    as ``id_taken``: a record of one source never takes the place of another's, in the store
    or in the metrics (which know records by id). Their raw records are kept."""
    wanted: dict[str, set[str]] = {}
    for unit in prepared.units:
        for record in unit.records:
            wanted.setdefault(record.kind, set()).add(record.id)
    taken = store.ids_of_other_sources(source, wanted) if wanted else {}
    if not taken:
        return prepared
    units: list[Unit] = []
    skips = list(prepared.skips)
    for unit in prepared.units:
        clash = next((r for r in unit.records if (r.kind, r.id) in taken), None)
        if clash is None:
            units.append(unit)
            continue
        owner = taken[clash.kind, clash.id]
        detail = f"id: {printable(clash.id, 80)!r} is already a record of source {owner!r}"
        skips.append(make_skip(unit.raw, SkipReason.ID_TAKEN, detail, clash))
        units.append(Unit(unit.raw, []))
    return Prepared(units, skips)


def write_page(
    store: Store,
    *,
    source: str,
    stream: str,
    units: Sequence[Unit],
    skips: Sequence[Skip],
    cursor: str | None,
) -> tuple[WriteResult, list[Skip]]:
    """Write a page with its cursor; returns what was written and the records the store refused.

    When the database refuses a value, the page is split in halves and each written on its own
    (the cursor with the last), down to the one raw record at fault, which is skipped: the
    other records and the cursor land, and the next sync does not meet that record again.
    A failure of the store itself (disk full, connection lost) is raised as it is.
    """
    try:
        written = store.write_batch(
            source=source,
            stream=stream,
            raws=[u.raw for u in units],
            records=[r for u in units for r in u.records],
            cursor=cursor,
            skips=skips,
        )
        return written, []
    except RecordRefused as exc:
        if not units:
            raise
        if len(units) == 1:
            refused = make_skip(units[0].raw, SkipReason.WRITE_FAILED, str(exc))
            log.warning(
                "%s/%s: skipped %s (%s): %s",
                source,
                stream,
                refused.location,
                refused.reason,
                refused.detail,
            )
            written = store.write_batch(
                source=source,
                stream=stream,
                raws=[],
                records=[],
                cursor=cursor,
                skips=[*skips, refused],
            )
            return written, [refused]
    half = len(units) // 2
    first, first_refused = write_page(
        store, source=source, stream=stream, units=units[:half], skips=skips, cursor=None
    )
    second, second_refused = write_page(
        store, source=source, stream=stream, units=units[half:], skips=(), cursor=cursor
    )
    return first + second, first_refused + second_refused
