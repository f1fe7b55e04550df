"""A store opened with manual checkpoints leaves SQLite's log to `checkpoint`, off the commits."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from streamgauge.store import Store


def _autocheckpoint(store: Store) -> int:
    raw = store._engine.raw_connection()
    try:
        (pages,) = raw.cursor().execute("PRAGMA wal_autocheckpoint").fetchone()
        return int(pages)
    finally:
        raw.close()


def _fill(store: Store, n: int) -> None:
    for i in range(n):
        store.receive_event(
            source="push", dedup_key=f"k{i}", content_type="application/json", headers={},
            body=b"x" * 4000,
        )  # fmt: skip


def test_commits_of_a_manual_store_never_checkpoint_and_checkpoint_does(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store.open(f"sqlite:///{path}", manual_checkpoints=True) as store:
        assert _autocheckpoint(store) == 0
        # 1,500 events of 4 kB: more pages than SQLite's default auto-checkpoint (1,000)
        _fill(store, 1500)
        wal = path.with_name("store.db-wal")
        # every commit since the store opened is still in the log, none in the database file
        assert wal.stat().st_size > 1500 * 4000
        assert path.stat().st_size < 1500 * 4000
        store.checkpoint()
        # copied back: the database file now holds the 6 MB of bodies
        assert path.stat().st_size > 1500 * 4000
        assert store.event_counts() == {("push", "pending"): 1500}
    with closing(sqlite3.connect(path)) as plain:
        assert plain.execute("SELECT count(*) FROM webhook_events").fetchone() == (1500,)


def test_a_default_store_keeps_sqlites_auto_checkpoint(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        assert _autocheckpoint(store) == 1000
        store.checkpoint()  # harmless at any time
