"""Pushed events per second that `serve` stores and acknowledges, with 20 concurrent clients.

Starts `streamgauge serve` (a subprocess, SQLite store unless --store-url says otherwise) with
one webhook source, then 20 clients post signed CDEvents (service.deployed, Standard Webhooks
signatures) on loopback, each retrying an event until it is answered 202. With --kills K the
server is killed with SIGKILL K times at random moments while they post, and started again.
When every event is acknowledged it waits for them to be normalized and counts the deployments
stored: an event missing is lost, an event kept or normalized twice is duplicated.

    .venv/bin/python benchmarks/webhook.py [--events 5000] [--clients 20] [--kills 0]
        [--store-url URL] [--seed 7] [--threads 8] [--profile FILE]

Last line: events_per_s (acknowledged events over the posting time), p99_ms (of the
acknowledged requests), lost, duplicated. The line before it gives the CPU time the server
(every thread, normalizer included, every process of it when killed) and this process (the
clients) spent per acknowledged event while posting: figures that a machine loaded by others
changes less than the rate.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the sender lives under tests/

import compute_profile
from tests.fakes.webhook.load import Results, deployment_event, post_all
from tests.fakes.webhook.serve import SOURCE, Serve, write_config

from streamgauge.store import Store

# Where the server holds the interpreter while the clients post: every sample goes to the first
# part whose marker is in its stack, in this order.
PARTS: compute_profile.Parts = (
    ("normalizer", ("Intake.normalize_pending",)),
    ("recompute", ("App.recompute",)),
    ("commit", ("GroupCommit._commit_next",)),
    ("verify", ("webhook/auth.py",)),
    ("envelope", ("webhook/envelope.py",)),
    ("request_other", ("WebApp.__call__",)),
    ("http_server", ("waitress/",)),
)


def start_profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on the running server, sampling only the thread that holds the interpreter."""
    spy = compute_profile.py_spy()
    rate = str(compute_profile.RATE)
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--gil", "--nonblocking", "--rate", rate,
         "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def print_profile(out: Path, posting_s: float) -> None:
    seconds = compute_profile.summary(out, PARTS)
    held = sum(seconds.values())
    # the share of the posting time the interpreter was held, then each part's share of that
    print(f"profile_interpreter_held_share={held / posting_s:.2f}")
    for part, spent in seconds.items():
        print(f"profile_{part}_share={spent / max(held, 1e-9):.2f}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--store-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--threads", type=int, default=8, help="the server's server.threads (8 by default)"
    )
    parser.add_argument("--bound", type=float, default=600.0, help="seconds; stop posting then")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="keep py-spy's samples of the server while posting in FILE, print shares by part",
    )
    args = parser.parse_args()
    if args.profile is not None and args.kills:
        parser.error("--profile samples one server process: it does not go with --kills")
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        config = write_config(root, threads=args.threads)
        url = args.store_url or f"sqlite:///{root / 'data' / 'streamgauge.db'}"
        if args.store_url:
            config.write_text(config.read_text() + f"store:\n  url: '{url}'\n", encoding="utf-8")
        serve = Serve(config, root / "data").start()
        try:
            serve.wait_up()
            bodies = [deployment_event(n) for n in range(args.events)]
            results = Results()
            started = time.monotonic()
            server_cpu, client_cpu = serve.cpu_seconds(), time.process_time()
            spy = None
            if args.profile is not None and serve.proc is not None:
                spy = start_profile(serve.proc.pid, args.profile)
            poster = threading.Thread(
                target=post_all,
                args=(serve.url, bodies),
                kwargs={
                    "clients": args.clients,
                    "results": results,
                    "deadline": started + args.bound,
                },
            )
            poster.start()
            span = range(1, max(2, args.events - 1))
            for threshold in sorted(rng.sample(span, min(args.kills, len(span)))):
                while poster.is_alive() and results.acknowledged < threshold:
                    time.sleep(rng.uniform(0.001, 0.02))
                if not poster.is_alive():
                    break
                serve.kill()
                serve.start()
                serve.wait_up()
            poster.join()
            posting_s = time.monotonic() - started
            server_cpu = serve.cpu_seconds() - server_cpu
            client_cpu = time.process_time() - client_cpu
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy then writes its file and ends
                spy.wait(timeout=60)
            deadline = time.monotonic() + 120
            with Store.open(url) as store:
                while time.monotonic() < deadline:
                    if store.event_counts().get((SOURCE, "pending"), 0) == 0:
                        break
                    time.sleep(0.2)
                counts = store.event_counts()
                deployments = store.load_dataset().deployments
        finally:
            serve.stop()
    expected = {f"{SOURCE}:deployment:deploy-{n:06d}" for n in range(args.events)}
    found = [d.id for d in deployments if d.id in expected]
    stored = sum(counts.values())
    lost = len(expected - set(found))
    duplicated = (stored - len(expected)) + (len(found) - len(set(found)))
    acknowledged = max(1, results.acknowledged)
    print(
        f"events={args.events} clients={args.clients} kills={args.kills} threads={args.threads} "
        f"acknowledged={results.acknowledged} retries={results.failures} "
        f"posting_s={posting_s:.1f} errors={len(results.errors)} "
        f"server_cpu_ms_per_event={server_cpu * 1000 / acknowledged:.2f} "
        f"client_cpu_ms_per_event={client_cpu * 1000 / acknowledged:.2f}",
        file=sys.stderr,
    )
    if args.profile is not None:
        print_profile(args.profile, posting_s)
    print(
        f"events_per_s={results.acknowledged / posting_s:.0f} "
        f"p99_ms={percentile(results.latencies, 0.99) * 1000:.1f} "
        f"lost={lost} duplicated={max(0, duplicated)}"
    )


if __name__ == "__main__":
    main()
