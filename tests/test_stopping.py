"""SIGTERM stops `serve` within 5 s whatever it is doing, and the store is whole afterwards."""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.builders import T0, at, commit, deployment
from tests.connectors.github.conftest import small_org
from tests.connectors.jira.conftest import small_project
from tests.fakes.github import TOKEN, FakeGitHub, Fault
from tests.fakes.jira import FakeJira
from tests.test_serve import Server

from streamgauge.model import KINDS, to_json
from streamgauge.store import Store

STOP_WITHIN = 5.0  # seconds from SIGTERM to the process's exit
HUNG = 20.0  # a process not gone by then is taken as hung and killed


def github_source(fake: FakeGitHub, **extra: Any) -> dict[str, Any]:
    source: dict[str, Any] = {
        "name": "github",
        "type": "github",
        "base_url": fake.base_url,
        "token": TOKEN,
        "org": "acme",
        "history": "3650d",  # the small organisation's records are from March 2025
        "request_spacing": 0,
        "timeout": 120,  # longer than any slow answer below: the request itself never gives up
    }
    source.update(extra)
    return source


def jira_source(fake: FakeJira, **extra: Any) -> dict[str, Any]:
    source: dict[str, Any] = {
        "name": "jira",
        "type": "jira",
        "url": fake.url,
        "token": fake.pat,
        "projects": ["PAY"],
        "timeout": "120s",
    }
    source.update(extra)
    return source


def write_config(path: Path, *sources: dict[str, Any], **top: Any) -> Path:
    # JSON is YAML: the configuration written as a JSON document.
    path.write_text(json.dumps({"sources": list(sources), **top}), encoding="utf-8")
    return path


def sqlite_file(data_dir: Path) -> Path:
    return data_dir / "streamgauge.db"


def records_of(data_dir: Path) -> dict[str, dict[str, Any]]:
    with Store.open(f"sqlite:///{sqlite_file(data_dir)}") as store:
        return {r.id: to_json(r) for kind in KINDS for r in store.iter_records(kind)}


def sync_by_hand(config: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "streamgauge", "sync"),
            *("--config", str(config), "--data-dir", str(data_dir)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def wait_for(condition: Callable[[], bool], what: str, server: Server, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if server.proc.poll() is not None:
            raise AssertionError(f"serve exited before {what}:\n{server.output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"serve never reached {what}:\n{server.output()}")
        time.sleep(0.05)


def stop_and_time(server: Server) -> float:
    """SIGTERM, then the seconds until the process is gone (killed and failed if hung)."""
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=HUNG)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"serve hung after SIGTERM:\n{server.output()}") from None
    took = time.monotonic() - started
    log = server.output()
    assert code == 0, log
    assert "stopped" in log
    assert "Traceback" not in log, log
    return took


def release(server: Server) -> None:
    """Kill the process if still running and close its pipe (once)."""
    if server.proc.stdout is not None and not server.proc.stdout.closed:
        server.output()


def assert_store_whole(data_dir: Path) -> None:
    with sqlite3.connect(sqlite_file(data_dir)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@contextmanager
def github_fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(small_org()).start()
    try:
        yield fake
    finally:
        fake.stop()


def fault_taken(fake: FakeGitHub, fault: Fault) -> Callable[[], bool]:
    def taken() -> bool:
        with fake.lock:
            return fault.times == 0

    return taken


@pytest.mark.slow
@pytest.mark.parametrize(
    ("state", "fault", "extra"),
    [
        # a GraphQL page that takes a minute to answer: serve is inside the request
        ("mid-request", Fault("slow", path="/api/graphql", skip=1, delay=60), {}),
        # a 502 on a page, then a back-off of 30 to 60 s: serve is in the wait between retries
        ("mid-retry-wait", Fault("5xx", path="/api/graphql", skip=1), {"backoff": 60}),
        # a secondary rate limit asking for 40 s (within max_rate_limit_wait: a wait, no pause)
        (
            "mid-rate-limit-wait",
            Fault("secondary429", path="/api/graphql", skip=1, retry_after=40),
            {},
        ),
    ],
)
def test_sigterm_during_a_github_sync_stops_within_5s_and_a_resumed_sync_completes(
    state: str, fault: Fault, extra: dict[str, Any], tmp_path: Path
) -> None:
    with github_fake() as fake:
        config = write_config(tmp_path / "sg.yaml", github_source(fake, **extra))
        fake.inject(fault)
        server = Server(tmp_path / "data", STREAMGAUGE_CONFIG=str(config))
        try:
            wait_for(fault_taken(fake, fault), f"the {state} fault", server)
            time.sleep(0.3)  # into the slow answer or the wait
            took = stop_and_time(server)
        finally:
            release(server)
        assert took < STOP_WITHIN, f"{state}: stopped in {took:.1f}s"
        assert_store_whole(tmp_path / "data")
        stopped = records_of(tmp_path / "data")

        # The stopped store resumes to exactly what a sync without any stop stores.
        resumed = sync_by_hand(config, tmp_path / "data")
        assert resumed.returncode == 0, resumed.stderr
        clean = sync_by_hand(config, tmp_path / "clean")
        assert clean.returncode == 0, clean.stderr
        expected = records_of(tmp_path / "clean")
        assert expected
        assert set(stopped) < set(expected)  # the stop came before the sync was through
        assert records_of(tmp_path / "data") == expected


@pytest.mark.slow
def test_sigterm_during_a_jira_retry_wait_stops_within_5s(tmp_path: Path) -> None:
    with FakeJira(small_project(), mode="datacenter", max_results=3) as fake:
        # the second search page answers 429 with Retry-After 40 (under max_rate_limit_wait 60):
        # serve waits 40 s before asking again
        fake.inject("429", endpoint="search", times=1, after=1, retry_after="40")
        config = write_config(tmp_path / "sg.yaml", jira_source(fake))
        server = Server(tmp_path / "data", STREAMGAUGE_CONFIG=str(config))
        try:
            wait_for(lambda: fake.faults[0].times == 0, "the 429", server)
            time.sleep(0.3)
            took = stop_and_time(server)
        finally:
            release(server)
        assert took < STOP_WITHIN, f"stopped in {took:.1f}s"
        assert_store_whole(tmp_path / "data")
        stopped = records_of(tmp_path / "data")
        assert len(stopped) > 0  # the first page was stored before the wait

        resumed = sync_by_hand(config, tmp_path / "data")
        assert resumed.returncode == 0, resumed.stderr
        clean = sync_by_hand(config, tmp_path / "clean")
        assert clean.returncode == 0, clean.stderr
        assert records_of(tmp_path / "data") == records_of(tmp_path / "clean")


RECORDS = 40_000  # enough that computing the metrics over them takes a moment


def write_file_records(path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n in range(RECORDS):
            if n % 4 == 3:
                record = deployment(
                    id=f"ci:deployment:{n}",
                    source="ci",
                    started_at=at(minutes=n),
                    finished_at=at(minutes=n + 5),
                )
            else:
                record = commit(id=f"ci:commit:{n}", source="ci", sha=f"{n:040x}", authored_at=T0)
            out.write(json.dumps(to_json(record)) + "\n")


@pytest.mark.slow
def test_sigterm_during_a_computation_stops_within_5s(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    write_file_records(records)
    config = write_config(
        tmp_path / "sg.yaml", {"name": "ci", "type": "file", "path": str(records)}
    )
    server = Server(tmp_path / "data", STREAMGAUGE_CONFIG=str(config))
    db = sqlite_file(tmp_path / "data")

    def synced() -> bool:
        # The sync is logged, and the computation that follows it has begun.
        if not db.exists():
            return False
        try:
            with sqlite3.connect(db, timeout=1) as connection:
                return bool(connection.execute("SELECT count(*) FROM sync_runs").fetchone()[0])
        except sqlite3.Error:
            return False

    try:
        wait_for(synced, "the end of the first sync", server, within=120)
        computing = server.get("/readyz")[0] == 503  # not ready: the computation is still going
        took = stop_and_time(server)
    finally:
        release(server)
    assert computing, "the computation was over before the stop; raise RECORDS"
    assert took < STOP_WITHIN, f"stopped in {took:.1f}s"
    assert_store_whole(tmp_path / "data")
    assert len(records_of(tmp_path / "data")) == RECORDS


@pytest.mark.slow
def test_sigterm_during_scrapes_stops_within_5s(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    answered: list[int] = []
    done = threading.Event()

    def scrape() -> None:
        url = f"http://127.0.0.1:{server.port}/metrics"
        while not done.is_set():
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    resp.read()
                    answered.append(resp.status)
            except (OSError, http.client.HTTPException):  # the server closing under a scrape
                if server.proc.poll() is not None:
                    return

    scrapers = [threading.Thread(target=scrape, daemon=True) for _ in range(4)]
    try:
        server.wait_ready()
        for thread in scrapers:
            thread.start()
        wait_for(lambda: len(answered) >= 20, "twenty scrapes", server)
        took = stop_and_time(server)
    finally:
        done.set()
        release(server)
        for thread in scrapers:
            thread.join(10)
    assert took < STOP_WITHIN, f"stopped in {took:.1f}s"
    assert_store_whole(tmp_path / "data")
