"""Incremental sync by `updated`: JQL in the user's time zone, overlap, cursor bounds, resync cost."""

from __future__ import annotations

from collections.abc import Callable

from tests.connectors.jira.conftest import NOW, at
from tests.fakes.jira import FakeJira

from streamgauge.connectors.base import SyncContext
from streamgauge.connectors.jira import JiraConnector
from streamgauge.store import Store
from streamgauge.sync import sync_source


def test_second_sync_reads_from_the_cursor_in_the_users_time_zone(
    fake: FakeJira, make_connector: Callable[..., JiraConnector], sqlite_store: Store
) -> None:
    assert sync_source(make_connector(fake), sqlite_store, clock=lambda: NOW).ok
    # Cursor: the newest `updated`, PAY-9's 9 Mar 00:00 UTC.
    assert sqlite_store.get_cursor("jira", "issues") == at(9).isoformat()

    # PAY-7 starts on 10 Mar 13:30 UTC; the next sync runs at 15:00.
    issue = next(i for i in fake.data.issues if i.key == "PAY-7")
    fake.data.transition(issue, at(10, 13, 30), "In Progress")
    later = at(10, 15)
    fake.queries.clear()
    outcome = sync_source(make_connector(fake), sqlite_store, clock=lambda: later)
    assert outcome.ok

    # Bound: 9 Mar 00:00 UTC - 5 min overlap = 8 Mar 23:55 UTC = 18:55 in New York (UTC-5),
    # written in the API user's zone. Written in UTC it would read as 9 Mar 04:55 UTC and miss
    # PAY-9.
    assert fake.queries == [
        'project in ("PAY") AND updated >= "2024-03-08 18:55" ORDER BY updated ASC, key ASC'
    ]
    # Read again: PAY-9 (9 Mar 00:00, inside the overlap) and PAY-7; PAY-9 is still malformed.
    assert outcome.skipped == 1
    assert outcome.written.changed == 2  # PAY-7's work item now started, and its new status change
    assert sqlite_store.get_cursor("jira", "issues") == at(10, 13, 30).isoformat()
    item = next(
        r for r in sqlite_store.iter_records("work_item") if getattr(r, "key", "") == "PAY-7"
    )
    assert getattr(item, "started_at", None) == at(10, 13, 30)


def test_unchanged_resync_is_cheap_and_changes_nothing(
    fake: FakeJira, make_connector: Callable[..., JiraConnector], sqlite_store: Store
) -> None:
    assert sync_source(make_connector(fake), sqlite_store, clock=lambda: NOW).ok
    before = fake.requests_total
    outcome = sync_source(make_connector(fake), sqlite_store, clock=lambda: NOW)
    assert outcome.ok
    assert outcome.written.changed == 0
    # Cloud: serverInfo x2, myself, status, field, one search page; Data Center: one serverInfo.
    assert fake.requests_total - before == (6 if fake.cloud else 5)


def test_cursor_never_passes_the_sync_start(
    fake: FakeJira, make_connector: Callable[..., JiraConnector]
) -> None:
    connector = make_connector(fake)
    # A sync that started on 5 Mar 12:00 sees issues updated later (the fake is "ahead" of it).
    ctx = SyncContext(source="jira", started_at=at(5, 12))
    cursors = [page.cursor for page in connector.streams()[0].read(None, ctx)]
    assert cursors[-1] == at(5, 12).isoformat()
