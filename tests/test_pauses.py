"""A long rate limit pauses the source, not the request: exported, respected, then resumed whole."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.connectors.github.conftest import small_org
from tests.connectors.jira.conftest import small_project
from tests.fakes.github import TOKEN, FakeGitHub, Fault
from tests.fakes.jira import FakeJira

from streamgauge.app import App
from streamgauge.config import Settings
from streamgauge.connectors.github import GithubConfig
from streamgauge.connectors.jira.config import JiraConfig
from streamgauge.model import KINDS, to_json

PAUSED = "streamgauge_source_paused_until_timestamp_seconds"


class Tool:
    """One fake tool: its server, a source config for it, a 429 to inject, and a request count."""

    def __init__(self, kind: str, server: Any) -> None:
        self.kind = kind
        self.server = server

    def config(self) -> Any:
        if self.kind == "github":
            return GithubConfig(
                name="src",
                base_url=self.server.base_url,
                token=TOKEN,
                org="acme",
                history="3650d",
                request_spacing=0,
                backoff=0.01,
                max_rate_limit_wait=5,
            )
        return JiraConfig(
            name="src",
            type="jira",
            url=self.server.url,
            token=self.server.pat,
            projects=("PAY",),
            max_rate_limit_wait=5,
        )

    def inject_long_429(self) -> None:
        """The second page of the sync answers 429 with Retry-After: 600."""
        if self.kind == "github":
            self.server.inject(Fault("secondary429", path="/api/graphql", skip=1, retry_after=600))
        else:
            self.server.inject("429", endpoint="search", times=1, after=1, retry_after="600")

    def requests(self) -> int:
        if self.kind == "github":
            return int(self.server.total_requests)
        return sum(self.server.counts.values())


@contextmanager
def running(kind: str) -> Iterator[Tool]:
    if kind == "github":
        fake = FakeGitHub(small_org()).start()
        try:
            yield Tool(kind, fake)
        finally:
            fake.stop()
    else:
        with FakeJira(small_project(), mode="datacenter", max_results=3) as jira:
            yield Tool(kind, jira)


def app_for(tool: Tool, folder: Path, clock: Callable[[], datetime]) -> App:
    settings = Settings(data_dir=folder, sources=[tool.config()])
    return App(settings, clock=clock)


def records(app: App) -> dict[str, dict[str, Any]]:
    return {r.id: to_json(r) for kind in KINDS for r in app.store.iter_records(kind)}


def paused_gauge(app: App) -> dict[str, float]:
    text = app.exposition.rendered.text.decode()
    return {
        s.labels["source"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == PAUSED
    }


def reference(kind: str, folder: Path) -> dict[str, dict[str, Any]]:
    """What a sync with no rate limit stores, from a fresh fake of the same data."""
    clean: AbstractContextManager[Tool] = running(kind)
    with clean as tool:
        app = app_for(tool, folder, lambda: datetime.now(UTC))
        try:
            assert app.sync("src").ok
            return records(app)
        finally:
            app.close()


@pytest.mark.parametrize("kind", ["github", "jira"])
def test_a_long_retry_after_pauses_the_source_until_then_and_resumes_without_a_gap(
    kind: str, tmp_path: Path
) -> None:
    expected = reference(kind, tmp_path / "clean")
    now = [datetime.now(UTC).replace(microsecond=0)]
    with running(kind) as tool:
        tool.inject_long_429()
        app = app_for(tool, tmp_path / "paused", lambda: now[0])
        try:
            started = time.monotonic()
            paused = app.sync("src")
            took = time.monotonic() - started
            # 600 s asked, 5 s allowed: the sync ends at once instead of waiting in the request.
            assert took < 5, f"the sync took {took:.1f}s"
            assert not paused.ok
            assert paused.reason == "rate_limited"
            assert not paused.fatal
            # The pause ends 600 s after the (frozen) clock's now.
            assert paused.paused_until == now[0] + timedelta(seconds=600)
            assert paused_gauge(app) == {"src": (now[0] + timedelta(seconds=600)).timestamp()}
            partial = records(app)
            assert 0 < len(partial) < len(expected)  # the first page was kept

            # Five minutes later, before the reset: the next tick does not ask the tool at all.
            now[0] += timedelta(seconds=300)
            before = tool.requests()
            still = app.sync("src")
            assert tool.requests() == before
            assert still.paused_until == paused.paused_until
            assert records(app) == partial

            # One second after the reset: the sync resumes from its cursors and ends complete.
            now[0] = paused.paused_until + timedelta(seconds=1)
            resumed = app.sync("src")
            assert resumed.ok, resumed.error
            assert records(app) == expected
            assert paused_gauge(app) == {}
        finally:
            app.close()
