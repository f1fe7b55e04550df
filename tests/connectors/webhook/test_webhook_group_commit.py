"""Receipts of concurrent requests committed in groups: each answered after its commit, a
duplicate told apart even within one group, a failed group failing all its requests."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine

from streamgauge.connectors.webhook.intake import GroupCommit
from streamgauge.store import Store, StoreError
from streamgauge.store.inbox import Receipt


def _receipt(key: str) -> Receipt:
    return Receipt("push", key, "application/json", {"webhook-id": key}, b"{}")


def _run_all(commits: GroupCommit, keys: list[str]) -> list[bool | str]:
    results: list[bool | str] = [False] * len(keys)
    start = threading.Barrier(len(keys))

    def one(n: int) -> None:
        start.wait()
        try:
            results[n] = commits.keep(_receipt(keys[n]))
        except StoreError as exc:
            results[n] = f"error: {type(exc).__name__}"

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_receipts_are_each_kept_once(store: Store) -> None:
    # 30 distinct events, and one event delivered 10 times at once
    keys = [f"k{n}" for n in range(30)] + ["same"] * 10
    results = _run_all(GroupCommit(store, max_group=8), keys)
    assert results[:30] == [True] * 30
    assert sorted(results[30:]) == [False] * 9 + [True]
    assert store.event_counts() == {("push", "pending"): 31}
    assert sorted(e.dedup_key for e in store.pending_events("push", 100)) == sorted(set(keys))


def test_a_group_that_cannot_be_committed_fails_every_request_in_it(
    store: Store, store_url: str
) -> None:
    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE webhook_events RENAME TO webhook_events_away")
    commits = GroupCommit(store)
    try:
        results = _run_all(commits, [f"k{n}" for n in range(12)])
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE webhook_events_away RENAME TO webhook_events")
        engine.dispose()
    assert results == ["error: StoreError"] * 12
    assert store.event_counts() == {}
    # and the committer is free again afterwards
    assert commits.keep(_receipt("later")) is True


@pytest.mark.parametrize("max_group", [1, 64])
def test_group_size_does_not_change_the_outcome(store: Store, max_group: int) -> None:
    results = _run_all(GroupCommit(store, max_group=max_group), [f"k{n % 5}" for n in range(20)])
    assert results.count(True) == 5
    assert results.count(False) == 15
