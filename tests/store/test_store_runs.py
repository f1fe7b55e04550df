"""The sync log and what health() sums from it; snapshots saved, read back and pruned."""

from __future__ import annotations

from typing import Any

from tests.builders import at
from tests.store.store_peek import TablePeek

from streamgauge.metrics.snapshot import HistogramSample, Snapshot, labels
from streamgauge.store import SourceHealth, Store, SyncRun
from streamgauge.store.codec import to_micros


def run(source: str, hour: int, ok: bool, **counts: Any) -> SyncRun:
    """A two-minute sync starting ``hour`` hours into the test timeline."""
    return SyncRun(source, at(hours=hour), at(hours=hour, minutes=2), ok, **counts)


def test_health_sums_the_sync_log_per_source(store: Store) -> None:
    assert store.health() == []
    store.record_sync(run("github", 1, True, records_changed=5, skipped=1, api_calls=10,
                          rate_limit_remaining=4000))  # fmt: skip
    store.record_sync(run("jira", 1, False, api_calls=1, error="401 Unauthorized: check token"))
    store.record_sync(run("github", 2, False, records_changed=2, api_calls=3,
                          rate_limit_remaining=3990, error="502 Bad Gateway"))  # fmt: skip
    store.record_sync(run("github", 3, True, api_calls=1, rate_limit_remaining=3985))

    # github: three runs. Last success is the run of hour 3, finished at 03:02. One failed run.
    # records 5 + 2 + 0 = 7, skipped 1 + 0 + 0 = 1, API calls 10 + 3 + 1 = 14. Budget of the
    # newest run (hour 3): 3985. Last error: the failed run of hour 2, still shown after
    # the source recovered.
    # jira: one failed run: never succeeded, 1 error, 1 API call, no budget reported.
    assert store.health() == [
        SourceHealth(
            source="github",
            last_success_at=at(hours=3, minutes=2),
            errors_total=1,
            records_total=7,
            skipped_total=1,
            api_calls_total=14,
            rate_limit_remaining=3985,
            last_error="502 Bad Gateway",
        ),
        SourceHealth(
            source="jira",
            last_success_at=None,
            errors_total=1,
            records_total=0,
            skipped_total=0,
            api_calls_total=1,
            rate_limit_remaining=None,
            last_error="401 Unauthorized: check token",
        ),
    ]


def snapshot(hour: int, value: float) -> Snapshot:
    snap = Snapshot(computed_at=at(hours=hour))
    snap.add("streamgauge_flow_load", value, team="payments", type="feature", flow_state="active")
    snap.histograms.append(
        HistogramSample(
            "streamgauge_change_lead_time_seconds",
            labels(team="payments", app="checkout"),
            bounds=(3600.0, 86400.0),
            counts=(1, 3),
            count=4,
            sum=400000.5,
        )
    )
    return snap


def test_the_latest_snapshot_comes_back_whole(store: Store) -> None:
    assert store.latest_snapshot() is None
    store.save_snapshot(snapshot(1, 3))
    store.save_snapshot(snapshot(2, 4))
    latest = store.latest_snapshot()
    assert latest is not None
    assert latest.computed_at == at(hours=2)
    assert latest.samples == snapshot(2, 4).samples
    assert latest.histograms == snapshot(2, 4).histograms


def test_only_the_newest_snapshots_are_kept(store_url: str, peek: TablePeek) -> None:
    with Store.open(store_url, keep_snapshots=2) as store:
        for hour in (1, 2, 3):
            store.save_snapshot(snapshot(hour, hour))
        # Saved late but computed earlier than the others: it is the oldest, so it is dropped.
        store.save_snapshot(snapshot(0, 99))

        kept = sorted(row[0] for row in peek.rows("SELECT computed_at FROM snapshots"))
        assert kept == [to_micros(at(hours=2)), to_micros(at(hours=3))]
        latest = store.latest_snapshot()
        assert latest is not None
        assert latest.computed_at == at(hours=3)
        assert latest.values("streamgauge_flow_load") == {
            labels(team="payments", type="feature", flow_state="active"): 3.0
        }
