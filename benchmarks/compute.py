"""Benchmark: metric computation over a simulated organisation of about 1,000,000 records.

A child process generates the organisation with the demo connector and writes its records into
an SQLite store, holding back the newest few thousand. This process then measures, as the
server does it:

* a full computation: :func:`~streamgauge.metrics.compute_all` over every record, read from
  the store beforehand (median of ``--runs``, each from nothing). Reading the store is timed
  on its own and printed before the last line (``load_s``), with the two together
  (``restart_s``: what a server spends on its first snapshot after a start);
* an incremental one: 1,000 of the held-back records are written to the store, read back as
  changed, and the calculator that the server keeps brings its snapshot to the newer moment
  (median of ``--runs``, read included);
* the process's peak resident memory.

Last line: ``records=<n> full_compute_s=<median> incremental_compute_s=<median>
peak_rss_mb=<n>``.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamgauge.config import Settings
from streamgauge.connectors.base import SyncContext
from streamgauge.connectors.demo import DemoConfig, DemoConnector
from streamgauge.connectors.demo.config import team_names
from streamgauge.metrics import compute_all
from streamgauge.metrics.incremental import Calculator
from streamgauge.model import Dataset, Record, from_json, to_json
from streamgauge.store import Store

RECORDS_PER_TEAM_DAY = 53.5  # what the demo's default rates produce
BATCH = 1000
END = datetime(2026, 7, 1, tzinfo=UTC)
LABELLED_TEAMS = 10  # label values stay bounded whatever the organisation's size


def org_size(records: int, teams: int | None = None) -> tuple[int, int]:
    """(teams, days) of a demo organisation of about ``records`` records."""
    teams = teams or max(1, round(records / (RECORDS_PER_TEAM_DAY * 180)))
    # a short history holds proportionally fewer records (its first days finish little)
    days = max(7, min(180, round(records / (RECORDS_PER_TEAM_DAY * teams)) + 4))
    return teams, days


def bench_settings(teams: int) -> Settings:
    names = team_names(min(teams, LABELLED_TEAMS))
    return Settings(teams={n: {"apps": [f"{n}-api", f"{n}-web"]} for n in names})


def _latest(record: Record) -> datetime:
    times = [getattr(record, f.name) for f in fields(record)]
    return max(t for t in times if isinstance(t, datetime))


def generate(
    folder: Path, records: int, held_back: int, seed: int, teams: int | None = None
) -> None:
    """Write the store ``folder/bench.db`` and the held-back records ``folder/new.jsonl``."""
    teams, days = org_size(records, teams)
    config = DemoConfig.model_validate(
        {
            "name": "demo",
            "type": "demo",
            "seed": seed,
            "teams": teams,
            "start": (END - timedelta(days=days)).isoformat(),
        }
    )
    demo = DemoConnector(config, Settings())
    data: list[Record] = []
    ctx = SyncContext(source="demo", started_at=END, cursors={})
    for stream in demo.streams():
        for page in stream.read(None, ctx):
            for raw in page.raws:
                data.extend(demo.normalize(raw))
    data.sort(key=lambda r: (_latest(r), r.id))
    kept, new = data[: len(data) - held_back], data[len(data) - held_back :]
    with Store.open(f"sqlite:///{folder / 'bench.db'}") as store:
        for begin in range(0, len(kept), 20000):
            chunk = kept[begin : begin + 20000]
            store.write_batch(source="demo", stream="bench", raws=[], records=chunk, cursor=None)
    with (folder / "new.jsonl").open("w", encoding="utf-8") as out:
        for record in new:
            out.write(json.dumps(to_json(record)) + "\n")
    meta = {"teams": teams, "days": days, "now": _latest(kept[-1]).isoformat()}
    (folder / "meta.json").write_text(json.dumps(meta))


def full_compute(store: Store, settings: Settings, now: datetime) -> tuple[float, float, int]:
    """Seconds to read the store, seconds of ``compute_all`` over it, and how many records."""
    began = time.perf_counter()
    dataset: Dataset = store.load_dataset()
    loaded = time.perf_counter()
    compute_all(dataset, now=now, settings=settings)
    return loaded - began, time.perf_counter() - loaded, len(dataset)


def measure(folder: Path, runs: int) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    settings = bench_settings(meta["teams"])
    now = datetime.fromisoformat(meta["now"])
    new = [from_json(json.loads(line)) for line in (folder / "new.jsonl").open()]
    # The measurement writes the new records into a copy, so a kept store can be measured again.
    shutil.copyfile(folder / "bench.db", folder / "work.db")
    with Store.open(f"sqlite:///{folder / 'work.db'}") as store:
        seq = store.max_seq()
        full: list[float] = []
        loads: list[float] = []
        for _ in range(runs):
            gc.collect()
            load, seconds, n = full_compute(store, settings, now)
            full.append(seconds)
            loads.append(load)
            print(f"full: read {load:.2f}s, compute_all {seconds:.2f}s ({n} records)", flush=True)
        gc.collect()
        # the server's calculator, started as a server starts, then updated after each sync
        calculator = Calculator(settings)
        calculator.load(store.load_dataset())
        calculator.snapshot(now)
        incremental: list[float] = []
        for run in range(runs):
            batch = new[run * BATCH : (run + 1) * BATCH]
            store.write_batch(source="demo", stream="bench", raws=[], records=batch, cursor=None)
            now = max(now, max(_latest(r) for r in batch))
            began = time.perf_counter()
            changed, seq = store.changed_since(seq)
            calculator.upsert(changed)
            calculator.snapshot(now)
            seconds = time.perf_counter() - began
            incremental.append(seconds)
            print(f"incremental: {seconds:.3f}s ({len(changed)} records)", flush=True)
        records = len(calculator)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load, compute = statistics.median(loads), statistics.median(full)
    print(f"load_s={load:.2f} restart_s={load + compute:.2f}")
    print(
        f"records={records} full_compute_s={statistics.median(full):.2f} "
        f"incremental_compute_s={statistics.median(incremental):.3f} peak_rss_mb={peak:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", type=Path, help="keep the generated store here (reused)")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.data_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        if args.generate_only:
            generate(folder, args.records, BATCH * args.runs, args.seed)
            return
        if not (folder / "meta.json").exists():
            began = time.perf_counter()
            # A child process generates, so this one's peak memory is the computation's alone.
            command = [sys.executable, __file__, "--generate-only", "--data-dir", str(folder)]
            command += ["--records", str(args.records), "--runs", str(args.runs)]
            subprocess.run([*command, "--seed", str(args.seed)], check=True)
            print(f"generated in {time.perf_counter() - began:.0f}s", flush=True)
        measure(folder, args.runs)


if __name__ == "__main__":
    main()
