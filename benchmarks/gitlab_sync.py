"""Requests a GitLab sync spends: 20 projects and 2,000 merged merge requests, then a resync.

Runs the GitLab connector (python-gitlab over HTTP) against the fake GitLab of the test suite,
into a fresh SQLite store, first from empty and then again with nothing changed. Each merged
merge request has two or three commits, a review note and an approval; each merge runs a
pipeline of two jobs; every fifth merge is deployed to staging and production, and some
production deployments fail or are followed by an incident. The last line says how many
requests the first sync spent per merged merge request and what the resync cost.

    .venv/bin/python benchmarks/gitlab_sync.py [--projects 20] [--merged-mrs 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake lives under tests/

from tests.fakes.gitlab import TOKEN, FakeGitLab, generate_group

from streamgauge.config import Settings
from streamgauge.connectors.gitlab import GitlabConfig, GitlabConnector
from streamgauge.store import Store
from streamgauge.sync import sync_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--merged-mrs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    group = generate_group(args.seed, projects=args.projects, merged_mrs=args.merged_mrs)
    now = datetime(2025, 12, 1, tzinfo=UTC)
    fake = FakeGitLab(group).start()
    try:
        config = GitlabConfig(
            name="gitlab", url=fake.url, token=TOKEN, groups=[group.path], history="365d"
        )
        connector = GitlabConnector(config, Settings(), clock=lambda: now)
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
            print(f"resync: {fake.total_requests} requests {dict(sorted(fake.requests.items()))}")
            print(f"resync: {resync.written.changed} records changed")
            connector.close()
        merged = group.merged_mrs
        print(
            f"requests_per_merged_mr={first_requests / merged:.4f} "
            f"resync_requests={fake.total_requests}"
        )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
