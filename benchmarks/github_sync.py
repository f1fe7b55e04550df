"""Requests a GitHub sync spends: 20 repositories and 2,000 merged pull requests, then a resync.

Runs the GitHub connector (PyGithub over HTTP) against the fake GitHub of the test suite, into a
fresh SQLite store, first from empty and then again with nothing changed. The last line says
how many requests the first sync spent per merged pull request and what the resync cost.

    .venv/bin/python benchmarks/github_sync.py [--repos 20] [--merged-prs 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake lives under tests/

from tests.fakes.github import TOKEN, FakeGitHub, generate_org

from streamgauge.config import Settings
from streamgauge.connectors.github import GithubConfig, GithubConnector
from streamgauge.store import Store
from streamgauge.sync import sync_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--merged-prs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    org = generate_org(args.seed, repos=args.repos, merged_prs=args.merged_prs)
    now = datetime(2025, 12, 1, tzinfo=UTC)
    fake = FakeGitHub(org).start()
    try:
        config = GithubConfig(
            name="github",
            base_url=fake.base_url,
            token=TOKEN,
            org=org.login,
            history="365d",
            request_spacing=0,
        )
        connector = GithubConnector(config, Settings(), clock=lambda: now)
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
            print(
                f"first sync: rate-limit points {dict(fake.cost)}; {seconds:.1f}s; records {store.counts()}"
            )
            fake.reset_counts()
            resync = sync_source(connector, store, clock=lambda: now)
            if not resync.ok:
                raise SystemExit(f"resync failed: {resync.error}")
            print(f"resync: {fake.total_requests} requests, {fake.not_modified} answered 304")
            connector.close()
        merged = org.merged_pulls
        cost = sum(fake.cost.values())
        print(
            f"requests_per_merged_pr={first_requests / merged:.4f} "
            f"resync_requests={fake.total_requests} resync_rate_limit_cost={cost}"
        )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
