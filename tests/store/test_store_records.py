"""Model records and raw payloads through the store: round trip, idempotence, updates, seq."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

from tests.builders import (
    SOURCE,
    at,
    change,
    commit,
    deployment,
    incident,
    pipeline_run,
    status_change,
    work_item,
)
from tests.store.store_peek import TablePeek

from streamgauge.connectors.base import RawRecord
from streamgauge.model import (
    KINDS,
    ChangeState,
    DeploymentKind,
    Environment,
    FlowState,
    FlowType,
    Record,
    RunResult,
    Severity,
)
from streamgauge.store import Store, WriteResult

# A zone east of UTC, to show that what comes back is the same instant, in UTC.
CEST = timezone(timedelta(hours=2))


def every_kind() -> list[Record]:
    """One record of each kind, using every stored field type: text with non-ASCII, integers,
    booleans, enums, tuples, None, microseconds, an instant before 1970 and one far ahead."""
    item = work_item(
        created_at=datetime(2026, 1, 1, 11, 30, 15, 123456, tzinfo=CEST),
        type=FlowType.DEFECT,
        original_type="Bug",
        flow_state=FlowState.ACTIVE,
        title="Zahlung schlägt fehl — “quotes”",
        stage="build",
        started_at=at(days=1, minutes=1),
        labels=("payments", "p1"),
        parent="PAY-1",
        project="PAY",
        history_complete=False,
        native_id="wi-1",
    )
    return [
        item,
        status_change(
            item=item,
            at=at(days=1, minutes=1),
            from_state=FlowState.NEW,
            to_state=FlowState.ACTIVE,
            to_stage="build",
            native_id="sc-1",
        ),
        change(
            created_at=at(days=1),
            first_commit_at=at(hours=20),
            first_review_at=at(days=1, hours=3),
            approved_at=at(days=1, hours=4),
            merged_at=at(days=2),
            merge_sha="f00d",
            base_branch="main",
            head_branch="PAY-7-fix",
            work_item_keys=("PAY-7",),
            review_rounds=3,
            labels=(),
            commit_shas=("c1", "c2"),
            state=ChangeState.MERGED,
            native_id="42",
        ),
        commit(
            sha="c1",
            authored_at=datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            committed_at=datetime(2200, 6, 1, 0, 0, 0, 1, tzinfo=UTC),
            message="PAY-7 fix rounding",
            parents=("c0",),
            team=None,
            app=None,
        ),
        pipeline_run(
            started_at=at(days=2, minutes=1),
            finished_at=at(days=2, minutes=9),
            result=RunResult.FAILURE,
            original_result="failure",
            sha="f00d",
            event="push",
            attempt=2,
            native_id="run-1",
        ),
        deployment(
            finished_at=at(days=3),
            environment=Environment.STAGING,
            original_environment="stage-eu",
            kind=DeploymentKind.HOTFIX,
            commit_shas=("c1", "c2"),
            incident_keys=("INC-1",),
            native_id="dep-1",
        ),
        incident(
            opened_at=at(days=4),
            resolved_at=at(days=4, hours=2),
            severity=Severity.CRITICAL,
            original_severity="SEV1",
            deployment_id="test:deployment:dep-1",
            native_id="inc-1",
        ),
    ]


def raw(native_id: str, payload: dict[str, object], fetched_at: datetime) -> RawRecord:
    return RawRecord("issues", native_id, payload, fetched_at, f"https://tool.test/{native_id}")


def test_every_kind_round_trips_exactly_in_utc(store: Store) -> None:
    records = every_kind()
    result = store.write_batch(source=SOURCE, stream="all", raws=[], records=records, cursor=None)
    assert result == WriteResult(inserted=7)

    dataset = store.load_dataset()
    loaded: list[Record] = [
        *dataset.work_items, *dataset.status_changes, *dataset.changes, *dataset.commits,
        *dataset.pipeline_runs, *dataset.deployments, *dataset.incidents,
    ]  # fmt: skip
    assert loaded == records
    for original, back in zip(records, loaded, strict=True):
        assert type(back) is type(original)
        for f in dataclasses.fields(back):
            value = getattr(back, f.name)
            assert type(value) is type(getattr(original, f.name)), f.name
            if isinstance(value, datetime):
                assert value.tzinfo is UTC, f.name
    # 11:30:15.123456 at UTC+2 is 09:30:15.123456 UTC.
    assert dataset.work_items[0].created_at == datetime(2026, 1, 1, 9, 30, 15, 123456, tzinfo=UTC)
    assert dataset.commits[0].authored_at.year == 1969
    assert store.counts() == dict.fromkeys(KINDS, 1)
    assert list(store.iter_records("change")) == [records[2]]


def test_writing_the_same_batch_twice_changes_nothing(store: Store, peek: TablePeek) -> None:
    raws = [raw("1", {"key": "PAY-1", "fields": {"n": 1}}, at(days=5))]
    first = store.write_batch(
        source=SOURCE, stream="issues", raws=raws, records=every_kind(), cursor="2026-01-05"
    )
    before = peek.dump()
    seq = store.max_seq()

    again = store.write_batch(
        source=SOURCE, stream="issues", raws=raws, records=every_kind(), cursor="2026-01-05"
    )

    assert first == WriteResult(inserted=7)
    assert again == WriteResult(unchanged=7)
    assert store.max_seq() == seq == 7
    assert peek.dump() == before


def test_a_changed_record_is_updated_with_a_new_seq(store: Store, peek: TablePeek) -> None:
    d1 = deployment(finished_at=None, started_at=at(days=1), native_id="d1")
    d2 = deployment(finished_at=at(days=1), native_id="d2")
    store.write_batch(source=SOURCE, stream="deploys", raws=[], records=[d1, d2], cursor=None)
    seqs_before = dict(peek.rows("SELECT id, seq FROM deployment"))

    finished = dataclasses.replace(d1, finished_at=at(days=1, minutes=5), result=RunResult.SUCCESS)
    result = store.write_batch(
        source=SOURCE, stream="deploys", raws=[], records=[finished, d2], cursor=None
    )

    assert result == WriteResult(updated=1, unchanged=1)
    seqs_after = dict(peek.rows("SELECT id, seq FROM deployment"))
    assert seqs_after[d2.id] == seqs_before[d2.id]
    assert seqs_after[d1.id] == 3  # seq 1 and 2 went to the first batch
    assert sorted(store.load_dataset().deployments, key=lambda d: d.id) == [finished, d2]
    # iter_records follows seq: d2 (2) before the updated d1 (3).
    assert list(store.iter_records("deployment")) == [d2, finished]


def test_the_last_copy_of_a_record_in_one_batch_wins(store: Store) -> None:
    old = incident(opened_at=at(days=1), native_id="i1")
    new = dataclasses.replace(old, resolved_at=at(days=2))
    result = store.write_batch(
        source=SOURCE, stream="incidents", raws=[], records=[old, new], cursor=None
    )
    assert result == WriteResult(inserted=1)
    assert list(store.iter_records("incident")) == [new]


def test_changed_since_returns_what_changed_after_a_seq(store: Store) -> None:
    a = commit(sha="a", authored_at=at(days=1))
    b = commit(sha="b", authored_at=at(days=2))
    item = work_item(created_at=at(days=1), native_id="w1")
    store.write_batch(source=SOURCE, stream="s", raws=[], records=[a, b, item], cursor=None)
    everything, high = store.changed_since(0)
    assert everything == [a, b, item]  # seq 1, 2, 3 in write order
    assert high == store.max_seq() == 3

    moved = dataclasses.replace(item, flow_state=FlowState.ACTIVE, started_at=at(days=3))
    c = commit(sha="c", authored_at=at(days=3))
    # a and b unchanged: not reported again.
    store.write_batch(source=SOURCE, stream="s", raws=[], records=[a, b, moved, c], cursor=None)

    changed, newer = store.changed_since(high)
    assert changed == [c, moved]  # kinds are written in the order they first appear
    assert newer == 5
    assert store.changed_since(newer) == ([], newer)


def test_iter_records_filters_by_source(store: Store) -> None:
    ours = pipeline_run(started_at=at(days=1), native_id="r1")
    theirs = dataclasses.replace(ours, id="ci:pipeline_run:r1", source="ci")
    store.write_batch(source=SOURCE, stream="runs", raws=[], records=[ours], cursor=None)
    store.write_batch(source="ci", stream="runs", raws=[], records=[theirs], cursor=None)
    assert list(store.iter_records("pipeline_run", source="ci")) == [theirs]
    assert len(list(store.iter_records("pipeline_run"))) == 2
    assert list(store.iter_records("incident")) == []


def test_raw_payloads_keep_their_lineage(store: Store) -> None:
    first = [
        raw("1", {"status": "Open", "n": [1, 2]}, at(days=1)),
        raw("2", {"x": "é"}, at(days=1)),
    ]
    store.write_batch(source=SOURCE, stream="issues", raws=first, records=[], cursor=None)
    # Fetched again a day later: the unchanged payload keeps its first fetch time, the changed
    # one is replaced with its new fetch time.
    second = [
        raw("1", {"n": [1, 2], "status": "Open"}, at(days=2)),
        raw("2", {"x": "ê"}, at(days=2)),
    ]
    store.write_batch(source=SOURCE, stream="issues", raws=second, records=[], cursor=None)

    stored = list(store.iter_raw(SOURCE, "issues"))
    assert [(r.native_id, r.payload, r.fetched_at) for r in stored] == [
        ("1", {"status": "Open", "n": [1, 2]}, at(days=1)),
        ("2", {"x": "ê"}, at(days=2)),
    ]
    assert stored[0].url == "https://tool.test/1"
    assert stored[0].stream == "issues"
    assert list(store.iter_raw(SOURCE, "other")) == []
    assert list(store.iter_raw("nobody")) == []
