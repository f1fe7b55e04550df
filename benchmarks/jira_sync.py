"""Benchmark: sync 5,000 Jira Cloud issues from empty, then again unchanged, against the fake Jira.

Histories average about 12 status transitions and a tenth of the issues have more changelog
entries than the 100 the search inlines. The last line prints
``requests_per_issue=<n> resync_requests=<n> transitions_complete=<ratio>``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fake Jira

from tests.fakes.jira import FakeJira, generate_project

from streamgauge.config import Settings
from streamgauge.connectors.jira import JiraConnector
from streamgauge.connectors.jira.config import JiraConfig
from streamgauge.store import Store
from streamgauge.sync import sync_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    data = generate_project(seed=args.seed, issues=args.issues, projects=("PAY", "OPS"))
    transitions = sum(
        1 for i in data.issues for h in i.histories if h.items[0]["fieldId"] == "status"
    )
    long_issues = sum(1 for i in data.issues if len(i.histories) > 100)
    print(
        f"issues={len(data.issues)} transitions={transitions} "
        f"mean_transitions={transitions / len(data.issues):.1f} longer_than_inline={long_issues}"
    )
    now = datetime(2030, 1, 1, tzinfo=UTC)
    with FakeJira(data, mode="cloud") as fake, tempfile.TemporaryDirectory() as folder:
        config = JiraConfig(
            name="jira",
            type="jira",
            url=fake.url,
            projects=("PAY", "OPS"),
            email=fake.email,
            api_token=fake.api_token,
        )
        settings = Settings(sources=[config])
        with Store.open(f"sqlite:///{Path(folder) / 'bench.db'}") as store:
            began = time.perf_counter()
            first = sync_source(JiraConnector(config, settings), store, clock=lambda: now)
            first_requests = fake.requests_total
            print(
                f"first sync: ok={first.ok} {time.perf_counter() - began:.1f}s "
                f"requests={first_requests} {dict(fake.counts)}"
            )
            began = time.perf_counter()
            second = sync_source(JiraConnector(config, settings), store, clock=lambda: now)
            resync = fake.requests_total - first_requests
            print(
                f"second sync: ok={second.ok} {time.perf_counter() - began:.1f}s requests={resync} "
                f"changed={second.written.changed}"
            )
            stored = store.counts().get("status_change", 0)
            incomplete = sum(
                1
                for r in store.iter_records("work_item")
                if not getattr(r, "history_complete", True)
            )
            print(f"stored_transitions={stored} incomplete_histories={incomplete}")
    print(
        f"requests_per_issue={first_requests / len(data.issues):.4f} resync_requests={resync} "
        f"transitions_complete={round(stored / transitions, 4)}"
    )


if __name__ == "__main__":
    main()
