"""The faults benchmark's watch: `serve` as a subprocess, its scrapes and syncs, the comparison.

A store's records are compared with the fault-free reference by kind, source and id, with their
content.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from streamgauge.model import KINDS, to_json
from streamgauge.store import Store

UP_WITHIN = 60.0  # seconds for a started `serve` to answer /healthz

Key = tuple[str, str, str]  # kind, source, id


class Stored(dict[Key, dict[str, Any]]):
    """A store's records by key; ``repeats`` counts the keys the store gave more than once."""

    repeats: int = 0


def stored(url: str) -> Stored:
    records = Stored()
    with Store.open(url) as store:
        for kind in KINDS:
            for record in store.iter_records(kind):
                key = (kind, record.source, record.id)
                records.repeats += key in records
                records[key] = to_json(record)
    return records


def content(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k != "id"}, sort_keys=True)


def compare(reference: Stored, faulty: Stored) -> dict[str, int]:
    missing = sum(1 for key in reference if key not in faulty)
    altered = sum(1 for key, rec in reference.items() if key in faulty and faulty[key] != rec)
    wanted = Counter(content(r) for r in reference.values())
    found = Counter(content(r) for r in faulty.values())
    # a record stored twice: under one key, or its content under a second id
    duplicated = faulty.repeats
    duplicated += sum(n - wanted[c] for c, n in found.items() if wanted[c] and n > wanted[c])
    extra = sum(1 for key in faulty if key not in reference)
    return {
        "missing": missing,
        "altered": altered,
        "duplicated": duplicated,
        "extra": extra,
    }


# --- the server and its scrapes --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


class Serve:
    """`streamgauge serve` as a subprocess, started, killed, stopped and started again."""

    def __init__(self, config: Path, port: int, log: Path, stop_timeout: float) -> None:
        self.config, self.port, self.log = config, port, log
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.stops: list[float] = []
        self.exits: list[int] = []  # exit codes of the times it ended by itself

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamgauge", "serve", "--config", str(self.config)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + UP_WITHIN
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve exited with {self.proc.returncode}; see {self.log}")
            try:
                if get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"serve did not answer /healthz within {UP_WITHIN:.0f}s; see {self.log}")

    def revive(self) -> None:
        """Start it again if it exited by itself (a crash is not a fault the run threw)."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            self.exits.append(self.proc.returncode)
            print(f"  serve exited by itself with code {self.proc.returncode}; starting it again")
            self.start()

    def end(self) -> None:
        """Killed if still running: the run ends, whatever happened in it."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> float:
        """SIGTERM; the seconds until the process exited, ``stop_timeout`` if it had to be killed."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=self.stop_timeout)
            seconds = time.monotonic() - began
        except subprocess.TimeoutExpired:
            self.kill()
            seconds = self.stop_timeout
        self.stops.append(seconds)
        return seconds


class Scraper(threading.Thread):
    """Scrapes /metrics every half second; counts the times a counter series went down."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.decreases: list[str] = []
        self.scrapes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                status, text = get(self.url)
            except OSError:
                continue  # down between a kill and its restart
            if status == 200:
                self.take(text)

    def take(self, text: str) -> None:
        # Process and runtime counters (process_*, python_gc_*) start again with each process,
        # as Prometheus expects of a restart; streamgauge's own must never go down.
        self.scrapes += 1
        for family in text_string_to_metric_families(text):
            if not family.name.startswith("streamgauge_"):
                continue
            suffix = {"counter": "_total", "histogram": "_count"}.get(family.type)
            for sample in family.samples if suffix else ():
                if not sample.name.endswith(suffix or "-"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                before = self.last.get(key)
                if before is not None and sample.value < before:
                    self.decreases.append(f"{key[0]}{dict(key[1])}: {before} -> {sample.value}")
                self.last[key] = sample.value


def synced_since(url: str, since: float) -> set[str]:
    """The sources with a successful sync that started after ``since`` (epoch seconds)."""
    engine = create_engine(url, poolclass=NullPool)
    query = text("SELECT DISTINCT source FROM sync_runs WHERE ok AND started_at > :since")
    try:
        with engine.connect() as connection:
            rows = connection.execute(query, {"since": int(since * 1_000_000)}).all()
    except SQLAlchemyError:
        return set()  # not created yet, or locked for a moment by the writer
    finally:
        engine.dispose()
    return {row[0] for row in rows}


def wait_synced(url: str, sources: tuple[str, ...], since: float, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if set(sources) <= synced_since(url, since):
            return True
        time.sleep(0.5)
    return False
