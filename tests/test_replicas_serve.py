"""Three `serve` processes on one PostgreSQL store: each source synced once per interval, by one
replica at a time, handed over when its replica is killed, and the same numbers from all three."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, make_url, select
from sqlalchemy.pool import NullPool
from tests.builders import at, deployment
from tests.test_serve import free_port

from streamgauge.metrics.catalog import COMPUTED
from streamgauge.model import to_json
from streamgauge.store import Store
from streamgauge.store.schema import Schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

INTERVAL = 10.0  # seconds: the shortest sync interval the configuration accepts
JITTER = 1.0  # the scheduler's jitter: a tenth of the interval
SLACK = 2.0  # a loaded machine: process start, a sync's own run time
SOURCES = ("demo", "ci")


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, config: Path, folder: Path) -> Replica:
        """``streamgauge serve`` of ``config`` on a free port, its output in ``folder``."""
        port = free_port()
        log = folder / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "streamgauge", "serve", "--config", str(config),
                    "--host", "127.0.0.1", "--port", str(port),
                ],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return cls(name, port, proc, log)

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        _, text = self.get("/metrics")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def leads(self) -> set[str]:
        return {
            dict(labels)["source"]
            for (name, labels), value in self.samples().items()
            if name == "streamgauge_source_leader" and value == 1
        }


def append_deployments(path: Path, first: int, count: int) -> None:
    with path.open("a", encoding="utf-8") as out:
        for n in range(first, first + count):
            record = deployment(id=f"ci:deployment:{n}", source="ci", finished_at=at(days=n))
            out.write(json.dumps(to_json(record)) + "\n")


def runs(url: str) -> dict[str, list[tuple[float, float]]]:
    """(started, finished) of every logged sync, per source, in seconds since the epoch."""
    table = Schema().sync_runs
    engine = create_engine(make_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(table.c.source, table.c.started_at, table.c.finished_at).order_by(
                    table.c.started_at
                )
            ).all()
    finally:
        engine.dispose()
    out: dict[str, list[tuple[float, float]]] = {s: [] for s in SOURCES}
    for source, started, finished in rows:
        out[source].append((started / 1e6, finished / 1e6))
    return out


def computed(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    names = {m.name.removesuffix("_total") for m in COMPUTED} | {"streamgauge_snapshot_timestamp"}
    return {
        f"{name}{labels}": value
        for (name, labels), value in samples.items()
        if any(name.startswith(n) for n in names)
    }


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[tuple[list[Replica], Path]]:
    feed = tmp_path / "feed.jsonl"
    append_deployments(feed, 1, 5)
    config = {
        "data_dir": str(tmp_path / "data"),
        "store": {"url": postgres_url},
        "server": {"store_check_interval": "1s", "recompute_interval": "10s"},
        "sources": [
            {"name": "demo", "type": "demo", "days": 20, "teams": 1, "interval": "10s"},
            {"name": "ci", "type": "file", "path": str(feed), "interval": "10s"},
        ],
    }
    path = tmp_path / "streamgauge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    started = [Replica.start(f"replica-{n}", path, tmp_path) for n in range(3)]
    try:
        yield started, feed
    finally:
        stop(started)


def stop(replicas: list[Replica]) -> None:
    """SIGTERM to each replica still running, then wait for all (SIGKILL after 30 s)."""
    for replica in replicas:
        if replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGTERM)
    for replica in replicas:
        try:
            replica.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            replica.proc.kill()
            replica.proc.wait(timeout=10)


def wait_ready(replicas: list[Replica], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    for replica in replicas:
        while True:
            assert replica.proc.poll() is None, replica.log.read_text()
            try:
                if replica.get("/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{replica.name}:\n{replica.log.read_text()}"
            time.sleep(0.2)


def same_numbers(replicas: list[Replica], within: float = 15.0) -> dict[str, float]:
    """The computed values once every replica serves the same snapshot; fails if they differ."""
    deadline = time.monotonic() + within
    while True:
        served = [computed(r.samples()) for r in replicas]
        stamps = {s.get("streamgauge_snapshot_timestamp_seconds()") for s in served}
        if len(stamps) == 1:
            for replica, values in zip(replicas[1:], served[1:], strict=True):
                assert values == served[0], f"{replica.name} serves other numbers"
            return served[0]
        assert time.monotonic() < deadline, f"snapshots differ: {stamps}"
        time.sleep(0.3)


def check_runs(source: str, spans: list[tuple[float, float]]) -> None:
    """Never two at once, and one start per interval (the jitter of both ends apart)."""
    for (_, finished), (started, _) in itertools.pairwise(spans):
        assert started >= finished, f"{source}: two syncs at once: {spans}"
    starts = [s for s, _ in spans]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(INTERVAL - 2 * JITTER - SLACK <= g <= INTERVAL + 2 * JITTER + SLACK for g in gaps), (
        f"{source}: syncs not once per interval: gaps {gaps}"
    )


def test_three_replicas_share_the_sources_and_survive_the_kill_of_a_leader(
    replicas: tuple[list[Replica], Path], postgres_url: str
) -> None:
    running, feed = replicas
    wait_ready(running)
    # every source held by exactly one replica
    leaders = {source: [r for r in running if source in r.leads()] for source in SOURCES}
    assert all(len(held) == 1 for held in leaders.values()), leaders
    same_numbers(running)

    # two and a half intervals: each source synced once per interval, never by two replicas at once
    time.sleep(2.5 * INTERVAL)
    before = runs(postgres_url)
    for source, spans in before.items():
        assert len(spans) >= 3, (source, spans)
        check_runs(source, spans)
    same_numbers(running)

    # kill -9 the replica syncing the file source; new records land in the file meanwhile
    victim = leaders["ci"][0]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    killed_at = time.time()
    append_deployments(feed, 6, 5)
    survivors = [r for r in running if r is not victim]
    deadline = time.monotonic() + INTERVAL + JITTER + SLACK + 5
    taken_over = None
    while time.monotonic() < deadline:
        after = [s for s, _ in runs(postgres_url)["ci"] if s > killed_at]
        if after:
            taken_over = after[0]
            break
        time.sleep(0.2)
    assert taken_over is not None, "nobody took the file source over"
    takeover = taken_over - killed_at
    print(f"takeover of the file source: {takeover:.2f} s after kill -9")
    # within one interval of the kill (plus the jitter and a loaded machine's slack)
    assert takeover <= INTERVAL + JITTER + SLACK

    time.sleep(1.5 * INTERVAL)
    final = runs(postgres_url)
    for source, spans in final.items():
        check_runs(source, spans)  # no gap and no overlap across the handover either
    held = {source: [r.name for r in survivors if source in r.leads()] for source in SOURCES}
    assert all(len(names) == 1 for names in held.values()), held
    # every record of the file exactly once: 10 lines, 10 deployments (ids are unique keys)
    with Store.open(postgres_url) as store:
        ids = [r.id for r in store.iter_records("deployment", source="ci")]
    assert sorted(ids) == sorted(f"ci:deployment:{n}" for n in range(1, 11))
    values = same_numbers(survivors)
    assert values
