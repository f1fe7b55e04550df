"""A batch is kept whole or not at all; stores sharing a database see each other's writes."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from tests.builders import SOURCE, at, commit, deployment, work_item
from tests.store.store_peek import TablePeek

from streamgauge.connectors.base import RawRecord
from streamgauge.store import Store, StoreError, WriteResult


def issue_raw(native_id: str) -> RawRecord:
    return RawRecord("issues", native_id, {"id": native_id}, at(days=1), None)


def test_a_failing_batch_keeps_neither_records_nor_cursor(store: Store, peek: TablePeek) -> None:
    store.write_batch(
        source=SOURCE,
        stream="issues",
        raws=[issue_raw("1")],
        records=[work_item(created_at=at(days=1), native_id="1")],
        cursor="c1",
    )
    before = peek.dump()

    good = work_item(created_at=at(days=2), native_id="2")
    # `environment` may not be NULL: the database refuses this row, after the raws and the
    # good work item were already sent in the same transaction.
    broken = dataclasses.replace(deployment(finished_at=at(days=2)), environment=None)
    with pytest.raises(StoreError, match="none of it was kept"):
        store.write_batch(
            source=SOURCE,
            stream="issues",
            raws=[issue_raw("2")],
            records=[good, broken],
            cursor="c2",
        )

    assert store.get_cursor(SOURCE, "issues") == "c1"
    assert [r.native_id for r in store.iter_raw(SOURCE)] == ["1"]
    assert store.counts()["work_item"] == 1
    assert store.max_seq() == 1
    assert peek.dump() == before


def test_a_payload_that_is_not_json_is_refused_by_name(store: Store) -> None:
    bad = RawRecord("issues", "7", {"when": at(days=1)}, at(days=1), None)
    with pytest.raises(StoreError, match="raw payload test/issues/7 is not JSON"):
        store.write_batch(source=SOURCE, stream="issues", raws=[bad], records=[], cursor="c")
    assert store.get_cursor(SOURCE, "issues") is None


def test_the_cursor_is_stored_as_given_and_only_when_given(store: Store) -> None:
    assert store.get_cursor(SOURCE, "issues") is None
    store.write_batch(source=SOURCE, stream="issues", raws=[], records=[], cursor="2026-01-05")
    store.write_batch(source=SOURCE, stream="issues", raws=[], records=[], cursor=None)
    assert store.get_cursor(SOURCE, "issues") == "2026-01-05"
    # The store does not judge direction: moving back is the sync engine's call.
    store.write_batch(source=SOURCE, stream="issues", raws=[], records=[], cursor="2025-12-01")
    store.write_batch(source=SOURCE, stream="pulls", raws=[], records=[], cursor="page-3")
    store.write_batch(source="other", stream="pulls", raws=[], records=[], cursor="x")
    assert store.cursors(SOURCE) == {"issues": "2025-12-01", "pulls": "page-3"}
    assert store.cursors("nobody") == {}


def test_two_stores_on_one_database_see_each_others_writes(store_url: str) -> None:
    with Store.open(store_url) as first, Store.open(store_url) as second:
        a = commit(sha="a", authored_at=at(days=1))
        first.write_batch(source=SOURCE, stream="commits", raws=[], records=[a], cursor="1")
        assert second.load_dataset().commits == [a]
        assert second.get_cursor(SOURCE, "commits") == "1"

        b = commit(sha="b", authored_at=at(days=2))
        result = second.write_batch(
            source=SOURCE, stream="commits", raws=[], records=[a, b], cursor="2"
        )
        assert result == WriteResult(inserted=1, unchanged=1)
        assert first.changed_since(1) == ([b], 2)
        assert first.get_cursor(SOURCE, "commits") == "2"


def test_concurrent_writers_and_a_reader_all_succeed(store_url: str) -> None:
    """Two writer threads on two stores and a reader on one of them: busy waits, no failures."""
    batches = 15
    errors: list[BaseException] = []
    with Store.open(store_url) as first, Store.open(store_url) as second:

        def write(store: Store, source: str) -> None:
            try:
                for n in range(batches):
                    records = [
                        commit(sha=f"{source}-{n}-{i}", authored_at=at(days=n)) for i in range(20)
                    ]
                    store.write_batch(
                        source=source, stream="commits", raws=[], records=records, cursor=str(n)
                    )
            except BaseException as exc:
                errors.append(exc)

        def read() -> None:
            try:
                for _ in range(batches):
                    first.counts()
                    first.latest_snapshot()
                    first.changed_since(0)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=write, args=(first, "one")),
            threading.Thread(target=write, args=(second, "two")),
            threading.Thread(target=read),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        # 2 writers x 15 batches x 20 new commits, each with its own seq.
        assert first.counts()["commit"] == 600
        records, high = first.changed_since(0)
        assert len(records) == 600
        assert high == first.max_seq() == 600
        assert first.cursors("one") == {"commits": "14"}
