"""Benchmark: /metrics latency under 20 concurrent scrapers, a large store against a small one.

Two organisations are generated as in ``compute.py`` (about 1,000,000 and 10,000 records),
their snapshots computed and served the way ``streamgauge serve`` serves them: the
:class:`~streamgauge.exposition.collector.Exposition` behind the WSGI app under waitress.
Twenty client threads then scrape ``/metrics`` (as Prometheus does, accepting gzip) for a
fixed number of requests each; the latency of every request is kept.

Last line: ``scrape_p99_ms=<n> scrape_p99_ratio_vs_small=<n>`` (the large store's p99 over the
small one's).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute import LABELLED_TEAMS, bench_settings, generate

from streamgauge.exposition.collector import Exposition, ServedState
from streamgauge.exposition.http import WebApp, make_server
from streamgauge.metrics.incremental import Calculator
from streamgauge.store import Store

CLIENTS = 20


def snapshot_exposition(folder: Path, records: int) -> Exposition:
    if not (folder / "meta.json").exists():
        # At least as many teams as get labels, so both stores expose the same series: a
        # scrape's cost follows the bounded label set, never the size of the history.
        generate(folder, records, 0, seed=42, teams=max(LABELLED_TEAMS, round(records / 9630)))
    meta = json.loads((folder / "meta.json").read_text())
    calculator = Calculator(bench_settings(meta["teams"]))
    with Store.open(f"sqlite:///{folder / 'bench.db'}") as store:
        calculator.load(store.load_dataset())
    snapshot = calculator.snapshot(datetime.fromisoformat(meta["now"]))
    print(f"{folder.name}: {len(calculator)} records, {len(snapshot.samples)} samples", flush=True)
    return Exposition(ServedState(snapshot=snapshot, sources=("demo",)))


def serve(folder: Path, records: int) -> None:
    """Child process: compute the snapshot, serve it, print the port, run until killed."""
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # 20 clients queue by design
    exposition = snapshot_exposition(folder, records)
    server = make_server(
        WebApp(exposition, lambda: (True, "ready")), host="127.0.0.1", port=0, threads=8
    )
    print(f"port={server.effective_port}", flush=True)  # type: ignore[union-attr]
    server.run()


def scrape(folder: Path, records: int, requests_per_client: int) -> list[float]:
    """Latencies (seconds) of every request of ``CLIENTS`` concurrent scrapers.

    The server runs in its own process, as in production, so the clients' work does not
    share its interpreter.
    """
    command = [sys.executable, __file__, "--serve", str(folder), "--records", str(records)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = 0
        for line in child.stdout:
            print(line.rstrip(), flush=True)
            if line.startswith("port="):
                port = int(line.strip().removeprefix("port="))
                break
        return _clients(port, requests_per_client)
    finally:
        child.terminate()
        child.wait()


def _clients(port: int, requests_per_client: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    headers = {"Accept-Encoding": "gzip"}  # what Prometheus sends

    def client() -> None:
        mine: list[float] = []
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(requests_per_client + 1):
            began = time.perf_counter()
            connection.request("GET", "/metrics", headers=headers)
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"/metrics answered {answer.status}")
            if n:  # the first request opens the connection: not a scrape's steady cost
                mine.append(time.perf_counter() - began)
        connection.close()
        with lock:
            latencies.extend(mine)

    clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--data-dir", type=Path, help="keep the generated stores here (reused)")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.records)
        return
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data_dir or Path(scratch)
        figures = {}
        for name, records in (("large", args.records), ("small", args.small)):
            folder = root / name
            folder.mkdir(parents=True, exist_ok=True)
            latencies = scrape(folder, records, args.requests)
            figures[name] = p99(latencies)
            print(
                f"{name}: {len(latencies)} scrapes, median "
                f"{statistics.median(latencies) * 1000:.1f} ms, p99 {figures[name] * 1000:.1f} ms",
                flush=True,
            )
    print(
        f"scrape_p99_ms={figures['large'] * 1000:.1f} "
        f"scrape_p99_ratio_vs_small={figures['large'] / figures['small']:.2f}"
    )


if __name__ == "__main__":
    main()
