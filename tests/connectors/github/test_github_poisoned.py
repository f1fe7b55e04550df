"""A GitHub issue whose title holds a NUL or a lone surrogate is skipped alike on SQLite and
PostgreSQL; everything else the repository holds is stored as a clean sync stores it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.connectors.github.conftest import NOW, Factory, at, small_org
from tests.fakes.github import FakeGitHub

from streamgauge.model import to_json
from streamgauge.store import Store
from streamgauge.sync import sync_source

KINDS = ("work_item", "change", "commit", "pipeline_run", "deployment", "incident")


def stored(store: Store) -> dict[str, dict[str, Any]]:
    return {r.id: to_json(r) for kind in KINDS for r in store.iter_records(kind)}


def test_poisoned_issue_titles_skip_those_issues_only(
    connector_for: Factory, store: Store, tmp_path: Path
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'clean.db'}") as clean_store:
        clean = FakeGitHub(small_org()).start()
        try:
            assert sync_source(connector_for(clean), clean_store, clock=lambda: NOW).ok
        finally:
            clean.stop()
        expected = stored(clean_store)

    org = small_org()
    repo = org.repos["checkout"]
    repo.open_issue("Crash on \x00 in a name", at(7, 10), labels=["bug"])
    repo.open_issue("Receipt shows \ud800", at(7, 11), labels=["bug"])
    poisoned = FakeGitHub(org).start()
    try:
        outcome = sync_source(connector_for(poisoned), store, clock=lambda: NOW)
    finally:
        poisoned.stop()
    # The old sync failed on PostgreSQL (NUL) and on both stores (lone surrogate).
    assert outcome.ok, outcome.error
    assert stored(store) == expected
    (health,) = store.health()
    assert health.skipped_by_reason == (("invalid_text", 2),)
    # The NUL is found in the mapped work item (its raw JSON escapes it, and is kept); the
    # surrogate already in the raw payload, which is not kept.
    found = {s.skip.location.split(" ")[0]: s.skip.detail for s in store.skipped("github")}
    assert found == {
        "acme/checkout#6": "title: a NUL character (U+0000) at position 9",
        "acme/checkout#7": "payload.title: a lone surrogate (U+D800) at position 14",
    }
