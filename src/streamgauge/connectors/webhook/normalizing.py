"""Stored pushed events to records, held to the bounds every pulled record is held to.

Each event is checked as a raw payload (nesting, size, lone surrogates), mapped, and each of
its records checked against the stores' bounds and against the ids of other sources, by the
same functions a sync uses (:mod:`streamgauge.intake`, :mod:`streamgauge.store.bounds`). An
event out of bounds is kept as malformed (for ``streamgauge replay``) and its skipped records
are kept for ``streamgauge skipped``, counted by reason: no poisoned event blocks the next.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from streamgauge.connectors.base import RawRecord, SkippableRecord
from streamgauge.connectors.webhook import envelope
from streamgauge.connectors.webhook.connector import WebhookConnector
from streamgauge.connectors.webhook.merge import merge
from streamgauge.intake import Prepared, Unit, make_skip, without_taken_ids
from streamgauge.model import Change, Incident, Record
from streamgauge.store import Skip, Store
from streamgauge.store.bounds import (
    OutOfBounds,
    RecordLimits,
    SkipReason,
    check_raw,
    check_record,
    printable,
)
from streamgauge.store.inbox import IGNORED, MALFORMED, NORMALIZED, EventOutcome, PushedEvent

log = logging.getLogger(__name__)

STREAM = "events"  # the stream name skipped pushed records are kept under


@dataclass(slots=True)
class Batch:
    """What some events map to: their outcomes, the records to write, the records skipped."""

    outcomes: list[EventOutcome] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)


def _body(body: bytes) -> tuple[Any, Any]:
    """The body as JSON for the bounds' checks, its text when it is no JSON (the mapping then
    says what is wrong); and the body for the mapping, parsed as :func:`envelope.read` would
    parse it, else ``envelope.UNPARSED`` for the mapping to parse and name what is wrong.
    Raises RecursionError for JSON nested beyond what can be parsed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="replace")
        strict = False
    else:
        strict = True
    try:
        value = json.loads(text)
    except ValueError:
        return text, envelope.UNPARSED
    return value, value if strict else envelope.UNPARSED


def _raw(event: PushedEvent, payload: Any) -> RawRecord:
    return RawRecord(
        stream=STREAM,
        native_id=f"event {event.id}",
        payload=payload if isinstance(payload, dict) else {"body": payload},
        fetched_at=event.received_at,
    )


def _where(raw: RawRecord, event: PushedEvent) -> RawRecord:
    """``raw`` naming the event's dedup key too, for the skipped record's location."""
    return replace(raw, url=printable(event.dedup_key, 200))


def prepare_events(
    connector: WebhookConnector,
    events: Sequence[PushedEvent],
    *,
    now: datetime,
    limits: RecordLimits,
) -> tuple[list[EventOutcome], list[Unit], list[Skip], list[bool]]:
    """Check and map each event; returns outcomes, units (one per event or per record of a
    list), skips, and per unit whether its records are parts to merge with stored ones."""
    source = connector.name
    outcomes: list[EventOutcome] = []
    units: list[Unit] = []
    partial: list[bool] = []
    skips: list[Skip] = []

    def skipped(event: PushedEvent, raw: RawRecord, reason: str, detail: str) -> None:
        skips.append(make_skip(_where(raw, event), reason, detail))
        outcomes.append(EventOutcome(event.id, MALFORMED, printable(detail, 1000)))

    for event in events:
        try:
            payload, parsed = _body(event.body)
            raw = _raw(event, payload)
        except RecursionError:
            raw = _raw(event, {})
            skipped(event, raw, SkipReason.TOO_DEEP, "body: JSON nested too deep to read")
            continue
        try:
            check_raw(raw, limits)
            normalized = connector.normalize_request(
                event.content_type, event.headers, event.body, parsed
            )
        except OutOfBounds as exc:
            skipped(event, raw, exc.reason, str(exc))
            continue
        except SkippableRecord as exc:
            skipped(event, raw, exc.reason, str(exc))
            continue
        except (ValueError, ArithmeticError, RecursionError) as exc:
            # a value the mapping could not take: this event's fault, never the source's
            skipped(event, raw, SkipReason.MALFORMED, f"{type(exc).__name__}: {exc}")
            continue
        if normalized is None:
            outcomes.append(EventOutcome(event.id, IGNORED))
            continue
        problems = list(normalized.errors)
        for detail in normalized.errors:
            skips.append(make_skip(_where(raw, event), SkipReason.MALFORMED, detail))
        # a CDEvent's records land together or not at all; a list's records each on their own
        groups = [normalized.records] if normalized.partial else [[r] for r in normalized.records]
        for group in groups:
            try:
                for record in group:
                    check_record(record, source, now, limits)
            except OutOfBounds as exc:
                skips.append(make_skip(_where(raw, event), exc.reason, str(exc), record))
                problems.append(f"{printable(record.id, 80)}: {exc}")
                continue
            units.append(Unit(_where(raw, event), list(group)))
            partial.append(normalized.partial)
        if problems:
            error = printable("; ".join(problems[:5]), 1000)
            outcomes.append(EventOutcome(event.id, MALFORMED, error))
        else:
            outcomes.append(EventOutcome(event.id, NORMALIZED))
    return outcomes, units, skips, partial


def normalize_events(
    connector: WebhookConnector,
    store: Store,
    events: Sequence[PushedEvent],
    *,
    now: datetime,
    limits: RecordLimits,
) -> Batch:
    """The outcomes, records (merged with what is stored) and skips of some events."""
    outcomes, units, skips, partial = prepare_events(connector, events, now=now, limits=limits)
    taken = without_taken_ids(Prepared(units, skips), store, connector.name)
    # one unit back per unit given, emptied when a record's id is another source's
    clashed = {
        _event_id(before.raw)
        for before, after in zip(units, taken.units, strict=True)
        if before.records and not after.records
    }
    outcomes = [
        EventOutcome(o.id, MALFORMED, "a record's id is already another source's")
        if o.id in clashed and o.status == NORMALIZED
        else o
        for o in outcomes
    ]
    whole = [r for u, p in zip(taken.units, partial, strict=True) if not p for r in u.records]
    parts = [r for u, p in zip(taken.units, partial, strict=True) if p for r in u.records]
    for skip in taken.skips:
        log.warning(
            "%s: skipped %s (%s): %s", connector.name, skip.location, skip.reason, skip.detail
        )
    return Batch(outcomes, merged(store, parts, whole), list(taken.skips))


def _event_id(raw: RawRecord) -> int:
    return int(raw.native_id.removeprefix("event "))


def merged(store: Store, partial: list[Record], whole: list[Record]) -> list[Record]:
    """Whole records as given (the last of an id wins); parts merged with what is stored."""
    out: dict[str, Record] = {r.id: r for r in whole}
    mergeable = [r for r in partial if isinstance(r, Change | Incident)]
    stored: dict[str, Record] = {}
    for kind in {r.kind for r in mergeable}:
        ids = [r.id for r in mergeable if r.kind == kind and r.id not in out]
        stored.update(store.records_by_id(kind, ids))
    for record in partial:
        before = out.get(record.id) or stored.get(record.id)
        out[record.id] = merge(before, record) if before is not None else record
    return list(out.values())
