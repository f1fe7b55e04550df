"""A small fake project synced on Cloud and Data Center: status history, flow load and flow time."""

from __future__ import annotations

from collections.abc import Callable

from tests.connectors.jira.conftest import NOW, at
from tests.fakes.jira import FakeJira

from streamgauge.connectors.base import SkippableRecord, SyncContext
from streamgauge.connectors.jira import JiraConnector, unmapped_report
from streamgauge.model import (
    FlowState,
    FlowType,
    Incident,
    Record,
    Severity,
    StatusChange,
    WorkItem,
)
from streamgauge.store import Store
from streamgauge.sync import sync_source


def read_all(connector: JiraConnector) -> tuple[list[Record], SyncContext]:
    ctx = SyncContext(source=connector.name, started_at=NOW)
    records: list[Record] = []
    for page in connector.streams()[0].read(None, ctx):
        for raw in page.raws:
            try:
                records.extend(connector.normalize(raw))
            except SkippableRecord:  # counted as the sync engine counts it
                ctx.stats.skipped += 1
    return records, ctx


def by_key(records: list[Record]) -> dict[str, WorkItem]:
    return {r.key: r for r in records if isinstance(r, WorkItem)}


def test_status_history_flow_load_and_flow_time(
    fake: FakeJira, make_connector: Callable[..., JiraConnector]
) -> None:
    records, ctx = read_all(make_connector(fake))
    items = by_key(records)
    changes = [r for r in records if isinstance(r, StatusChange)]

    # PAY-9 is malformed: 9 issues, 8 work items, 1 skipped.
    assert sorted(items) == [f"PAY-{n}" for n in range(1, 9)]
    assert ctx.stats.skipped == 1
    # Status history: PAY-1 3, PAY-2 3, PAY-3 1, PAY-4 1, PAY-5 2, PAY-6 60, PAY-7 0, PAY-8 1 = 71.
    assert len(changes) == 71
    pay6 = sorted((c for c in changes if c.item_id == items["PAY-6"].id), key=lambda c: c.at)
    assert len(pay6) == 60  # past the 100 inlined histories, completed by a further request
    assert items["PAY-6"].history_complete
    assert (pay6[0].from_status, pay6[0].to_status, pay6[0].at) == (
        "To Do",
        "In Progress",
        at(1, 1),
    )
    assert (pay6[-1].from_status, pay6[-1].to_status, pay6[-1].to_state) == (
        "In Progress",
        "Done",
        FlowState.DONE,
    )
    blocked = next(
        c for c in changes if c.item_id == items["PAY-2"].id and c.to_status == "Blocked"
    )
    assert (blocked.from_state, blocked.to_state, blocked.at) == (
        FlowState.ACTIVE,
        FlowState.WAITING,
        at(6, 10),
    )

    # Flow load = items active or waiting now: PAY-2 (active) and PAY-3 (waiting, Blocked) = 2.
    load = {
        k: i.flow_state
        for k, i in items.items()
        if i.flow_state in (FlowState.ACTIVE, FlowState.WAITING)
    }
    assert load == {"PAY-2": FlowState.ACTIVE, "PAY-3": FlowState.WAITING}

    # Flow time = first entry into active/waiting -> done, for done items:
    #   PAY-1: 2 Mar 09:00 -> 5 Mar 09:00 = 3 d = 259200 s
    #   PAY-5: 6 Mar 01:00 -> 6 Mar 05:00 = 4 h = 14400 s
    #   PAY-6: 1 Mar 01:00 -> 3 Mar 12:00 = 59 h = 212400 s
    # PAY-4 was canceled (not done) and never started.
    flow_time = {
        k: (i.done_at - i.started_at).total_seconds()
        for k, i in items.items()
        if i.flow_state is FlowState.DONE and i.done_at and i.started_at
    }
    assert flow_time == {"PAY-1": 259200, "PAY-5": 14400, "PAY-6": 212400}
    assert items["PAY-4"].flow_state is FlowState.CANCELED
    assert (items["PAY-4"].started_at, items["PAY-4"].done_at) == (None, at(4, 12))
    assert items["PAY-7"].flow_state is FlowState.NEW
    assert items["PAY-7"].started_at is None
    # "Parked" has no category and no rule: counted as new, and reported as unmapped.
    assert items["PAY-8"].flow_state is FlowState.NEW

    # Types: Bug -> defect, Story/Task -> feature, Incident -> defect; Spike has no rule.
    assert items["PAY-2"].type is FlowType.DEFECT
    assert items["PAY-1"].type is FlowType.FEATURE
    assert items["PAY-8"].original_type == "Spike"

    incidents = [r for r in records if isinstance(r, Incident)]
    assert [(i.key, i.severity, i.opened_at, i.resolved_at) for i in incidents] == [
        ("PAY-5", Severity.CRITICAL, at(6, 0), at(6, 5))
    ]


def test_request_counts_by_mode(
    fake: FakeJira, make_connector: Callable[..., JiraConnector]
) -> None:
    read_all(make_connector(fake))
    if fake.cloud:
        # serverInfo twice (v2 to detect, v3 client), one search page, one bulk changelog call.
        assert fake.counts["search/jql"] == 1
        assert fake.counts["bulkfetch"] == 1
        assert fake.counts["search"] == 0
        assert fake.counts["changelog"] == 0
    else:
        # Data Center inlines the whole changelog: nothing to complete.
        assert fake.counts["search"] == 1
        assert fake.counts["issue"] == 0
        assert fake.counts["search/jql"] == 0


def test_per_issue_changelog_paging(make_connector: Callable[..., JiraConnector]) -> None:
    from tests.connectors.jira.conftest import small_project

    with FakeJira(small_project(), mode="cloud") as server:
        records, _ = read_all(make_connector(server, changelog="per_issue"))
        # PAY-6's 110 histories are two pages of 100.
        assert server.counts["changelog"] == 2
        assert server.counts["bulkfetch"] == 0
    items = by_key(records)
    assert (
        sum(1 for r in records if isinstance(r, StatusChange) and r.item_id == items["PAY-6"].id)
        == 60
    )


def test_data_center_with_a_capped_inline_changelog(
    make_connector: Callable[..., JiraConnector],
) -> None:
    from tests.connectors.jira.conftest import small_project

    with FakeJira(small_project(), mode="datacenter", inline_limit=100) as server:
        records, _ = read_all(make_connector(server))
        assert server.counts["issue"] == 1  # PAY-6 read again, whole
    items = by_key(records)
    assert items["PAY-6"].history_complete


def test_history_that_cannot_be_completed_is_flagged(
    make_connector: Callable[..., JiraConnector],
) -> None:
    from tests.connectors.jira.conftest import small_project

    # The issue endpoint caps the changelog too: the history stays short and says so.
    with FakeJira(small_project(), mode="datacenter", inline_limit=100) as server:
        server.issue_changelog_limit = 100
        records, _ = read_all(make_connector(server))
    items = by_key(records)
    assert not items["PAY-6"].history_complete
    assert all(i.history_complete for k, i in items.items() if k != "PAY-6")


def test_sync_into_store_and_unmapped_report(
    fake: FakeJira, make_connector: Callable[..., JiraConnector], sqlite_store: Store
) -> None:
    connector = make_connector(fake)
    outcome = sync_source(connector, sqlite_store, clock=lambda: NOW)
    assert outcome.ok
    assert outcome.skipped == 1
    counts = sqlite_store.counts()
    assert (counts["work_item"], counts["status_change"], counts["incident"]) == (8, 71, 1)
    # The cursor is the newest `updated` read: PAY-8's move to Parked (8 Mar 06:00); PAY-9 (9 Mar)
    # is malformed but its `updated` is still a valid time, so it is the high-water mark.
    assert sqlite_store.get_cursor("jira", "issues") == (at(9)).isoformat()

    report = unmapped_report(sqlite_store, connector.settings)
    assert [(e.what, e.project, e.name, e.issues) for e in report] == [
        ("status", "PAY", "Parked", 1),
        ("type", "PAY", "Spike", 1),
    ]
    assert outcome.api_calls == sum(fake.counts.values())
