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
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fakes live under tests/

from faults_inputs import (
    FILE_SOURCE,
    POISONS,
    FileFeed,
    file_records,
    inject,
    poisoned_line,
    write_config,
)
from faults_watch import (
    Scraper,
    Serve,
    Stored,
    compare,
    free_port,
    stored,
    synced_since,
    wait_synced,
)
from sqlalchemy import create_engine, make_url
from sqlalchemy.pool import NullPool
from tests.fakes.github import FakeGitHub, FakeOrg, generate_org
from tests.fakes.jira import FakeJira, FakeProjectData, generate_project

SOURCES = ("github", "jira", FILE_SOURCE)
SETTLE_WITHIN = 60.0  # seconds for every source to sync once more after the last fault

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
    try:
        outcome, reference = both_runs(folder, org, project, lines, rng, args)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
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


def both_runs(
    folder: Path,
    org: FakeOrg,
    project: FakeProjectData,
    lines: list[str],
    rng: random.Random,
    args: argparse.Namespace,
) -> tuple[tuple[Counter[str], Stored, list[str], list[float]], Stored]:
    """The fault-free run, then the faulty one, against the same fakes (their URLs are in the
    records, so both runs must see the same ports)."""
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
    return outcome, reference


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


def clean_run(folder: Path, github: FakeGitHub, jira: FakeJira, lines: list[str]) -> Stored:
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
) -> tuple[Counter[str], Stored, list[str], list[float]]:
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
    scraper = Scraper(port)
    scraper.start()
    try:
        serve.start()
        faults: Counter[str] = Counter()
        # each poison in turn from a seeded start, so that five poison faults meet all five
        first = rng.randrange(len(POISONS))
        poisons = itertools.cycle(POISONS[first:] + POISONS[:first])
        now = datetime.now(UTC)

        def on_file_synced(act: Callable[[], object]) -> None:
            # What a rotation destroys must have been read first, or its loss is the writer's: wait
            # (bounded) for a sync of the file source that started after the last write.
            wait_synced(url, (FILE_SOURCE,), time.time(), 25.0)
            act()

        def poison() -> None:
            kind = next(poisons)
            print(f"  {kind}")
            feed.poison(poisoned_line(kind, sum(faults.values()), now))

        def sigkill() -> None:
            serve.kill()
            serve.start()

        def sigterm() -> None:
            print(f"  stopped in {serve.stop():.1f}s")
            serve.start()

        actions: dict[str, Callable[[], object]] = {
            "5xx": lambda: inject(rng, github, jira, "5xx"),
            "reset": lambda: inject(rng, github, jira, "reset"),
            "slow": lambda: inject(rng, github, jira, "slow"),
            "429": lambda: inject(rng, github, jira, "429"),
            "poison": poison,
            "rename": lambda: feed.rename(rng.randint(1, batch)),
            "truncate": lambda: on_file_synced(lambda: feed.truncate(rng.randint(1, batch))),
            "same_size": lambda: on_file_synced(feed.same_size),
            "sigkill": sigkill,
            "sigterm": sigterm,
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
    finally:
        scraper.done.set()
        serve.end()
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


if __name__ == "__main__":
    main()
