"""A sync killed with SIGKILL and started again loses nothing and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.builders import T0, at, commit, deployment

from streamgauge.model import from_json, to_json
from streamgauge.store import Store

RECORDS = 30_000  # 30 pages of the file source: long enough to be killed in the middle


def write_records(path: Path) -> dict[str, dict[str, object]]:
    expected = {}
    with path.open("w", encoding="utf-8") as out:
        for n in range(RECORDS):
            if n % 10 == 9:
                rec = deployment(
                    id=f"ci:deployment:{n}",
                    source="ci",
                    started_at=at(minutes=n),
                    finished_at=at(minutes=n + 5),
                )
            else:
                rec = commit(id=f"ci:commit:{n}", source="ci", sha=f"{n:040x}", authored_at=T0)
            line = to_json(rec)
            expected[rec.id] = line
            out.write(json.dumps(line) + "\n")
    return expected


def stored(url: str) -> dict[str, dict[str, object]]:
    with Store.open(url) as store:
        return {
            r.id: to_json(r) for kind in ("commit", "deployment") for r in store.iter_records(kind)
        }


def run_sync(config: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "streamgauge", "sync", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_sigkill_mid_sync_then_resume(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    expected = write_records(records)
    db = tmp_path / "data" / "streamgauge.db"
    url = f"sqlite:///{db}"
    config = tmp_path / "streamgauge.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\nsources:\n  - {{name: ci, type: file, path: {records}}}\n",
        encoding="utf-8",
    )

    proc = run_sync(config)
    # Kill it as soon as some pages have landed and before the last one has.
    deadline = time.monotonic() + 60
    partial = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with Store.open(url) as store:
                    partial = sum(store.counts().values())
            except Exception:  # the writer may still be creating the schema
                partial = 0
            if partial >= 3_000:
                break
        time.sleep(0.02)
    assert proc.poll() is None, "the sync finished before it could be killed; raise RECORDS"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)

    after_kill = stored(url)
    assert 0 < len(after_kill) < RECORDS
    # What landed is exactly a prefix of whole pages, each record intact.
    assert all(expected[rid] == rec for rid, rec in after_kill.items())
    assert len(after_kill) % 1000 == 0

    resumed = run_sync(config)
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out.decode()
    final = stored(url)
    assert final == expected  # no gap, no duplicate, nothing altered

    # The resumed sync read on from the cursor: it inserted only what was missing.
    summary = out.decode()
    assert f"ci: {RECORDS - len(after_kill)} new, 0 changed" in summary

    # And a third run changes nothing at all.
    again = run_sync(config)
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0
    assert "ci: 0 new, 0 changed" in out.decode()
    assert stored(url) == expected
    assert {from_json(v).id for v in expected.values()} == set(final)
