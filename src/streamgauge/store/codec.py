"""Model records to table rows and back, with the digest that tells an unchanged row."""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from streamgauge.model import Record, slot_setters
from streamgauge.store.schema import FieldSpec, FieldType

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Integer microseconds since the epoch; exact for every tz-aware datetime."""
    return (value - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """The UTC datetime of :func:`to_micros`; exact, unlike a float timestamp."""
    # timedelta * int is exact and about twice as fast as timedelta(microseconds=value).
    return EPOCH + _MICROSECOND * value


def dump_json(value: Any) -> str:
    """Deterministic compact JSON: equal values give equal text, so stored bytes stay put."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _strings_out(value: tuple[str, ...]) -> str:
    return json.dumps(list(value), separators=(",", ":"), ensure_ascii=False)


def strings_in(text: str) -> tuple[str, ...]:
    """The tuple of :func:`_strings_out`'s JSON array text."""
    if text == "[]":
        return ()
    # Without a backslash no string holds an escaped quote, so in the compact form every quote
    # delimits a string and '","' only separates two: splitting is then exact and several times
    # faster than the JSON parser. The quote count proves the form; anything else is parsed.
    if "\\" not in text and text.startswith('["') and text.endswith('"]'):
        parts = text[2:-2].split('","')
        if text.count('"') == 2 * len(parts):
            return tuple(parts)
    return tuple(json.loads(text))


def _enum_value(value: StrEnum) -> str:
    return value.value


_ENCODERS: dict[FieldType, Callable[[Any], Any] | None] = {
    "str": None,
    "int": None,
    "bool": bool,
    "enum": _enum_value,
    "datetime": to_micros,
    "strings": _strings_out,
}


def _decoder(spec: FieldSpec) -> Callable[[Any], Any] | None:
    """Stored value to field value for one non-null value; None where they are the same."""
    if spec.enum is not None:
        return {member.value: member for member in spec.enum}.__getitem__
    decoders: dict[FieldType, Callable[[Any], Any] | None] = {
        "str": None,
        "int": None,
        "bool": bool,  # SQLite hands booleans back as 0/1 when read through the bare driver
        "datetime": from_micros,
        "strings": strings_in,
    }
    return decoders[spec.form]


# A column is pooled for a load when its first slice of rows holds at most this share of
# distinct values: pooling a column of unique values (ids, hashes) would only cost a dict entry
# per value.
_POOLED_DISTINCT_SHARE = 0.5


class LoadPools:
    """Shared objects for one bulk load, so equal values read in many rows are one object.

    A database driver builds a new string for every text cell; a million records repeat the
    same source, team, app, repo, status and stage names hundreds of thousands of times, and
    sharing them saves a large part of the loaded records' memory. Whether a column is worth
    pooling is decided on its first slice of rows. The pools live as long as the load.
    """

    def __init__(self) -> None:
        self.strings: dict[str | None, str | None] = {}
        self.tuples: dict[str, tuple[str, ...]] = {}
        self._pooled: dict[tuple[type[Record], str], bool] = {}

    def pooled(self, cls: type[Record], name: str, column: Sequence[Any]) -> bool:
        """Whether the column ``name`` of ``cls`` records is pooled in this load."""
        key = (cls, name)
        decided = self._pooled.get(key)
        if decided is None:
            decided = len(set(column)) <= len(column) * _POOLED_DISTINCT_SHARE
            self._pooled[key] = decided
        return decided


def _datetimes(column: Sequence[Any]) -> Iterable[datetime | None]:
    if None in column:
        return [None if v is None else EPOCH + _MICROSECOND * v for v in column]
    # Two C-level maps: no Python frame per value.
    return map(EPOCH.__add__, map(_MICROSECOND.__mul__, column))


def _tuples(column: Sequence[Any], pool: dict[str, tuple[str, ...]] | None) -> Iterable[Any]:
    if pool is None:
        return [None if v is None else strings_in(v) for v in column]
    return [
        v if v is None else pool[v] if v in pool else pool.setdefault(v, strings_in(v))
        for v in column
    ]


class RecordCodec:
    """Converts one record class to a column dict and row tuples back to records."""

    def __init__(self, cls: type[Record], specs: Sequence[FieldSpec]) -> None:
        self.cls = cls
        self.specs = tuple(specs)
        self.names = [s.name for s in specs]
        self._encoders = [_ENCODERS[s.form] for s in specs]
        self._decoders = [_decoder(s) for s in specs]
        # The slot descriptors of the frozen dataclass: setting through them skips __init__ and
        # __post_init__, which only re-check what was checked when the record was first built
        # (tz-aware UTC datetimes) and cost more than half of load time on large stores.
        self._setters = slot_setters(cls)
        # Enum columns map through a dict that also knows None, so nullable ones need no test.
        self._enum_maps = [
            {None: None, **{m.value: m for m in s.enum}} if s.enum is not None else None
            for s in specs
        ]

    def encode(self, record: Record) -> dict[str, Any]:
        """Column values of a record, plus ``digest`` over exactly what is stored."""
        values = [
            value if encode is None or value is None else encode(value)
            for encode, value in zip(
                self._encoders, (getattr(record, n) for n in self.names), strict=True
            )
        ]
        row = dict(zip(self.names, values, strict=True))
        row["digest"] = digest(values)
        return row

    def decode(self, row: Sequence[Any]) -> Record:
        """The record of a row holding the model columns in :attr:`names` order."""
        record = object.__new__(self.cls)
        for set_value, decode, value in zip(self._setters, self._decoders, row, strict=True):
            set_value(record, value if decode is None or value is None else decode(value))
        return record

    def decode_rows(self, rows: Sequence[Sequence[Any]], pools: LoadPools) -> list[Record]:
        """The records of many rows, as :meth:`decode` gives them one by one, but faster.

        Decoding goes column by column, so that most values pass through C-level ``map``
        calls (conversion, pooling, and setting the slot) instead of a Python loop per value;
        this makes loading several times faster than :meth:`decode` per row.
        """
        if not rows:
            return []
        records = list(map(object.__new__, itertools.repeat(self.cls, len(rows))))
        columns = zip(*rows, strict=True)
        for spec, set_value, enum_map, column in zip(
            self.specs, self._setters, self._enum_maps, columns, strict=True
        ):
            values: Iterable[Any] = column
            if enum_map is not None:
                values = map(enum_map.__getitem__, column)
            elif spec.form == "datetime":
                values = _datetimes(column)
            elif spec.form == "strings":
                pooled = pools.pooled(self.cls, spec.name, column)
                values = _tuples(column, pools.tuples if pooled else None)
            elif spec.form == "bool":
                values = [None if v is None else bool(v) for v in column]
            elif spec.form == "str" and pools.pooled(self.cls, spec.name, column):
                values = map(pools.strings.setdefault, column, column)
            _consume(map(set_value, records, values))
        return records


def _consume(calls: Iterable[Any]) -> None:
    collections.deque(calls, maxlen=0)


def digest(values: Sequence[Any]) -> str:
    """Short hash of the JSON form of a row's values."""
    text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
