"""The compute benchmark's store: a simulated organisation generated once, cached, moved to now.

The organisation comes from the demo connector with a fixed end (:data:`END`), so the same
parameters always give the same records and a generated store can be kept: under
``benchmarks/out/compute/<key>/`` by default, ``key`` naming the record count, seed, teams and
how many records are held back. Each run copies it and shifts every timestamp column of the
copy by ``now - END`` (one ``UPDATE`` per table), so the store the run measures ends at the
moment it runs and ``streamgauge serve`` sees full windows on the real clock. The held-back
records (the newest ones) are shifted the same way when they are read.

With ``--store postgresql`` the shifted copy is then written into a schema of its own on the
local PostgreSQL server (``sg_bench_<pid>`` in database ``test``), created for the run and
dropped after it.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, make_url, update
from sqlalchemy.pool import NullPool

from streamgauge.config import Settings
from streamgauge.connectors.base import SyncContext
from streamgauge.connectors.demo import DemoConfig, DemoConnector
from streamgauge.connectors.demo.config import team_names
from streamgauge.model import KINDS, Record, from_json, to_json
from streamgauge.store import Store
from streamgauge.store.schema import Schema

RECORDS_PER_TEAM_DAY = 53.5  # what the demo's default rates produce
END = datetime(2026, 7, 1, tzinfo=UTC)
LABELLED_TEAMS = 10  # label values stay bounded whatever the organisation's size
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CACHE = Path(__file__).resolve().parent / "out" / "compute"


MAX_TEAMS = 500  # the demo connector's limit


def org_size(records: int, teams: int | None = None) -> tuple[int, int]:
    """(teams, days) of a demo organisation of about ``records`` records."""
    teams = teams or min(MAX_TEAMS, max(1, round(records / (RECORDS_PER_TEAM_DAY * 180))))
    # a short history holds proportionally fewer records (its first days finish little)
    days = max(7, min(180, round(records / (RECORDS_PER_TEAM_DAY * teams)) + 4))
    return teams, days


def busier(records: int, teams: int, days: int) -> float:
    """How much busier than the demo's defaults each team is, past the connector's team limit."""
    return max(1.0, round(records / (RECORDS_PER_TEAM_DAY * teams * days), 2))


def bench_settings(teams: int) -> Settings:
    names = team_names(min(teams, LABELLED_TEAMS))
    return Settings(
        teams={n: {"apps": [f"{n}-api", f"{n}-web"]} for n in names},
        forecast=bench_forecast(),
    )


def bench_forecast() -> dict[str, Any]:
    """The ``forecast`` section: the default forecasts, and two backlogs to count down (every
    open defect, and every open item of the first team)."""
    first = team_names(1)[0]
    return {
        "backlogs": [{"name": "defects", "type": "defect"}, {"name": "first-team", "team": first}]
    }


def bench_teams(teams: int) -> dict[str, dict[str, list[str]]]:
    """The ``teams`` section of the benchmark's configuration file."""
    names = team_names(min(teams, LABELLED_TEAMS))
    return {n: {"apps": [f"{n}-api", f"{n}-web"]} for n in names}


def _latest(record: Record) -> datetime:
    times = [getattr(record, f.name) for f in fields(record)]
    return max(t for t in times if isinstance(t, datetime))


def generate(
    folder: Path, records: int, held_back: int, seed: int, teams: int | None = None
) -> None:
    """Write the store ``folder/bench.db`` and the held-back records ``folder/new.jsonl``."""
    teams, days = org_size(records, teams)
    factor = busier(records, teams, days)
    config = DemoConfig.model_validate(
        {
            "name": "demo",
            "type": "demo",
            "seed": seed,
            "teams": teams,
            "start": (END - timedelta(days=days)).isoformat(),
            # past 500 teams each team does more: items, and so changes and deployments
            "items_per_team_per_day": 3.0 * factor,
            "deployments_per_app_per_day": 2.0 * factor,
            "staging_deployments_per_app_per_day": 3.0 * factor,
        }
    )
    demo = DemoConnector(config, Settings())
    ctx = SyncContext(source="demo", started_at=END, cursors={})
    # The newest ``held_back`` records stay in a heap; every other one goes to the store as it
    # comes, so ten million records never sit in one list.
    newest: list[tuple[datetime, str, int, Record]] = []
    order = itertools.count()  # ties never reach the records
    pending: list[Record] = []
    latest = datetime.min.replace(tzinfo=UTC)
    for stale in ("bench.db", "bench.db-wal", "bench.db-shm"):  # an interrupted generation's
        (folder / stale).unlink(missing_ok=True)
    with Store.open(f"sqlite:///{folder / 'bench.db'}") as store:
        for stream in demo.streams():
            for page in stream.read(None, ctx):
                for raw in page.raws:
                    for record in demo.normalize(raw):
                        entry = (_latest(record), record.id, next(order), record)
                        if len(newest) < held_back:
                            heapq.heappush(newest, entry)
                            continue
                        older = heapq.heappushpop(newest, entry) if held_back else entry
                        pending.append(older[3])
                        latest = max(latest, older[0])
                        if len(pending) == 20000:
                            _write(store, pending)
                            pending = []
        _write(store, pending)
    with (folder / "new.jsonl").open("w", encoding="utf-8") as out:
        for *_, record in sorted(newest, key=lambda e: (e[0], e[1])):
            out.write(json.dumps(to_json(record)) + "\n")
    meta = {"teams": teams, "days": days, "now": latest.isoformat(), "end": END.isoformat()}
    (folder / "meta.json").write_text(json.dumps(meta))


def _write(store: Store, records: list[Record]) -> None:
    store.write_batch(source="demo", stream="bench", raws=[], records=records, cursor=None)


def cache_folder(root: Path, records: int, seed: int, held_back: int) -> Path:
    """Where the store of these parameters is kept (the generator's end is fixed)."""
    teams, days = org_size(records)
    factor = busier(records, teams, days)
    busy = f"-x{factor}" if factor > 1 else ""
    return root / f"r{records}-s{seed}-t{teams}-d{days}{busy}-h{held_back}"


def shift_store(url: str, delta: timedelta) -> None:
    """Move every timestamp of the store at ``url`` by ``delta``."""
    micros = round(delta.total_seconds() * 1_000_000)
    schema = Schema()
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        for kind in KINDS:
            table = schema.models[kind]
            stamps = [s.name for s in schema.specs[kind] if s.form == "datetime"]
            # NULL + delta stays NULL: a time not known stays unknown
            connection.execute(update(table).values({c: table.c[c] + micros for c in stamps}))
        connection.execute(delete(schema.snapshots))
    engine.dispose()


def shifted(record: Record, delta: timedelta) -> Record:
    changes = {
        f.name: getattr(record, f.name) + delta
        for f in fields(record)
        if isinstance(getattr(record, f.name), datetime)
    }
    return dataclasses.replace(record, **changes)


def held_back(folder: Path, delta: timedelta) -> list[Record]:
    with (folder / "new.jsonl").open(encoding="utf-8") as lines:
        return [shifted(from_json(json.loads(line)), delta) for line in lines]


def cached_meta(cached: Path) -> tuple[datetime, int]:
    """When the cached organisation ends (its held-back records included), and its teams."""
    meta = json.loads((cached / "meta.json").read_text())
    return datetime.fromisoformat(meta["end"]), int(meta["teams"])


def work_copy(cached: Path, work: Path) -> None:
    shutil.copyfile(cached / "bench.db", work)


@contextmanager
def postgres_schema(name: str) -> Iterator[str]:
    """A fresh schema on the local PostgreSQL server; yields its URL, drops it at the end."""
    base = make_url(PG_URL)
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    try:
        url = base.update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.dispose()


def copy_records(source_url: str, target_url: str, chunk: int = 20000) -> int:
    """Write every model record of one store into another, a chunk at a time."""
    copied = 0
    with Store.open(source_url) as source, Store.open(target_url) as target:
        for kind in KINDS:
            batch: list[Record] = []
            for record in source.iter_records(kind):
                batch.append(record)
                if len(batch) == chunk:
                    target.write_batch(
                        source="demo", stream="bench", raws=[], records=batch, cursor=None
                    )
                    copied += len(batch)
                    batch = []
            if batch:
                target.write_batch(
                    source="demo", stream="bench", raws=[], records=batch, cursor=None
                )
                copied += len(batch)
    return copied


def drop_snapshots(url: str) -> None:
    """Delete the stored snapshots, so a started server has only its own computation to serve."""
    with Store.open(url):
        pass  # migrations first: the table exists
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(delete(Schema().snapshots))
    engine.dispose()
