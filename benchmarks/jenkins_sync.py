"""Requests a Jenkins sync spends: 200 jobs in folders and multibranch projects, 20,000 builds.

Runs the Jenkins connector (requests over HTTP) against the fake Jenkins of the test suite, into
a fresh SQLite store, first from empty and then again with nothing changed. The last line says
how many requests the first sync spent per 100 builds and what the resync cost.

    .venv/bin/python benchmarks/jenkins_sync.py [--jobs 200] [--builds 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake lives under tests/

from tests.fakes.jenkins import TOKEN, USER, FakeFolder, FakeJenkins, generate_instance

from streamgauge.config import Settings
from streamgauge.connectors.jenkins import JenkinsConfig, JenkinsConnector
from streamgauge.store import Store
from streamgauge.sync import sync_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--builds", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    instance = generate_instance(args.seed, jobs=args.jobs, builds=args.builds)
    folders = 1 + sum(isinstance(item, FakeFolder) for _, item in instance.walk())
    now = datetime(2025, 12, 1, tzinfo=UTC)
    fake = FakeJenkins(instance).start()
    try:
        config = JenkinsConfig(
            name="jenkins",
            url=fake.url,
            user=USER,
            api_token=TOKEN,
            history="365d",
            deployments=[{"job": "team-*/job-3", "app": "shop"}],
        )
        connector = JenkinsConnector(config, Settings(), clock=lambda: now)
        with (
            tempfile.TemporaryDirectory() as folder,
            Store.open(f"sqlite:///{folder}/bench.db") as store,
        ):
            started = time.perf_counter()
            first = sync_source(connector, store, clock=lambda: now)
            seconds = time.perf_counter() - started
            if not first.ok:
                raise SystemExit(f"first sync failed: {first.error}")
            first_requests = fake.total_requests
            print(f"first sync: {first_requests} requests {dict(sorted(fake.requests.items()))}")
            print(f"first sync: {seconds:.1f}s; records {store.counts()}")
            fake.reset_counts()
            resync = sync_source(connector, store, clock=lambda: now)
            if not resync.ok:
                raise SystemExit(f"resync failed: {resync.error}")
            print(f"resync: {fake.total_requests} requests for {folders} folders (root included)")
            connector.close()
        builds = instance.build_count
        print(
            f"requests_per_100_builds={100 * first_requests / builds:.4f} "
            f"resync_requests={fake.total_requests}"
        )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
