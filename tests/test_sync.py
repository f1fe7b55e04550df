"""The sync engine: page-and-cursor transactions, resumption, skipping, and the error kinds."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from pydantic import SecretStr

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import (
    Connector,
    FatalError,
    Page,
    RateLimited,
    RawRecord,
    SkippableRecord,
    Stream,
    SyncContext,
)
from streamgauge.model import Commit, Record, make_id, to_json
from streamgauge.store import Store
from streamgauge.sync import sync_source

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class ListConfig(SourceConfig):
    type: Literal["list"] = "list"


class Crash(Exception):
    """Stands for the process dying between two pages."""


class ListStream(Stream):
    """Serves ``items`` in pages of ``size``; the cursor is the index of the next item."""

    name = "commits"

    def __init__(
        self,
        items: Sequence[dict[str, Any]],
        *,
        size: int,
        fail_after: int | None = None,
        error: Exception | None = None,
    ) -> None:
        self.items = items
        self.size = size
        self.fail_after = fail_after  # pages served before `error` is raised
        self.error = error
        self.reads: list[str | None] = []

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        self.reads.append(cursor)
        start = int(cursor or 0)
        for served, offset in enumerate(range(start, len(self.items), self.size)):
            if self.fail_after is not None and served == self.fail_after:
                assert self.error is not None
                raise self.error
            ctx.stats.api_calls += 1
            batch = self.items[offset : offset + self.size]
            raws = [RawRecord(self.name, str(item["n"]), item, T0) for item in batch]
            yield Page(raws, cursor=str(offset + len(batch)))


class ListConnector(Connector):
    type = "list"
    config_model = ListConfig

    def __init__(self, stream: ListStream) -> None:
        super().__init__(ListConfig(name="src"), Settings())
        self.stream = stream

    def streams(self) -> Sequence[Stream]:
        return [self.stream]

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        if raw.payload.get("bad"):
            raise SkippableRecord(f"commit {raw.native_id}: no sha")
        n = raw.payload["n"]
        at = T0 + timedelta(minutes=n)
        yield Commit(
            id=make_id("src", "commit", n),
            source="src",
            repo="acme/app",
            sha=f"{n:040x}",
            authored_at=at,
            committed_at=at,
        )


def items(count: int, bad: Iterable[int] = ()) -> list[dict[str, Any]]:
    bad = set(bad)
    return [{"n": n, "bad": n in bad} for n in range(count)]


def snapshot_of(store: Store) -> dict[str, dict[str, Any]]:
    return {r.id: to_json(r) for r in store.iter_records("commit")}


def test_every_page_lands_with_its_cursor(store: Store) -> None:
    stream = ListStream(items(25), size=10)
    outcome = sync_source(ListConnector(stream), store)
    assert outcome.ok
    assert outcome.written.inserted == 25
    assert outcome.api_calls == 3  # pages of 10, 10 and 5
    assert store.get_cursor("src", "commits") == "25"
    assert len(snapshot_of(store)) == 25


def test_second_sync_of_same_data_changes_nothing(store: Store) -> None:
    data = items(25)
    sync_source(ListConnector(ListStream(data, size=10)), store)
    before = (snapshot_of(store), store.max_seq())
    # Start again from scratch: every record is read again, none is rewritten.
    store.write_batch(source="src", stream="commits", raws=[], records=[], cursor="0")
    again = sync_source(ListConnector(ListStream(data, size=10)), store)
    assert again.written.inserted == again.written.updated == 0
    assert again.written.unchanged == 25
    assert (snapshot_of(store), store.max_seq()) == before


def test_crash_between_pages_resumes_without_gap_or_duplicate(store: Store) -> None:
    data = items(45)
    crashing = ListStream(data, size=10, fail_after=2, error=Crash("killed"))
    first = sync_source(ListConnector(crashing), store)
    assert not first.ok
    # Two whole pages landed, and the cursor says so.
    assert store.get_cursor("src", "commits") == "20"
    assert len(snapshot_of(store)) == 20

    resumed = ListStream(data, size=10)
    second = sync_source(ListConnector(resumed), store)
    assert second.ok
    assert resumed.reads == ["20"]
    assert second.written.inserted == 25
    assert sorted(int(r["sha"], 16) for r in snapshot_of(store).values()) == list(range(45))


def test_malformed_records_are_skipped_and_counted(store: Store) -> None:
    outcome = sync_source(ListConnector(ListStream(items(12, bad=[3, 7]), size=5)), store)
    assert outcome.ok
    assert outcome.skipped == 2
    assert outcome.written.inserted == 10
    (health,) = store.health()
    assert health.skipped_total == 2


def test_fatal_error_stops_the_source_and_is_logged(store: Store) -> None:
    stream = ListStream(
        items(30), size=10, fail_after=1, error=FatalError("HTTP 401: bad credentials")
    )
    outcome = sync_source(ListConnector(stream), store)
    assert not outcome.ok
    assert outcome.fatal
    assert outcome.error == "HTTP 401: bad credentials"
    (health,) = store.health()
    assert health.errors_total == 1
    assert health.last_success_at is None
    assert health.records_total == 10  # the page before the error is kept


def test_rate_limit_pauses_until_reset(store: Store) -> None:
    reset = T0 + timedelta(minutes=30)
    stream = ListStream(
        items(30), size=10, fail_after=2, error=RateLimited("budget spent", reset_at=reset)
    )
    outcome = sync_source(ListConnector(stream), store)
    assert outcome.paused_until == reset
    assert not outcome.fatal
    assert store.get_cursor("src", "commits") == "20"


def test_stop_flag_ends_the_sync_at_a_page_boundary(store: Store) -> None:
    stop = threading.Event()
    pages: list[int] = []

    def progress(stream: str, count: int) -> None:
        pages.append(count)
        if len(pages) == 2:
            stop.set()

    outcome = sync_source(
        ListConnector(ListStream(items(50), size=10)), store, progress=progress, stop=stop
    )
    assert outcome.ok
    assert outcome.stopped
    assert pages == [10, 20]
    assert store.get_cursor("src", "commits") == "20"
    assert store.health() == []  # a stopped sync is neither a success nor a failure


def test_unexpected_exception_is_caught_at_the_job_boundary(store: Store) -> None:
    stream = ListStream(items(10), size=5, fail_after=0, error=KeyError("number"))
    outcome = sync_source(ListConnector(stream), store)
    assert not outcome.ok
    assert outcome.error == "KeyError: 'number'"


SECRET = "ghp_0123456789abcdef"


class TokenConfig(ListConfig):
    token: SecretStr = SecretStr(SECRET)


def test_a_secret_quoted_by_a_library_error_is_masked(store: Store) -> None:
    connector = ListConnector(
        ListStream(items(5), size=5, fail_after=0, error=ValueError(f"bad header {SECRET}"))
    )
    connector.config = TokenConfig(name="src")
    outcome = sync_source(connector, store)
    assert outcome.error == "ValueError: bad header ***"
    (health,) = store.health()
    assert health.last_error == "ValueError: bad header ***"


@pytest.mark.parametrize("page_cursor", [None, "5"])
def test_a_page_without_a_new_cursor_keeps_the_stored_one(
    store: Store, page_cursor: str | None
) -> None:
    store.write_batch(source="src", stream="commits", raws=[], records=[], cursor="5")

    class Still(ListStream):
        def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
            yield Page([RawRecord(self.name, "1", {"n": 1}, T0)], cursor=page_cursor)

    sync_source(ListConnector(Still([], size=1)), store)
    assert store.get_cursor("src", "commits") == "5"
