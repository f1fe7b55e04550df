"""Benchmark: the calculator over a simulated organisation of about 1,000,000 records.

The store (see ``compute_store.py``: generated once by the demo connector, cached, and shifted
on each run so that it ends now) is measured as a user meets it:

* ``restart_s``: ``streamgauge serve`` started as a subprocess on that store (a configuration
  file written here: the store, no source, a free port), stored snapshots deleted first, until
  ``/readyz`` answers 200; the snapshot then served must have been computed after the start
  (``streamgauge_snapshot_timestamp_seconds``) and over every stored record (its whole-history
  counters equal those of a computation in this process). Median of ``--runs``;
* ``full_compute_s``: :func:`~streamgauge.metrics.compute_all` from the records already in
  memory to a snapshot (median of ``--runs``; the read before it is printed as ``store_read_s``);
* ``incremental_compute_s`` and ``incremental_max_s``: the calculator the server keeps, after
  each batch of 1,000 new records written to the store: reading what changed plus the new
  snapshot (median and max of ``--updates``, at least five);
* ``peak_rss_mb``: the largest of this process's peak resident memory and, for each measured
  child (``serve``, ``backfill``), the child's own peak (``VmHWM``) plus what this process held
  meanwhile. The store's generation, the demo's sync and the database server are
  not counted;
* ``forecast_s``: the forecasts' part of a snapshot (:func:`forecast_seconds`), median of
  ``--runs``;
* ``backfill_90d_s``: ``streamgauge backfill --since 90d --step 1h`` of a demo store made by
  ``streamgauge sync`` of the built-in demo configuration.

Every line is ``name=value``; the last one is ``records=<n> restart_s=<median>
full_compute_s=<median> incremental_compute_s=<median> incremental_max_s=<max>
peak_rss_mb=<n> backfill_90d_s=<n>``.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compute_profile
from compute_store import (
    CACHE,
    LABELLED_TEAMS,
    bench_forecast,
    bench_settings,
    bench_teams,
    cache_folder,
    cached_meta,
    copy_records,
    drop_snapshots,
    generate,
    held_back,
    postgres_schema,
    shift_store,
    work_copy,
)

from streamgauge.cli import embedded_demo_config
from streamgauge.config import Settings, load_settings
from streamgauge.metrics import compute_all, compute_facts, gc_paused
from streamgauge.metrics.forecast import forecasts
from streamgauge.metrics.frames import frames_of
from streamgauge.metrics.incremental import Calculator
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.stage_metrics import kept_names
from streamgauge.model import Dataset
from streamgauge.store import Store

__all__ = ["LABELLED_TEAMS", "bench_settings", "generate"]  # scrape.py's organisation

BATCH = 1000
WHOLE_HISTORY = ("streamgauge_deployments_total", "streamgauge_flow_items_done_total")
PAGE = os.sysconf("SC_PAGE_SIZE")


# --- the server's calculator: every call to it is here, to follow its API -------------------


def start_calculator(store: Store, settings: Settings, now: datetime) -> tuple[Calculator, int]:
    """The calculator as a started server builds it; returns it and the store's seq read."""
    calculator = Calculator(settings)
    seq = store.max_seq()
    calculator.load(store.load_dataset())
    calculator.snapshot(now)
    return calculator, seq


def update(calculator: Calculator, store: Store, seq: int, now: datetime) -> tuple[int, int]:
    """What the server does after a sync: read what changed, bring the snapshot to ``now``."""
    changed, seq = store.changed_since(seq)
    calculator.upsert(changed)
    calculator.snapshot(now)
    return seq, len(changed)


def calculator_size(calculator: Calculator) -> int:
    return len(calculator)


# --- memory --------------------------------------------------------------------------------


class Memory:
    """Peak resident memory of this process and of the children it measures, in MB.

    A child's peak is its ``VmHWM`` (/proc), read every 50 ms while it runs: ``wait4``'s
    ``ru_maxrss`` would not do, as Linux counts in it the copy of this process the child was
    forked from.
    """

    def __init__(self) -> None:
        self.children: dict[str, float] = {}

    @staticmethod
    def current_mb() -> float:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * PAGE / 2**20

    @staticmethod
    def _hwm_mb(pid: int) -> float | None:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        return int(found.group(1)) / 1024 if found else None

    def watch(self, name: str, child: subprocess.Popen[Any]) -> threading.Thread:
        """Follow ``child``'s peak, plus what this process holds meanwhile, until it ends."""

        def follow() -> None:
            while child.poll() is None:
                peak = self._hwm_mb(child.pid)
                if peak is not None:
                    total = peak + self.current_mb()
                    self.children[name] = max(self.children.get(name, 0.0), total)
                time.sleep(0.05)

        watcher = threading.Thread(target=follow, daemon=True)
        watcher.start()
        return watcher

    def peak_mb(self) -> float:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        counted = [v for k, v in self.children.items() if k != "profiled"]
        return max(own, *counted) if counted else own


# --- restart -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection.close()


def write_config(folder: Path, url: str, teams: int) -> Path:
    config = {
        "data_dir": str(folder),
        "store": {"url": url},
        "server": {"host": "127.0.0.1", "port": free_port()},
        "log_level": "WARNING",
        "teams": bench_teams(teams),
        "forecast": bench_forecast(),
        "sources": [],
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def whole_history(text: str) -> dict[str, float]:
    """Sums of the whole-history counters in an exposition text."""
    sums = dict.fromkeys(WHOLE_HISTORY, 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in sums:
            sums[name] += float(line.rsplit(" ", 1)[1])
    return sums


def snapshot_history(snapshot: Snapshot) -> dict[str, float]:
    sums = dict.fromkeys(WHOLE_HISTORY, 0.0)
    for sample in snapshot.samples:
        if sample.name in sums:
            sums[sample.name] += sample.value
    return sums


def restart(
    config: Path, url: str, memory: Memory, log: Path, profile: Path | None = None
) -> tuple[float, dict[str, float]]:
    """Seconds from starting ``serve`` to /readyz 200 with its own snapshot, and its counters.

    With ``profile``, ``serve`` runs under py-spy and neither its time nor its memory counts.
    """
    drop_snapshots(url)
    port = int(yaml.safe_load(config.read_text())["server"]["port"])
    prefix = compute_profile.command(profile) if profile is not None else []
    started = time.time()
    began = time.perf_counter()
    with log.open("ab") as errors:
        child = subprocess.Popen(
            [*prefix, sys.executable, "-m", "streamgauge", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    watcher = memory.watch("profiled" if profile else "serve", child)
    try:
        while True:
            if child.poll() is not None:
                raise SystemExit(f"serve exited with {child.returncode}; see {log}")
            try:
                status, _ = get(port, "/readyz")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - began
        _, text = get(port, "/metrics")
    finally:
        if profile is None:
            time.sleep(0.1)  # one more look at its peak
            child.terminate()
            code = child.wait()
        else:  # stop the profiled server; py-spy then writes its file and ends
            served = compute_profile.served_pid(child)
            if served is not None:
                os.kill(served, signal.SIGTERM)
            code = child.wait()
        watcher.join()
    stamp = [ln for ln in text.splitlines() if ln.startswith("streamgauge_snapshot_timestamp")]
    served_at = float(stamp[0].rsplit(" ", 1)[1]) if stamp else 0.0
    if served_at < started:
        raise SystemExit(f"serve was ready with a snapshot from before its start ({served_at})")
    if code not in (0, -signal.SIGTERM):
        raise SystemExit(f"serve stopped with {code}; see {log}")
    return seconds, whole_history(text)


# --- backfill ------------------------------------------------------------------------------


def backfill(folder: Path, args: argparse.Namespace, memory: Memory, url: str | None) -> float:
    """Seconds of ``streamgauge backfill`` over a freshly synced demo store."""
    config = embedded_demo_config()
    if args.demo_days is not None:
        values = yaml.safe_load(Path(config).read_text())
        values["sources"][0]["days"] = args.demo_days
        config = folder / "demo.yaml"
        config.write_text(yaml.safe_dump(values))
    env = dict(os.environ)
    if url is not None:
        env["STREAMGAUGE_STORE__URL"] = url
    common = ["--config", str(config), "--data-dir", str(folder / "demo"), "--log-level", "ERROR"]
    command = [sys.executable, "-m", "streamgauge"]
    subprocess.run([*command, "sync", *common], env=env, check=True, stdout=subprocess.DEVNULL)
    out = folder / "backfill.om"
    began = time.perf_counter()
    span = ["--since", args.backfill_since, "--step", args.backfill_step]
    child = subprocess.Popen(
        [*command, "backfill", *common, *span, "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    watcher = memory.watch("backfill", child)
    code = child.wait()
    seconds = time.perf_counter() - began
    watcher.join()
    if code != 0 or not out.read_bytes().endswith(b"# EOF\n"):
        raise SystemExit(f"backfill failed ({code}) or wrote no complete OpenMetrics file")
    return seconds


# --- the run -------------------------------------------------------------------------------


def measure(folder: Path, cached: Path, url: str, args: argparse.Namespace, memory: Memory) -> str:
    config = write_config(folder, url, args.teams)
    settings = load_settings(config)
    log = folder / "serve.log"
    restarts: list[float] = []
    served: dict[str, float] = {}
    for _ in range(args.runs):
        seconds, served = restart(config, url, memory, log)
        restarts.append(seconds)
        print(f"restart_run_s={seconds:.2f}", flush=True)
    print(f"peak_rss_serve_mb={memory.children['serve']:.0f}", flush=True)
    if args.profile is not None:
        seconds, _ = restart(config, url, memory, log, args.profile)
        print(f"profiled_restart_s={seconds:.2f}", flush=True)
        compute_profile.print_summary(args.profile)

    with Store.open(url) as store:
        began = time.perf_counter()
        dataset = store.load_dataset()
        print(f"store_read_s={time.perf_counter() - began:.2f}", flush=True)
    full: list[float] = []
    for _ in range(args.runs):
        gc.collect()
        began = time.perf_counter()
        snapshot = compute_all(dataset, now=datetime.now(UTC), settings=settings)
        full.append(time.perf_counter() - began)
        print(f"full_compute_run_s={full[-1]:.2f}", flush=True)
    print(f"forecast_s={forecast_seconds(dataset, settings, args.runs):.3f}", flush=True)
    mine = snapshot_history(snapshot)
    if served != mine:
        raise SystemExit(f"serve's whole-history counters {served} differ from {mine}")
    print(f"served_counters_match={len(dataset)}_records", flush=True)
    del dataset, snapshot
    gc.collect()

    new = held_back(cached, args.delta)
    incremental: list[float] = []
    with Store.open(url) as store:
        calculator, seq = start_calculator(store, settings, datetime.now(UTC))
        for run in range(args.updates):
            batch = new[run * args.batch : (run + 1) * args.batch]
            store.write_batch(source="demo", stream="bench", raws=[], records=batch, cursor=None)
            began = time.perf_counter()
            seq, changed = update(calculator, store, seq, datetime.now(UTC))
            incremental.append(time.perf_counter() - began)
            print(f"incremental_run_s={incremental[-1]:.3f} changed={changed}", flush=True)
        records = calculator_size(calculator)
    del calculator
    gc.collect()
    print(f"peak_rss_self_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    with _maybe_schema(args.store == "postgresql", f"sg_bench_{os.getpid()}_demo") as demo_url:
        back = backfill(folder, args, memory, demo_url)
    print(f"peak_rss_backfill_mb={memory.children['backfill']:.0f}", flush=True)
    print(f"peak_rss_self_end_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
    return (
        f"records={records} restart_s={statistics.median(restarts):.2f} "
        f"full_compute_s={statistics.median(full):.2f} "
        f"incremental_compute_s={statistics.median(incremental):.3f} "
        f"incremental_max_s={max(incremental):.3f} peak_rss_mb={memory.peak_mb():.0f} "
        f"backfill_90d_s={back:.1f}"
    )


def forecast_seconds(dataset: Dataset, settings: Settings, runs: int) -> float:
    """The forecasts' part of a snapshot (median of ``runs``): every team and type's items by
    each horizon and days until each backlog is done, from the facts of one computation."""
    now = datetime.now(UTC)
    with gc_paused():
        facts = compute_facts(dataset, now=now, settings=settings)
        kept = kept_names(facts.streams, settings.metrics.stage_labels)
        done = frames_of(facts.dora, facts.incident_fixes, facts.flows, facts.streams, kept).done
        times: list[float] = []
        for _ in range(runs):
            began = time.perf_counter()
            forecasts(facts.flows, done, settings.forecast, now=now)
            times.append(time.perf_counter() - began)
    return statistics.median(times)


class _maybe_schema:
    """A PostgreSQL schema when asked for, else nothing (``None``)."""

    def __init__(self, wanted: bool, name: str) -> None:
        self._context = postgres_schema(name) if wanted else None

    def __enter__(self) -> str | None:
        return self._context.__enter__() if self._context is not None else None

    def __exit__(self, *exc: object) -> None:
        if self._context is not None:
            self._context.__exit__(*exc)  # type: ignore[arg-type]


def prepare(args: argparse.Namespace, memory: Memory) -> Path:
    """The cached store for these parameters, generated by a child process when missing."""
    cached = cache_folder(args.cache_dir, args.records, args.seed, args.batch * args.updates)
    if not (cached / "meta.json").exists():
        cached.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        command = [sys.executable, __file__, "--generate-only", "--cache-dir", str(cached)]
        command += ["--records", str(args.records), "--seed", str(args.seed)]
        subprocess.run([*command, "--held-back", str(args.batch * args.updates)], check=True)
        print(f"generated_s={time.perf_counter() - began:.0f}", flush=True)
    return cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="restarts and full computations")
    parser.add_argument("--updates", type=int, default=5, help="incremental updates (>= 5)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help="generated stores")
    parser.add_argument("--backfill-since", default="90d")
    parser.add_argument("--backfill-step", default="1h")
    parser.add_argument("--quick", action="store_true", help="a tiny run, for a smoke test")
    parser.add_argument("--profile", type=Path, help="py-spy stacks of one more restart here")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--held-back", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.batch, args.demo_days = BATCH, None
    if args.generate_only:
        generate(args.cache_dir, args.records, args.held_back, args.seed)
        return
    if args.quick:
        args.records, args.runs, args.batch, args.demo_days = 3000, 1, 100, 3
        args.backfill_since, args.backfill_step = "2d", "6h"
    if args.updates < 5:
        parser.error("--updates: at least 5")
    memory = Memory()
    cached = prepare(args, memory)
    with tempfile.TemporaryDirectory(prefix="sg-bench-") as scratch:
        folder = Path(scratch)
        work_copy(cached, folder / "work.db")
        url = f"sqlite:///{folder / 'work.db'}"
        with _maybe_schema(args.store == "postgresql", f"sg_bench_{os.getpid()}") as pg:
            if pg is not None:
                began = time.perf_counter()
                copied = copy_records(url, pg)
                print(f"postgresql_copy_s={time.perf_counter() - began:.0f} copied={copied}")
                (folder / "work.db").unlink()
                url = pg
            # last, so the store ends at the moment the measurement starts
            end, args.teams = cached_meta(cached)
            args.delta = datetime.now(UTC) - end
            shift_store(url, args.delta)
            print(f"store={args.store} shifted_by_s={args.delta.total_seconds():.0f}", flush=True)
            print(measure(folder, cached, url, args, memory), flush=True)


if __name__ == "__main__":
    main()
