"""The bounds every raw payload and record is held to before a write, each at its edge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.builders import SOURCE, T0, at, change, deployment, work_item

from streamgauge.connectors.base import RawRecord
from streamgauge.model import Record
from streamgauge.store.bounds import (
    OutOfBounds,
    RecordLimits,
    SkipReason,
    check_raw,
    check_record,
    printable,
)

LIMITS = RecordLimits()
NOW = at(days=10)


def raw(payload: Any, native_id: str = "1", url: str | None = None) -> RawRecord:
    return RawRecord("s", native_id, payload, T0, url)


def nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep counting itself: {"a": {"a": ... {}}}."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def reason_of(record: Record, now: Any = NOW) -> tuple[SkipReason, str]:
    with pytest.raises(OutOfBounds) as caught:
        check_record(record, SOURCE, now, LIMITS)
    return caught.value.reason, str(caught.value)


def test_nesting_is_allowed_up_to_the_bound_and_refused_beyond() -> None:
    check_raw(raw(nested(64)), LIMITS)
    with pytest.raises(OutOfBounds, match="nested deeper than 64 levels") as caught:
        check_raw(raw(nested(65)), LIMITS)
    assert caught.value.reason == SkipReason.TOO_DEEP


def test_a_lone_surrogate_is_named_by_its_path() -> None:
    with pytest.raises(OutOfBounds) as caught:
        check_raw(raw({"fields": {"labels": ["ok", "bad\udc80"]}}), LIMITS)
    assert caught.value.reason == SkipReason.INVALID_TEXT
    assert str(caught.value) == (
        "payload.fields.labels[1]: a lone surrogate (U+DC80) at position 3"
    )
    with pytest.raises(OutOfBounds, match=r"^payload: a key holds a lone surrogate"):
        check_raw(raw({"\ud800": 1}), LIMITS)


def test_a_nul_is_kept_in_a_payload_but_not_in_its_native_id_or_url() -> None:
    check_raw(raw({"summary": "a\x00b"}), LIMITS)  # JSON writes it as \\u0000
    with pytest.raises(OutOfBounds, match=r"^native id: a NUL character \(U\+0000\) at position 1"):
        check_raw(raw({}, native_id="1\x002"), LIMITS)
    with pytest.raises(OutOfBounds, match=r"^url: a NUL"):
        check_raw(raw({}, url="http://x/\x00"), LIMITS)


def test_a_payload_over_the_size_bound_is_too_large() -> None:
    small = RecordLimits(max_payload_chars=100)
    check_raw(raw({"t": "x" * 90}), small)  # {"t":"x...x"}: 90 + 8 = 98 characters
    with pytest.raises(OutOfBounds, match="payload: 101 characters of JSON, over 100") as caught:
        check_raw(raw({"t": "x" * 93}), small)
    assert caught.value.reason == SkipReason.TOO_LARGE


def test_an_empty_or_overlong_native_id_is_refused() -> None:
    with pytest.raises(OutOfBounds, match="native id: is empty"):
        check_raw(raw({}, native_id=""), LIMITS)
    # 512 two-byte characters are 1,024 bytes: the bound; one more is over it.
    check_raw(raw({}, native_id="é" * 512), LIMITS)
    with pytest.raises(OutOfBounds, match="native id: 1026 bytes, over 1024"):
        check_raw(raw({}, native_id="é" * 513), LIMITS)


def test_integers_hold_in_32_bits() -> None:
    check_record(change(created_at=T0, number=2**31 - 1), SOURCE, NOW, LIMITS)
    check_record(change(created_at=T0, number=-(2**31)), SOURCE, NOW, LIMITS)
    assert reason_of(change(created_at=T0, number=2**31))[0] == SkipReason.INTEGER_RANGE
    assert reason_of(change(created_at=T0, review_rounds=-(2**31) - 1))[0] == (
        SkipReason.INTEGER_RANGE
    )


def test_timestamps_lie_between_1970_and_a_day_after_the_sync() -> None:
    check_record(deployment(finished_at=NOW + timedelta(days=1)), SOURCE, NOW, LIMITS)
    late, message = reason_of(deployment(finished_at=NOW + timedelta(days=1, seconds=1)))
    assert late == SkipReason.TIMESTAMP_RANGE
    assert message.startswith("finished_at: 2026-01-12T00:00:01+00:00 is outside 1970-01-01")
    early = deployment(finished_at=at(days=-365 * 57))  # 1969
    assert reason_of(early)[0] == SkipReason.TIMESTAMP_RANGE


def test_strings_and_lists_have_bounds() -> None:
    assert reason_of(change(created_at=T0, title="x" * 65_537)) == (
        SkipReason.TOO_LARGE,
        "title: 65537 characters, over 65536",
    )
    assert reason_of(change(created_at=T0, labels=("a",) * 10_001))[0] == SkipReason.TOO_LARGE
    assert reason_of(change(created_at=T0, labels=("a", "b\x00"))) == (
        SkipReason.INVALID_TEXT,
        "labels[1]: a NUL character (U+0000) at position 1",
    )


def test_a_record_belongs_to_the_source_syncing_it() -> None:
    foreign = deployment(finished_at=at(days=1), source="other")
    assert reason_of(foreign) == (
        SkipReason.FOREIGN_SOURCE,
        f"source: 'other' is not the source syncing it ({SOURCE!r})",
    )
    # an id of any form is the source's own to choose; one another source already has is
    # refused against the store (tests/store/test_store_sources.py)
    check_record(deployment(finished_at=at(days=1), id="other:deployment:1"), SOURCE, NOW, LIMITS)
    assert reason_of(deployment(finished_at=at(days=1), id=""))[0] == SkipReason.INVALID_ID


def test_a_work_item_done_before_it_started_is_refused() -> None:
    fine = work_item(created_at=T0, started_at=at(days=1), done_at=at(days=1))
    check_record(fine, SOURCE, NOW, LIMITS)  # done the moment it started: a flow time of 0
    backwards = work_item(created_at=T0, started_at=at(days=2), done_at=at(days=1))
    assert reason_of(backwards) == (
        SkipReason.TIME_ORDER,
        "done_at: 2026-01-02T00:00:00+00:00 is before started_at 2026-01-03T00:00:00+00:00",
    )


def test_printable_escapes_what_no_store_keeps_and_cuts_long_text() -> None:
    assert printable("a\x00b\ud800c") == "a\\u0000b\\ud800c"
    assert printable("é" * 300, limit=3) == "ééé…"
