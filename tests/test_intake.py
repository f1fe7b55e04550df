"""No record blocks a source: poisoned records are skipped, counted by reason and kept, and
SQLite and PostgreSQL end with exactly the same records."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool
from tests.builders import T0, at

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import Connector, Page, RawRecord, Stream, SyncContext
from streamgauge.connectors.file import FileConfig, FileConnector
from streamgauge.exposition.collector import Exposition, ServedState
from streamgauge.model import Change, ChangeState, Record, make_id, to_json
from streamgauge.store import Store
from streamgauge.store.bounds import SkipReason
from streamgauge.sync import sync_source

SYNCED = at(days=30)  # every good line's timestamps lie before the sync


def deployment(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "deployment",
        "id": f"ci:deployment:{n}",
        "environment": "production",
        "app": "checkout",
        "started_at": f"2026-01-0{n}T10:00:00Z",
        "finished_at": f"2026-01-0{n}T10:05:00Z",
        "result": "success",
        **fields,
    }


def change(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "change",
        "id": f"ci:change:{n}",
        "repo": "acme/checkout",
        "number": n,
        "state": "open",
        "created_at": "2026-01-02T09:00:00Z",
        **fields,
    }


def work_item(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "work_item",
        "id": f"ci:work_item:{n}",
        "key": f"PAY-{n}",
        "type": "feature",
        "status": "Done",
        "flow_state": "done",
        "created_at": "2026-01-02T09:00:00Z",
        "started_at": "2026-01-03T09:00:00Z",
        "done_at": "2026-01-05T09:00:00Z",
        **fields,
    }


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# Each poisoned line, the reason it is skipped for, and what the old code did with it.
POISONED: dict[str, tuple[str, str]] = {
    # RecursionError while parsing: the sync failed, every later sync on the same line.
    "nested_100000_deep": (
        json.dumps(deployment(1))[:-1] + ', "extra": ' + nested(100_000) + "}",
        "too_deep",
    ),
    # A lone surrogate has no UTF-8 form: both stores failed the whole page.
    "lone_surrogate": (json.dumps(deployment(1, sha="\ud800")), "invalid_text"),
    # 23:00 at -05:00 on the last day of 9999 is in the year 10000 in UTC: OverflowError.
    "overflows_in_utc": (
        json.dumps(deployment(1, started_at="9999-12-31T23:00:00-05:00")),
        "timestamp_range",
    ),
    # Stored as it was, in year 9999.
    "year_9999": (json.dumps(deployment(1, finished_at="9999-01-01T00:00:00Z")), "timestamp_range"),
    # SQLite refused it (OverflowError), PostgreSQL too (integer out of range).
    "integer_2_63": (json.dumps(change(2**63)), "integer_range"),
    # SQLite kept it, PostgreSQL's integer column refused it: the stores disagreed.
    "integer_2_31": (json.dumps(change(2**31)), "integer_range"),
    # SQLite kept it, PostgreSQL refuses NUL in text.
    "nul": (json.dumps(deployment(1, sha="ab\x00cd")), "invalid_text"),
    # PostgreSQL refused an index entry over about 2,700 bytes.
    "id_of_3000_bytes": (json.dumps(deployment(1, id="ci:deployment:" + "x" * 3000)), "invalid_id"),
    # Stored as ["abc", "None"].
    "null_in_a_list": (json.dumps(deployment(1, commit_shas=["abc", None])), "malformed"),
    # Stored with an empty id.
    "empty_id": (json.dumps(deployment(1, id="")), "malformed"),
    # Stored, counting a flow time of 0.
    "done_before_started": (
        json.dumps(work_item(1, started_at="2026-01-06T09:00:00Z")),
        "time_order",
    ),
    # A string of 70,000 characters and a list of 20,000 items: over what a field may hold.
    "long_string": (json.dumps(deployment(1, original_result="x" * 70_000)), "too_large"),
    "long_list": (
        json.dumps(deployment(1, commit_shas=[f"s{i}" for i in range(20_000)])),
        "too_large",
    ),
    # Decoded, parsed and stored whole: a 100 MB line held several copies of itself at once.
    "line_over_8_mib": (json.dumps(deployment(1, original_result="x" * (8 << 20))), "too_large"),
}


def ci(path: Path) -> FileConnector:
    config = FileConfig.model_validate({"name": "ci", "type": "file", "path": path})
    return FileConnector(config, Settings())


def feed_with(tmp_path: Path, poisoned: str) -> Path:
    """Line 1 a good deployment, line 2 poisoned, line 3 a good deployment."""
    feed = tmp_path / "feed.jsonl"
    lines = [json.dumps(deployment(2)), poisoned, json.dumps(deployment(3))]
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    return feed


def stored(store: Store) -> dict[str, dict[str, Any]]:
    return {
        r.id: to_json(r)
        for kind in ("deployment", "change", "work_item")
        for r in store.iter_records(kind)
    }


@pytest.mark.parametrize("case", sorted(POISONED))
def test_a_poisoned_line_is_skipped_and_the_source_goes_on(
    store: Store, tmp_path: Path, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    line, reason = POISONED[case]
    connector = ci(feed_with(tmp_path, line))
    with caplog.at_level(logging.WARNING, logger="streamgauge.sync"):
        outcome = sync_source(connector, store, clock=lambda: SYNCED)
    (logged,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert logged.startswith(f"ci/records: skipped feed.jsonl:2 ({reason}): ")
    assert outcome.ok, outcome.error
    assert outcome.skipped == 1
    # The two good lines are stored, on SQLite and PostgreSQL alike.
    assert sorted(stored(store)) == ["ci:deployment:2", "ci:deployment:3"]
    (health,) = store.health()
    assert health.skipped_by_reason == ((reason, 1),)
    (kept,) = store.skipped()
    assert (kept.source, kept.skip.location, kept.skip.reason) == ("ci", "feed.jsonl:2", reason)
    assert kept.times == 1
    # The cursor moved past the line: the next sync meets nothing, skips nothing.
    again = sync_source(connector, store, clock=lambda: SYNCED)
    assert (again.ok, again.skipped, again.written.changed) == (True, 0, 0)


@pytest.mark.postgres
def test_sqlite_and_postgresql_keep_the_same_records_and_skips(
    tmp_path: Path, postgres_url: str
) -> None:
    feed = tmp_path / "feed.jsonl"
    good = [deployment(2), deployment(3), change(7), work_item(4)]
    lines = [json.dumps(g) for g in good] + [line for line, _ in POISONED.values()]
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    seen = []
    for url in (f"sqlite:///{tmp_path / 'sg.db'}", postgres_url):
        with Store.open(url) as store:
            outcome = sync_source(ci(feed), store, clock=lambda: SYNCED)
            assert outcome.ok, outcome.error
            (health,) = store.health()
            locations = sorted((s.skip.location, s.skip.reason) for s in store.skipped())
            raws = {r.native_id: r.payload for r in store.iter_raw("ci")}
            seen.append((stored(store), health.skipped_by_reason, locations, raws))
    on_sqlite, on_postgres = seen
    assert on_sqlite == on_postgres
    records, by_reason, locations, raws = on_sqlite
    # Raw payloads are kept unless they themselves are out of bounds: only the lone surrogate
    # (line 6) is. Lines the file source cannot parse (the 100,000-deep one, the one over
    # 8 MiB) are kept as it marks them: their first characters and what is wrong.
    assert sorted(raws) == sorted(f"feed.jsonl:{n}" for n in range(1, 19) if n != 6)
    long_line = len(POISONED["line_over_8_mib"][0]) + 1  # with its newline; all ASCII
    assert raws["feed.jsonl:18"]["error"] == (
        f"line of {long_line} bytes is longer than max_line_bytes ({1 << 20}); skipped"
    )
    assert sorted(records) == [
        "ci:change:7",
        "ci:deployment:2",
        "ci:deployment:3",
        "ci:work_item:4",
    ]
    # The 14 poisoned lines (5 to 18), counted by hand from POISONED: too_deep 1 (nested),
    # invalid_text 2 (surrogate, NUL), timestamp_range 2 (overflow, year 9999), integer_range 2
    # (2^63, 2^31), invalid_id 1 (3,000 bytes), malformed 2 (null in a list, empty id),
    # time_order 1, too_large 3 (a long string, a long list, a line over max_line_bytes).
    assert dict(by_reason) == {
        "integer_range": 2,
        "invalid_id": 1,
        "invalid_text": 2,
        "malformed": 2,
        "time_order": 1,
        "timestamp_range": 2,
        "too_deep": 1,
        "too_large": 3,
    }
    assert [where for where, _ in locations] == sorted(f"feed.jsonl:{n}" for n in range(5, 19))


# --- raw payloads from any connector -------------------------------------------------------


class ListConfig(SourceConfig):
    type: Literal["list"] = "list"


class PayloadStream(Stream):
    """Serves the given payloads in one page; the cursor is their count."""

    name = "changes"

    def __init__(self, payloads: Sequence[dict[str, Any]]) -> None:
        self.payloads = payloads

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        raws = [RawRecord(self.name, str(n), p, T0) for n, p in enumerate(self.payloads)]
        yield Page(raws, cursor=str(len(raws)))


class PayloadConnector(Connector):
    """A change per payload, its number the payload's ``n``."""

    type = "list"
    config_model = ListConfig

    def __init__(self, payloads: Sequence[dict[str, Any]]) -> None:
        super().__init__(ListConfig(name="src"), Settings())
        self.stream = PayloadStream(payloads)

    def streams(self) -> Sequence[Stream]:
        return [self.stream]

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        yield Change(
            id=make_id("src", "change", raw.native_id),
            source="src",
            repo="acme/app",
            number=raw.payload["n"],
            state=ChangeState.OPEN,
            created_at=T0,
        )


def deep_payload(depth: int) -> dict[str, Any]:
    """``{"n": 1, "x": [[[...]]]}`` nested ``depth`` lists deep, built without recursion."""
    inner: list[Any] = []
    for _ in range(depth - 1):
        inner = [inner]
    return {"n": 1, "x": inner}


def test_a_raw_payload_nested_100000_deep_is_skipped(store: Store) -> None:
    # The old sync failed in the JSON encoder (RecursionError) and kept none of the page.
    connector = PayloadConnector([{"n": 0}, deep_payload(100_000), {"n": 2}])
    outcome = sync_source(connector, store)
    assert outcome.ok, outcome.error
    assert sorted(r.number for r in store.iter_records("change")) == [0, 2]  # type: ignore[attr-defined]
    assert [raw.native_id for raw in store.iter_raw("src")] == ["0", "2"]
    (kept,) = store.skipped()
    assert (kept.skip.location, kept.skip.reason) == ("1", "too_deep")
    assert kept.skip.excerpt is None  # too deep to serialize, so no excerpt
    assert store.get_cursor("src", "changes") == "3"


def test_a_value_the_database_refuses_is_found_and_skipped(store: Store) -> None:
    # With the integer bound lifted, 2^63 reaches the database: SQLite's driver and PostgreSQL
    # both refuse it. The page of 6 is split in halves (3 + 3), then the half holding it
    # (n = 2**63 is the 5th) again, down to that one record; the other 5 and the cursor land.
    from streamgauge.store.bounds import RecordLimits

    loose = RecordLimits(min_int=-(2**80), max_int=2**80)
    numbers = [1, 2, 3, 4, 2**63, 6]
    outcome = sync_source(PayloadConnector([{"n": n} for n in numbers]), store, limits=loose)
    assert outcome.ok, outcome.error
    assert outcome.skipped == 1
    assert outcome.written.inserted == 5
    assert sorted(r.number for r in store.iter_records("change")) == [1, 2, 3, 4, 6]  # type: ignore[attr-defined]
    (kept,) = store.skipped()
    assert (kept.skip.location, kept.skip.reason) == ("4", "write_failed")
    assert store.get_cursor("src", "changes") == "6"
    (health,) = store.health()
    assert health.skipped_by_reason == (("write_failed", 1),)


def test_a_record_skipped_again_counts_again(store: Store) -> None:
    # The same poisoned payload in two syncs: one kept row, seen twice, counted twice, as the
    # skipped-records counter counts every skip.
    for _ in range(2):  # the stream serves its payloads whatever the cursor
        sync_source(PayloadConnector([{"n": 2**40}]), store)
    (kept,) = store.skipped()
    assert (kept.skip.reason, kept.times) == ("integer_range", 2)
    (health,) = store.health()
    assert health.skipped_by_reason == (("integer_range", 2),)
    assert health.skipped_total == 2


def test_skips_are_exported_by_source_and_reason(store: Store, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    lines = [
        POISONED["nul"][0],
        POISONED["lone_surrogate"][0],
        POISONED["integer_2_31"][0],
        json.dumps(deployment(2)),
    ]
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert sync_source(ci(feed), store, clock=lambda: SYNCED).ok
    exposition = Exposition(ServedState(health=store.health(), sources=["ci"]))
    text = exposition.rendered.text.decode()
    samples = {
        (s.labels["source"], s.labels["reason"]): s.value
        for family in text_string_to_metric_families(text)
        if family.name == "streamgauge_sync_records_skipped"
        for s in family.samples
        if s.name == "streamgauge_sync_records_skipped_total"
    }
    # NUL and lone surrogate are invalid_text (2), 2^31 an integer_range (1); every other
    # reason is served at 0 from the start.
    assert {k: v for k, v in samples.items() if v} == {
        ("ci", "invalid_text"): 2.0,
        ("ci", "integer_range"): 1.0,
    }
    assert {reason for _, reason in samples} == {r.value for r in SkipReason}
    assert "# TYPE streamgauge_sync_records_skipped_total counter" in text


def test_a_failure_of_the_store_itself_is_not_blamed_on_a_record(
    store: Store, store_url: str
) -> None:
    # A table gone from under the store: the database fails the write for every record alike.
    # That is the store's fault: nothing is skipped, the cursor stays, the sync fails.
    engine = create_engine(store_url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.exec_driver_sql('DROP TABLE "change"')
    engine.dispose()
    outcome = sync_source(PayloadConnector([{"n": 1}, {"n": 2}]), store)
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.reason == "store"  # the store's failure, not blamed on a record
    assert "failed" in outcome.error
    assert outcome.skipped == 0
    assert store.skipped() == []
    assert store.get_cursor("src", "changes") is None
