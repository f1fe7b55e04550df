"""What both stores accept: the bounds every raw payload and model record is checked against.

SQLite and PostgreSQL refuse different things (PostgreSQL a NUL in text, an ``integer`` of
2^31 or more and an index entry over about 2.7 KB; SQLite an integer of 2^63 or more; both a
lone surrogate, which has no UTF-8 form), and Python's JSON encoder gives up on deep nesting.
Checking one set of bounds before a write makes the two stores keep exactly the same records,
and names the field at fault instead of failing a whole page in the database.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from streamgauge.connectors.base import RawRecord
from streamgauge.model import KINDS, Record
from streamgauge.store.schema import FieldSpec, field_specs


class SkipReason(StrEnum):
    """Why a record was skipped: the ``reason`` label of ``streamgauge_sync_records_skipped_total``."""

    MALFORMED = "malformed"  # the connector could not map it onto the model
    TOO_DEEP = "too_deep"  # JSON nested deeper than the bound
    TOO_LARGE = "too_large"  # a string, a list or a whole payload over its bound
    INVALID_TEXT = "invalid_text"  # a NUL character or a lone surrogate
    INTEGER_RANGE = "integer_range"  # an integer outside what both stores hold
    TIMESTAMP_RANGE = "timestamp_range"  # before 1970 or further ahead than the bound
    TIME_ORDER = "time_order"  # a work item done before it started
    INVALID_ID = "invalid_id"  # an empty id, an id over the bound
    ID_TAKEN = "id_taken"  # an id another source's record already has
    FOREIGN_SOURCE = "foreign_source"  # a record naming a source other than the one syncing
    WRITE_FAILED = "write_failed"  # the store refused it although it passed every bound


class OutOfBounds(Exception):
    """A raw payload or record outside the bounds; the message names the field at fault."""

    def __init__(self, reason: SkipReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# PostgreSQL `integer` (the stored form of every int field) is 32-bit; SQLite's is 64-bit.
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RecordLimits:
    """The bounds; the defaults are far above anything a tool sends and below what breaks."""

    max_depth: int = 64  # nesting of objects and lists in a raw payload
    max_payload_chars: int = 8 << 20  # characters of strings and keys in one raw payload
    max_string_chars: int = 1 << 16  # characters of one string field of a record
    max_list_items: int = 10_000  # items of one list field (labels, commit shas, ...)
    # Bytes of an id (UTF-8): the primary key's index holds it, and PostgreSQL refuses index
    # entries over about 2,700 bytes.
    max_id_bytes: int = 1024
    min_int: int = INT_MIN
    max_int: int = INT_MAX
    earliest: datetime = EARLIEST
    ahead: timedelta = timedelta(days=1)  # how far past the sync's start a timestamp may lie


_SPECS: dict[str, tuple[FieldSpec, ...]] = {kind: field_specs(cls) for kind, cls in KINDS.items()}


# Characters neither store keeps as they are: NUL (PostgreSQL text) and lone surrogates. In a
# raw payload only the surrogates matter: its JSON text writes a NUL as the escape \u0000.
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def bad_char(text: str, chars: re.Pattern[str] = _BAD_CHARS) -> str | None:
    """A description of the first character no store can keep, or None."""
    found = chars.search(text)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character" if char == "\x00" else "a lone surrogate"
    return f"{what} (U+{ord(char):04X}) at position {found.start()}"


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe for a log line and for either store: bad characters escaped, cut short."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return _BAD_CHARS.sub(lambda m: f"\\u{ord(m.group()):04x}", cut)


def check_raw(raw: RawRecord, limits: RecordLimits) -> None:
    """Raise :class:`OutOfBounds` when a raw payload cannot be stored the same on both stores.

    The nesting is measured first, by an iterative walk, so a payload nested far beyond the
    bound is refused without ever reaching Python's recursion limit; the text checks then run
    over the payload's JSON text at C speed, and name the field only when one fails.
    """
    _check_text("native id", raw.native_id, limits.max_id_bytes, as_bytes=True)
    if raw.url is not None:
        _check_text("url", raw.url, limits.max_string_chars)
    _check_depth(raw.payload, limits.max_depth)
    try:
        text = json.dumps(raw.payload, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise OutOfBounds(SkipReason.MALFORMED, f"payload: not JSON ({exc})") from None
    if len(text) > limits.max_payload_chars:
        raise OutOfBounds(
            SkipReason.TOO_LARGE,
            f"payload: {len(text)} characters of JSON, over {limits.max_payload_chars}",
        )
    if _SURROGATES.search(text) is not None:
        raise OutOfBounds(SkipReason.INVALID_TEXT, _surrogate_in(raw.payload))


_CONTAINERS = (dict, list, tuple)


def _check_depth(payload: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise OutOfBounds(
                SkipReason.TOO_DEEP, f"payload: nested deeper than {max_depth} levels"
            )
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, _CONTAINERS):
                stack.append((item, depth + 1))


def _surrogate_in(payload: Any) -> str:
    """Where the first lone surrogate of a payload (of bounded depth) is, and which it is."""
    stack: list[tuple[Any, str]] = [(payload, "payload")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = bad_char(value, _SURROGATES)
            if problem is not None:
                return f"{path}: {problem}"
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = bad_char(str(key), _SURROGATES)
                if problem is not None:
                    return f"{path}: a key holds {problem}"
                stack.append((item, f"{path}.{printable(str(key), 40)}"))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{path}[{i}]") for i, item in enumerate(value))
    return "payload: a lone surrogate"


def check_record(record: Record, source: str, now: datetime, limits: RecordLimits) -> None:
    """Raise :class:`OutOfBounds` when ``record`` may not be stored by ``source``.

    Besides the stores' bounds this holds a record to its source: it must name the source
    that syncs it. (That its id is not another source's is checked against the store, by
    :func:`streamgauge.intake.prepare`'s caller.)
    """
    if record.source != source:
        raise OutOfBounds(
            SkipReason.FOREIGN_SOURCE,
            f"source: {printable(record.source, 80)!r} is not the source syncing it ({source!r})",
        )
    _check_text("id", record.id, limits.max_id_bytes, as_bytes=True)
    latest = now + limits.ahead
    for spec in _SPECS[record.kind]:
        value = getattr(record, spec.name)
        if value is None or spec.name == "id":
            continue
        if spec.form == "str":
            _check_text(spec.name, value, limits.max_string_chars)
        elif spec.form == "strings":
            if len(value) > limits.max_list_items:
                raise OutOfBounds(
                    SkipReason.TOO_LARGE, f"{spec.name}: over {limits.max_list_items} items"
                )
            for i, item in enumerate(value):
                _check_text(spec.name, item, limits.max_string_chars, index=i)
        elif spec.form == "int":
            if not limits.min_int <= value <= limits.max_int:
                raise OutOfBounds(
                    SkipReason.INTEGER_RANGE,
                    f"{spec.name}: {value} is outside {limits.min_int}..{limits.max_int}",
                )
        elif spec.form == "datetime" and not limits.earliest <= value <= latest:
            raise OutOfBounds(
                SkipReason.TIMESTAMP_RANGE,
                f"{spec.name}: {value.isoformat()} is outside "
                f"{limits.earliest.isoformat()} .. {latest.isoformat()}",
            )
    started, done = getattr(record, "started_at", None), getattr(record, "done_at", None)
    if record.kind == "work_item" and started is not None and done is not None and done < started:
        raise OutOfBounds(
            SkipReason.TIME_ORDER,
            f"done_at: {done.isoformat()} is before started_at {started.isoformat()}",
        )


def _check_text(
    field: str, value: str, limit: int, *, as_bytes: bool = False, index: int | None = None
) -> None:
    """A string field (item ``index`` of a list field): a string, no character the stores
    refuse, within ``limit`` (characters; UTF-8 bytes for an id, which must not be empty)."""
    # The usual case first, and fast: ASCII text (no surrogate; as many bytes as characters)
    # without a NUL, within the limit, not an empty id.
    fine = type(value) is str and value.isascii() and "\x00" not in value
    if fine and len(value) <= limit and (value or not as_bytes):
        return
    name = field if index is None else f"{field}[{index}]"
    if not isinstance(value, str):
        raise OutOfBounds(SkipReason.MALFORMED, f"{name}: expected a string, got {value!r}")
    if as_bytes and not value:
        raise OutOfBounds(SkipReason.INVALID_ID, f"{name}: is empty")
    problem = bad_char(value)
    if problem is not None:
        raise OutOfBounds(SkipReason.INVALID_TEXT, f"{name}: {problem}")
    if as_bytes:
        size = len(value.encode("utf-8"))
        if size > limit:
            raise OutOfBounds(SkipReason.INVALID_ID, f"{name}: {size} bytes, over {limit}")
    elif len(value) > limit:
        raise OutOfBounds(SkipReason.TOO_LARGE, f"{name}: {len(value)} characters, over {limit}")
