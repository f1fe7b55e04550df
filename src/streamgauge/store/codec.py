"""Model records to table rows and back, with the digest that tells an unchanged row."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from streamgauge.model import Record
from streamgauge.store.schema import FieldSpec, FieldType

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Integer microseconds since the epoch; exact for every tz-aware datetime."""
    return (value - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """The UTC datetime of :func:`to_micros`; exact, unlike a float timestamp."""
    return EPOCH + timedelta(microseconds=value)


def dump_json(value: Any) -> str:
    """Deterministic compact JSON: equal values give equal text, so stored bytes stay put."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _strings_out(value: tuple[str, ...]) -> str:
    return json.dumps(list(value), separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=4096)
def _strings_in(text: str) -> tuple[str, ...]:
    # Label and key lists repeat across many records (most are empty): parsing each distinct
    # text once and sharing the immutable tuple is a measurable part of load time.
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
    if spec.enum is not None:
        return {member.value: member for member in spec.enum}.__getitem__
    decoders: dict[FieldType, Callable[[Any], Any] | None] = {
        "str": None,
        "int": None,
        "bool": bool,  # SQLite hands booleans back as 0/1 when read through the bare driver
        "datetime": from_micros,
        "strings": _strings_in,
    }
    return decoders[spec.form]


class RecordCodec:
    """Converts one record class to a column dict and a row tuple back to the record."""

    def __init__(self, cls: type[Record], specs: Sequence[FieldSpec]) -> None:
        self.cls = cls
        self.names = [s.name for s in specs]
        self._encoders = [_ENCODERS[s.form] for s in specs]
        self._decoders = [_decoder(s) for s in specs]
        # The slot descriptors of the frozen dataclass: setting through them skips __init__ and
        # __post_init__, which only re-check what was checked when the record was first built
        # (tz-aware UTC datetimes) and cost more than half of load time on large stores.
        self._setters = [getattr(cls, name).__set__ for name in self.names]

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


def digest(values: Sequence[Any]) -> str:
    """Short hash of the JSON form of a row's values."""
    text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
