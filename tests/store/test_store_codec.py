"""The row codec: exact decoding of every stored form, and bulk decoding that shares values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from tests.builders import SOURCE, at, commit, status_change, work_item

from streamgauge.model import Commit, FlowState, Record, StatusChange, WorkItem
from streamgauge.store import Store
from streamgauge.store.codec import (
    LoadPools,
    RecordCodec,
    from_micros,
    strings_in,
    to_micros,
)
from streamgauge.store.schema import field_specs


def codec_of(cls: type[Record]) -> RecordCodec:
    return RecordCodec(cls, field_specs(cls))


def stored_row(codec: RecordCodec, record: Record) -> tuple[object, ...]:
    """The row a database hands back for a record: its encoded columns in model order."""
    columns = codec.encode(record)
    return tuple(columns[name] for name in codec.names)


@pytest.mark.parametrize(
    "value",
    [
        (),
        ("",),
        ("", ""),
        ("PAY-7",),
        ("c1", "c2", "c3"),
        ('say "hi"',),  # an escaped quote: the text holds a backslash
        ('","',),  # the separator itself inside one string
        ("a\\b", "c"),
        ("line\nbreak",),
        ("Zahlung schlägt fehl", "—", "日本"),
        ("a,b", "[x]"),
    ],
)
def test_string_lists_come_back_exactly(value: tuple[str, ...]) -> None:
    text = json.dumps(list(value), separators=(",", ":"), ensure_ascii=False)
    assert strings_in(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Not the compact form the store writes, but still JSON: parsed, not split.
        ('["a", "b"]', ("a", "b")),
        ('[ "a" ]', ("a",)),
        ('["\\u00e4"]', ("ä",)),
    ],
)
def test_string_lists_in_another_json_spelling_are_parsed(
    text: str, value: tuple[str, ...]
) -> None:
    assert strings_in(text) == value


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 7, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2200, 6, 1, 0, 0, 0, 999999, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_microseconds_round_trip_exactly(moment: datetime) -> None:
    back = from_micros(to_micros(moment))
    assert back == moment
    assert back.tzinfo is UTC


def test_bulk_decoding_gives_the_records_of_decoding_one_by_one() -> None:
    item = work_item(
        created_at=at(days=1),
        labels=("payments", "p1"),
        stage="build",
        started_at=at(days=1, hours=2),
        history_complete=False,
    )
    other = work_item(created_at=at(days=2), team=None, app=None)  # None in nullable columns
    codec = codec_of(WorkItem)
    rows = [stored_row(codec, item), stored_row(codec, other)]

    records = codec.decode_rows(rows, LoadPools())

    assert records == [item, other]
    assert records == [codec.decode(row) for row in rows]
    assert records[0].flow_state is FlowState.NEW
    assert records[0].created_at.tzinfo is UTC
    assert records[1].started_at is None
    assert records[0].history_complete is False
    assert codec.decode_rows([], LoadPools()) == []


def test_sqlite_booleans_come_back_as_booleans() -> None:
    codec = codec_of(WorkItem)
    row = list(stored_row(codec, work_item(created_at=at(), history_complete=True)))
    row[codec.names.index("history_complete")] = 1  # what the bare sqlite3 driver returns
    (record,) = codec.decode_rows([row], LoadPools())
    assert record.history_complete is True  # type: ignore[attr-defined]


def test_repeated_values_share_one_object_and_unique_ones_are_left_alone() -> None:
    item = work_item(created_at=at())
    changes = [
        status_change(item=item, at=at(minutes=n), to_state=FlowState.ACTIVE) for n in range(4)
    ]
    codec = codec_of(StatusChange)
    # Rows as a driver returns them: every text cell a separate string object.
    rows = [tuple(_copied(v) for v in stored_row(codec, c)) for c in changes]
    assert rows[0][1] is not rows[1][1]
    pools = LoadPools()

    loaded: list[StatusChange] = codec.decode_rows(rows, pools)  # type: ignore[assignment]

    assert loaded == changes
    # 4 rows, 1 distinct team: pooled; 4 rows, 4 distinct ids: not.
    assert all(c.team is loaded[0].team for c in loaded)
    assert all(c.item_id is loaded[0].item_id for c in loaded)
    assert pools.strings.get(loaded[0].id) is None
    # The decision holds for the rest of the load: the next slice is pooled the same way.
    more = [tuple(_copied(v) for v in stored_row(codec, c)) for c in changes[:1]]
    (again,) = codec.decode_rows(more, pools)
    assert again.team is loaded[0].team


def test_repeated_string_lists_share_one_tuple() -> None:
    commits = [
        commit(sha=f"c{n}", authored_at=at(hours=n), parents=("c0",), work_item_keys=())
        for n in range(1, 5)
    ]
    codec = codec_of(Commit)
    rows = [tuple(_copied(v) for v in stored_row(codec, c)) for c in commits]

    loaded: list[Commit] = codec.decode_rows(rows, LoadPools())  # type: ignore[assignment]

    assert loaded == commits
    assert all(c.parents is loaded[0].parents for c in loaded)
    assert all(c.work_item_keys == () for c in loaded)


def test_an_unknown_enum_value_is_refused() -> None:
    codec = codec_of(WorkItem)
    row = list(stored_row(codec, work_item(created_at=at())))
    row[codec.names.index("flow_state")] = "sideways"
    with pytest.raises(KeyError):
        codec.decode_rows([row], LoadPools())


def _copied(value: object) -> object:
    """A distinct but equal string, as a driver builds for each cell."""
    return "".join(list(value)) if isinstance(value, str) and len(value) > 1 else value


def test_a_loaded_dataset_shares_repeated_values(store: Store) -> None:
    items = [work_item(created_at=at(days=n), labels=("payments",)) for n in range(2)]
    changes = [
        status_change(item=items[0], at=at(minutes=n), to_state=FlowState.ACTIVE) for n in range(6)
    ]
    records = [*items, *changes]
    store.write_batch(source=SOURCE, stream="s", raws=[], records=records, cursor=None)

    dataset = store.load_dataset()

    assert sorted(dataset.work_items, key=lambda i: i.created_at) == items
    assert sorted(dataset.status_changes, key=lambda c: c.at) == changes
    first = dataset.status_changes[0]
    # Six rows naming one item, team and app: each value is one object; the kinds share them.
    assert all(c.item_id is first.item_id for c in dataset.status_changes)
    assert all(c.team is first.team for c in dataset.status_changes)
    assert all(i.team is first.team for i in dataset.work_items)
    assert dataset.work_items[0].labels is dataset.work_items[1].labels
