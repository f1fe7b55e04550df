"""A Jira issue whose summary holds a NUL is skipped alike on SQLite and PostgreSQL; the
other issues and the cursor land."""

from __future__ import annotations

from collections.abc import Callable

from tests.connectors.jira.conftest import NOW, at
from tests.fakes.jira import FakeJira, FakeProjectData

from streamgauge.connectors.jira import JiraConnector
from streamgauge.model import WorkItem
from streamgauge.store import Store
from streamgauge.sync import sync_source


def five_issues() -> FakeProjectData:
    data = FakeProjectData()
    for day in (1, 2, 3, 4, 5):
        # PAY-3's summary holds a NUL, which PostgreSQL text cannot keep.
        summary = "Pay by \x00 card" if day == 3 else None
        data.add_issue(
            "PAY",
            type="Story",
            created=at(day, 9),
            summary=summary,
            path=[(at(day, 10), "In Progress")],
        )
    return data


def test_a_nul_in_a_summary_skips_that_issue_only(
    mode: str, make_connector: Callable[..., JiraConnector], store: Store
) -> None:
    with FakeJira(five_issues(), mode=mode) as server:  # type: ignore[arg-type]
        outcome = sync_source(make_connector(server), store, clock=lambda: NOW)
        assert outcome.ok, outcome.error
        # The old sync stored all five on SQLite and none on PostgreSQL (the page failed).
        items = [r for r in store.iter_records("work_item") if isinstance(r, WorkItem)]
        assert sorted(i.key for i in items) == ["PAY-1", "PAY-2", "PAY-4", "PAY-5"]
        # Its status change is left out with it: no history without its item.
        changes = list(store.iter_records("status_change"))
        assert len(changes) == 4
        assert outcome.skipped == 1
        (health,) = store.health()
        assert health.skipped_by_reason == (("invalid_text", 1),)
        (kept,) = store.skipped()
        assert kept.skip.record_id is not None
        assert kept.skip.record_id.startswith("jira:work_item:")
        assert "title: a NUL character (U+0000) at position 7" in kept.skip.detail
        # The raw issue is kept (JSON escapes the NUL), so a later mapping can read it again.
        assert len(list(store.iter_raw("jira"))) == 5
        again = sync_source(make_connector(server), store, clock=lambda: NOW)
        assert again.ok
        assert again.written.changed == 0
