"""Faults: `streamgauge serve` under seeded random faults, compared with a fault-free run.

The fake GitHub and the fake Jira of the test suite and a JSON Lines file feed one store. A
fault-free `streamgauge sync` of the inputs gives the reference records. Then `streamgauge serve`
(a subprocess with a YAML configuration of the three sources) runs while faults are thrown at
it at random moments: 5xx bursts, connection resets, slow answers and 429s with a long
Retry-After on the fakes; poisoned lines appended to the file (JSON nested 100,000 deep, a lone
surrogate, a NUL, an integer of 2**70, a timestamp in year 10000); the file renamed away and
written anew, truncated and regrown, replaced by a file of the same size; SIGKILL followed by a
restart; SIGTERM, whose time from signal to exit is measured (a process still running after
``--stop-timeout`` seconds is killed and counted as that long). /metrics is scraped every half
second throughout. When the faults are over and every source has synced once more, the store's
records are compared with the reference, by kind, source and id, with their content:

- lost: reference records missing from the store, or stored with other content;
- duplicated: stored records beyond the reference's count of records of the same content (a
  record stored twice under two ids);
- counter_decreases: times a ``streamgauge_*`` counter (``_total``) or histogram ``_count``
  series went down from one scrape to the next, across restarts included.

The last line is ``faults=<n> lost=<n> duplicated=<n> counter_decreases=<n> max_stop_s=<n>``.

    .venv/bin/python benchmarks/faults.py [--seed 7] [--faults 14] [--records 2000]
        [--stop-timeout 30] [--keep DIR] [--store-url postgresql+psycopg://HOST/DB]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fakes live under tests/

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from tests.fakes.github import TOKEN, FakeGitHub, Fault, generate_org
from tests.fakes.jira import FakeJira, generate_project

from streamgauge.model import KINDS, Commit, Deployment, Environment, RunResult, make_id, to_json
from streamgauge.store import Store

SOURCES = ("github", "jira", "files")
FILE_SOURCE = "files"
UP_WITHIN = 60.0  # seconds for a started `serve` to answer /healthz
LONG_RETRY_AFTER = 20  # seconds: longer than the configured max_rate_limit_wait (5 s)
SETTLE_WITHIN = 60.0  # seconds for every source to sync once more after the last fault

Key = tuple[str, str, str]  # kind, source, id


# --- inputs ----------------------------------------------------------------------------------


def file_records(count: int, now: datetime) -> list[str]:
    """``count`` JSON Lines of the file source: commits, and a deployment every tenth line."""
    lines = []
    start = now - timedelta(days=20)
    for n in range(count):
        when = start + timedelta(minutes=7 * n)
        record: Commit | Deployment
        if n % 10 == 9:
            record = Deployment(
                id=make_id(FILE_SOURCE, "deployment", f"d{n}"),
                source=FILE_SOURCE,
                team="payments",
                app="checkout",
                environment=Environment.PRODUCTION,
                repo="acme/checkout",
                sha=f"{n - 1:040x}",
                started_at=when - timedelta(minutes=10),
                finished_at=when,
                result=RunResult.SUCCESS,
            )
        else:
            record = Commit(
                id=make_id(FILE_SOURCE, "commit", f"{n:040x}"),
                source=FILE_SOURCE,
                team="payments",
                app="checkout",
                repo="acme/checkout",
                sha=f"{n:040x}",
                authored_at=when,
                committed_at=when,
                message=f"PAY-{n % 50 + 1} change {n}",
            )
        lines.append(json.dumps(to_json(record)) + "\n")
    return lines


def poisoned_line(kind: str, serial: int, now: datetime) -> str:
    """One hostile line; none of them is in the reference, none may block the lines after it."""
    sha = f"{0xBAD0000 + serial:040x}"
    base = {
        "kind": "commit",
        "id": make_id(FILE_SOURCE, "commit", sha),
        "source": FILE_SOURCE,
        "repo": "acme/checkout",
        "sha": sha,
        "authored_at": now.isoformat(),
        "committed_at": now.isoformat(),
    }
    if kind == "deep":
        depth = 100_000
        return '{"kind": "commit", "message": ' + "[" * depth + "]" * depth + "}\n"
    if kind == "surrogate":
        return json.dumps(base | {"message": "x"})[:-1] + ', "branch": "\\ud800"}\n'
    if kind == "nul":
        return json.dumps(base | {"message": "a\u0000b"}) + "\n"
    if kind == "huge_int":
        run = {
            "kind": "pipeline_run",
            "id": make_id(FILE_SOURCE, "pipeline_run", f"bad{serial}"),
            "source": FILE_SOURCE,
            "pipeline": "ci",
            "started_at": now.isoformat(),
            "result": "success",
            "attempt": 2**70,
        }
        return json.dumps(run) + "\n"
    if kind == "year_10000":
        return json.dumps(base | {"authored_at": "10000-01-01T00:00:00+00:00"}) + "\n"
    raise ValueError(kind)


POISONS = ("deep", "surrogate", "nul", "huge_int", "year_10000")


def write_config(path: Path, *, data_dir: Path, records: Path, port: int, github: FakeGitHub,
                 jira: FakeJira, store_url: str | None = None) -> None:  # fmt: skip
    store = f"store:\n  url: {json.dumps(store_url)}\n" if store_url else ""
    path.write_text(
        f"""\
data_dir: {data_dir}
{store}server:
  host: 127.0.0.1
  port: {port}
  recompute_interval: 10s
teams:
  payments: {{apps: [checkout], repos: [acme/checkout], projects: [PAY]}}
sources:
  - name: github
    type: github
    base_url: {github.base_url}
    token: {TOKEN}
    org: {github.org.login}
    interval: 10s
    request_spacing: 0
    backoff: 0.5
    max_rate_limit_wait: 5
  - name: jira
    type: jira
    url: {jira.url}
    email: {jira.email}
    api_token: {jira.api_token}
    projects: [PAY]
    page_size: 20
    interval: 10s
  - name: {FILE_SOURCE}
    type: file
    path: {records}
    interval: 10s
""",
        encoding="utf-8",
    )


def stored(url: str) -> dict[Key, dict[str, Any]]:
    with Store.open(url) as store:
        return {
            (kind, r.source, r.id): to_json(r) for kind in KINDS for r in store.iter_records(kind)
        }


def content(record: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in record.items() if k != "id"}, sort_keys=True)


def compare(reference: dict[Key, dict[str, Any]], faulty: dict[Key, dict[str, Any]]) -> dict[str, int]:  # fmt: skip
    missing = sum(1 for key in reference if key not in faulty)
    altered = sum(1 for key, rec in reference.items() if key in faulty and faulty[key] != rec)
    wanted = Counter(content(r) for r in reference.values())
    found = Counter(content(r) for r in faulty.values())
    duplicated = sum(n - wanted[c] for c, n in found.items() if wanted[c] and n > wanted[c])
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


# --- the file source and its rotations --------------------------------------------------------


class FileFeed:
    """Writes the file source's lines, rotating and replacing the file as a writer might."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self.pending = list(lines)
        self.rotated = 0
        path.touch()

    def append(self, count: int) -> None:
        batch, self.pending = self.pending[:count], self.pending[count:]
        with self.path.open("a", encoding="utf-8") as out:
            out.writelines(batch)

    def poison(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)

    def rename(self, count: int) -> None:
        """The file moved away (lines it got last may be unread), a new one written in its place."""
        self.rotated += 1
        self.path.rename(self.path.with_name(f"{self.path.name}.{self.rotated}"))
        self.path.touch()
        self.append(count)

    def truncate(self, count: int) -> None:
        """Emptied in place and written again from its start."""
        with self.path.open("r+", encoding="utf-8") as out:
            out.truncate(0)
        self.append(count)

    def same_size(self) -> bool:
        """Replaced by a new file of exactly its size (new lines, the last padded with spaces)."""
        size = self.path.stat().st_size
        taken: list[str] = []
        used = 0
        while self.pending and used + len(self.pending[0].encode()) <= size:
            used += len(self.pending[0].encode())
            taken.append(self.pending.pop(0))
        if not taken:
            return False
        taken[-1] = taken[-1][:-1] + " " * (size - used) + "\n"
        fresh = self.path.with_name(self.path.name + ".new")
        fresh.write_text("".join(taken), encoding="utf-8")
        os.replace(fresh, self.path)
        return True


# --- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faults", type=int, default=14, help="fault events in the faulty run")
    parser.add_argument("--records", type=int, default=2000, help="lines of the file source")
    parser.add_argument("--stop-timeout", type=float, default=30.0, help="SIGKILL after (s)")
    parser.add_argument("--keep", type=Path, help="keep the stores, configs and logs here")
    parser.add_argument(
        "--store-url",
        help="PostgreSQL for the faulty run's store (in a schema of its own, dropped after the "
        "run unless --keep); the fault-free run's stays SQLite",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    org = generate_org(args.seed, repos=3, merged_prs=60, start=now - timedelta(days=40))
    project = generate_project(seed=args.seed, issues=60, start=now - timedelta(days=80))
    lines = file_records(args.records, now)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="streamgauge-faults-"))
    folder.mkdir(parents=True, exist_ok=True)
    github = FakeGitHub(org).start()
    jira = FakeJira(project, mode="cloud", max_results=20).start()
    try:
        reference = clean_run(folder / "clean", github, jira, lines)
        github.refill_budget()
        print(f"clean run: {len(reference)} records {dict(Counter(k[1] for k in reference))}")
        with faulty_store(args.store_url, keep=args.keep is not None) as store_url:
            outcome = faulty_run(folder / "faulty", github, jira, lines, rng, args, store_url)
    finally:
        github.stop()
        jira.stop()
    faults, faulty, decreases, stops = outcome
    found = compare(reference, faulty)
    print(f"faulty run: {len(faulty)} records {dict(Counter(k[1] for k in faulty))}")
    print(
        f"missing={found['missing']} altered={found['altered']} extra={found['extra']} "
        f"stops_s={[round(s, 1) for s in stops]}"
    )
    for key in sorted(set(faulty) - set(reference)):
        print(f"stored beyond the reference (a poisoned line accepted): {key[2]}")
    for line in decreases[:10]:
        print(f"counter went down: {line}")
    print(
        f"faults={sum(faults.values())} lost={found['missing'] + found['altered']} "
        f"duplicated={found['duplicated']} counter_decreases={len(decreases)} "
        f"max_stop_s={max(stops, default=0):.1f}"
    )


@contextmanager
def faulty_store(server: str | None, *, keep: bool) -> Iterator[str | None]:
    """None (an SQLite file), or a URL into a new schema of the PostgreSQL ``server``."""
    if server is None:
        yield None
        return
    base = make_url(server)
    schema = f"sg_faults_{os.getpid()}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"the faulty run's store is kept in schema {schema}")
        else:
            with admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def clean_run(
    folder: Path, github: FakeGitHub, jira: FakeJira, lines: list[str]
) -> dict[Key, dict[str, Any]]:
    """The reference: one `streamgauge sync` of every input, with no fault anywhere."""
    folder.mkdir(parents=True, exist_ok=True)
    records = folder / "in" / "records.jsonl"
    records.parent.mkdir(exist_ok=True)
    records.write_text("".join(lines), encoding="utf-8")
    config = folder / "streamgauge.yaml"
    write_config(config, data_dir=folder / "data", records=records, port=free_port(),
                 github=github, jira=jira)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
    done = subprocess.run(
        [sys.executable, "-m", "streamgauge", "sync", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the fault-free sync failed:\n{done.stdout}{done.stderr}")
    return stored(f"sqlite:///{folder / 'data' / 'streamgauge.db'}")


def faulty_run(
    folder: Path,
    github: FakeGitHub,
    jira: FakeJira,
    lines: list[str],
    rng: random.Random,
    args: argparse.Namespace,
    store_url: str | None,
) -> tuple[Counter[str], dict[Key, dict[str, Any]], list[str], list[float]]:
    folder.mkdir(parents=True, exist_ok=True)
    records = folder / "in" / "records.jsonl"
    records.parent.mkdir(exist_ok=True)
    feed = FileFeed(records, lines)
    url = store_url or f"sqlite:///{folder / 'data' / 'streamgauge.db'}"
    port = free_port()
    config = folder / "streamgauge.yaml"
    write_config(config, data_dir=folder / "data", records=records, port=port, github=github,
                 jira=jira, store_url=store_url)  # fmt: skip
    serve = Serve(config, port, folder / "serve.log", args.stop_timeout)
    batch = max(1, args.records // (args.faults + 2))
    feed.append(batch)
    serve.start()
    scraper = Scraper(port)
    scraper.start()
    faults: Counter[str] = Counter()
    # each poison in turn from a seeded start, so that five poison faults meet all five
    first = rng.randrange(len(POISONS))
    poisons = itertools.cycle(POISONS[first:] + POISONS[:first])
    now = datetime.now(UTC)
    poisoned: list[str] = []

    def on_file_synced(act: Callable[[], object]) -> None:
        # What a rotation destroys must have been read first, or its loss is the writer's: wait
        # (bounded) for a sync of the file source that started after the last write.
        wait_synced(url, (FILE_SOURCE,), time.time(), 25.0)
        act()

    actions: dict[str, Callable[[], object]] = {
        "5xx": lambda: inject(rng, github, jira, "5xx"),
        "reset": lambda: inject(rng, github, jira, "reset"),
        "slow": lambda: inject(rng, github, jira, "slow"),
        "429": lambda: inject(rng, github, jira, "429"),
        "poison": lambda: (
            poisoned.append(next(poisons)),
            feed.poison(poisoned_line(poisoned[-1], sum(faults.values()), now)),
        ),
        "rename": lambda: feed.rename(rng.randint(1, batch)),
        "truncate": lambda: on_file_synced(lambda: feed.truncate(rng.randint(1, batch))),
        "same_size": lambda: on_file_synced(feed.same_size),
        "sigkill": lambda: (serve.kill(), serve.start()),
        "sigterm": lambda: (print(f"  stopped in {serve.stop():.1f}s"), serve.start()),
    }
    # Rounds in which each kind of fault comes once, each poison too, in a seeded order: the
    # default run meets every one of them.
    rounds = [*sorted(actions), *["poison"] * (len(POISONS) - 1)]
    plan: list[str] = []
    while len(plan) < args.faults:
        plan += rng.sample(rounds, len(rounds))
    began = time.monotonic()
    for n, kind in enumerate(plan[: args.faults]):
        time.sleep(rng.uniform(0.5, 4.0))
        feed.append(rng.randint(1, batch))
        serve.revive()
        print(f"{time.monotonic() - began:6.1f}s fault {n + 1}: {kind}", flush=True)
        actions[kind]()
        if kind == "poison":
            print(f"  {poisoned[-1]}")
        faults[kind] += 1
    feed.append(len(feed.pending))
    settle_from = time.time()
    serve.revive()
    if not wait_synced(url, SOURCES, settle_from, SETTLE_WITHIN):
        missing = set(SOURCES) - synced_since(url, settle_from)
        print(f"not synced within {SETTLE_WITHIN:.0f}s after the last fault: {sorted(missing)}")
    serve.revive()
    time.sleep(1.0)  # a last scrape of the final numbers
    final = serve.stop()
    scraper.done.set()
    scraper.join()
    print(
        f"{time.monotonic() - began:6.1f}s done: {dict(faults)}; final stop {final:.1f}s; "
        f"{scraper.scrapes} scrapes of {len(scraper.last)} counter series; serve exited by "
        f"itself {len(serve.exits)} times"
    )
    skipped = {k: v for k, v in scraper.last.items() if k[0].startswith("streamgauge_sync_skip")}
    for (name, labels), value in sorted(skipped.items()):
        print(f"last scrape: {name}{dict(labels)} {value:g}")
    return faults, stored(url), scraper.decreases, serve.stops


def inject(rng: random.Random, github: FakeGitHub, jira: FakeJira, kind: str) -> None:
    """A fault on the next requests to one of the fakes."""
    if rng.random() < 0.5:
        path = rng.choice(["/api/graphql", "/actions/runs", "/events", ""])
        fault = {
            "5xx": Fault("5xx", times=rng.randint(2, 4), path=path),
            "reset": Fault("reset", times=rng.randint(1, 3), path=path),
            "slow": Fault("slow", times=rng.randint(1, 3), path=path, delay=rng.uniform(1, 4)),
            "429": Fault("secondary429", path=path, retry_after=LONG_RETRY_AFTER),
        }[kind]
        github.inject(fault)
    elif kind == "5xx":
        jira.inject(rng.choice(["500", "503"]), times=rng.randint(2, 4))
    elif kind == "reset":
        jira.inject("reset", times=rng.randint(1, 3))
    elif kind == "slow":
        jira.inject("slow", times=rng.randint(1, 3), delay=rng.uniform(1, 4))
    else:
        jira.inject("429", retry_after=str(LONG_RETRY_AFTER))


if __name__ == "__main__":
    main()
