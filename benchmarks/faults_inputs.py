"""The faults benchmark's inputs: file lines and poisons, a writer that rotates, faults on the fakes.

Also the YAML configuration `serve` and `sync` read: the three sources, every 10 s.
"""

from __future__ import annotations

import json
import os
import random
from datetime import datetime, timedelta
from pathlib import Path

from tests.fakes.github import TOKEN, FakeGitHub, Fault
from tests.fakes.jira import FakeJira

from streamgauge.model import Commit, Deployment, Environment, RunResult, make_id, to_json

FILE_SOURCE = "files"
LONG_RETRY_AFTER = 20  # seconds: longer than the configured max_rate_limit_wait (5 s)


def file_records(count: int, now: datetime) -> list[str]:
    """``count`` JSON Lines of the file source: commits, and a deployment every tenth line."""
    lines = []
    start = now - timedelta(days=20)
    for n in range(count):
        when = start + timedelta(minutes=7 * n)
        record: Commit | Deployment
        if n % 10 == 9:
            record = Deployment(
                id=make_id(FILE_SOURCE, "deployment", f"d{n}"),
                source=FILE_SOURCE,
                team="payments",
                app="checkout",
                environment=Environment.PRODUCTION,
                repo="acme/checkout",
                sha=f"{n - 1:040x}",
                started_at=when - timedelta(minutes=10),
                finished_at=when,
                result=RunResult.SUCCESS,
            )
        else:
            record = Commit(
                id=make_id(FILE_SOURCE, "commit", f"{n:040x}"),
                source=FILE_SOURCE,
                team="payments",
                app="checkout",
                repo="acme/checkout",
                sha=f"{n:040x}",
                authored_at=when,
                committed_at=when,
                message=f"PAY-{n % 50 + 1} change {n}",
            )
        lines.append(json.dumps(to_json(record)) + "\n")
    return lines


def poisoned_line(kind: str, serial: int, now: datetime) -> str:
    """One hostile line; none of them is in the reference, none may block the lines after it."""
    sha = f"{0xBAD0000 + serial:040x}"
    base = {
        "kind": "commit",
        "id": make_id(FILE_SOURCE, "commit", sha),
        "source": FILE_SOURCE,
        "repo": "acme/checkout",
        "sha": sha,
        "authored_at": now.isoformat(),
        "committed_at": now.isoformat(),
    }
    if kind == "deep":
        depth = 100_000
        return '{"kind": "commit", "message": ' + "[" * depth + "]" * depth + "}\n"
    if kind == "surrogate":
        return json.dumps(base | {"message": "x"})[:-1] + ', "branch": "\\ud800"}\n'
    if kind == "nul":
        return json.dumps(base | {"message": "a\u0000b"}) + "\n"
    if kind == "huge_int":
        run = {
            "kind": "pipeline_run",
            "id": make_id(FILE_SOURCE, "pipeline_run", f"bad{serial}"),
            "source": FILE_SOURCE,
            "pipeline": "ci",
            "started_at": now.isoformat(),
            "result": "success",
            "attempt": 2**70,
        }
        return json.dumps(run) + "\n"
    if kind == "year_10000":
        return json.dumps(base | {"authored_at": "10000-01-01T00:00:00+00:00"}) + "\n"
    raise ValueError(kind)


POISONS = ("deep", "surrogate", "nul", "huge_int", "year_10000")


def write_config(path: Path, *, data_dir: Path, records: Path, port: int, github: FakeGitHub,
                 jira: FakeJira, store_url: str | None = None) -> None:  # fmt: skip
    store = f"store:\n  url: {json.dumps(store_url)}\n" if store_url else ""
    path.write_text(
        f"""\
data_dir: {data_dir}
{store}server:
  host: 127.0.0.1
  port: {port}
  recompute_interval: 10s
teams:
  payments: {{apps: [checkout], repos: [acme/checkout], projects: [PAY]}}
sources:
  - name: github
    type: github
    base_url: {github.base_url}
    token: {TOKEN}
    org: {github.org.login}
    interval: 10s
    request_spacing: 0
    backoff: 0.5
    max_rate_limit_wait: 5
  - name: jira
    type: jira
    url: {jira.url}
    email: {jira.email}
    api_token: {jira.api_token}
    projects: [PAY]
    page_size: 20
    interval: 10s
  - name: {FILE_SOURCE}
    type: file
    path: {records}
    interval: 10s
""",
        encoding="utf-8",
    )


# --- the file source and its rotations --------------------------------------------------------


class FileFeed:
    """Writes the file source's lines, rotating and replacing the file as a writer might."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self.pending = list(lines)
        self.rotated = 0
        path.touch()

    def append(self, count: int) -> None:
        batch, self.pending = self.pending[:count], self.pending[count:]
        with self.path.open("a", encoding="utf-8") as out:
            out.writelines(batch)

    def poison(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line)

    def rename(self, count: int) -> None:
        """The file moved away (lines it got last may be unread), a new one written in its place."""
        self.rotated += 1
        self.path.rename(self.path.with_name(f"{self.path.name}.{self.rotated}"))
        self.path.touch()
        self.append(count)

    def truncate(self, count: int) -> None:
        """Emptied in place and written again from its start."""
        with self.path.open("r+", encoding="utf-8") as out:
            out.truncate(0)
        self.append(count)

    def same_size(self) -> bool:
        """Replaced by a new file of exactly its size (new lines, the last padded with spaces)."""
        size = self.path.stat().st_size
        taken: list[str] = []
        used = 0
        while self.pending and used + len(self.pending[0].encode()) <= size:
            used += len(self.pending[0].encode())
            taken.append(self.pending.pop(0))
        if not taken:
            return False
        taken[-1] = taken[-1][:-1] + " " * (size - used) + "\n"
        fresh = self.path.with_name(self.path.name + ".new")
        fresh.write_text("".join(taken), encoding="utf-8")
        os.replace(fresh, self.path)
        return True


def inject(rng: random.Random, github: FakeGitHub, jira: FakeJira, kind: str) -> None:
    """A fault on the next requests to one of the fakes."""
    if rng.random() < 0.5:
        path = rng.choice(["/api/graphql", "/actions/runs", "/events", ""])
        fault = {
            "5xx": Fault("5xx", times=rng.randint(2, 4), path=path),
            "reset": Fault("reset", times=rng.randint(1, 3), path=path),
            "slow": Fault("slow", times=rng.randint(1, 3), path=path, delay=rng.uniform(1, 4)),
            "429": Fault("secondary429", path=path, retry_after=LONG_RETRY_AFTER),
        }[kind]
        github.inject(fault)
    elif kind == "5xx":
        jira.inject(rng.choice(["500", "503"]), times=rng.randint(2, 4))
    elif kind == "reset":
        jira.inject("reset", times=rng.randint(1, 3))
    elif kind == "slow":
        jira.inject("slow", times=rng.randint(1, 3), delay=rng.uniform(1, 4))
    else:
        jira.inject("429", retry_after=str(LONG_RETRY_AFTER))
