"""Health that tells the truth: other writers are noticed, every failure is counted by its cause,
and a source that keeps failing makes /readyz say so."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.builders import at, deployment
from tests.connectors.github.conftest import small_org
from tests.fakes.github import FakeGitHub
from tests.test_serve import Server
from tests.test_stopping import release, write_config

from streamgauge.app import App
from streamgauge.config import Settings
from streamgauge.connectors.file.connector import FileConfig
from streamgauge.connectors.github import GithubConfig
from streamgauge.model import to_json


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def successful_deployments(text: str) -> float:
    """Successful production deployments, summed over teams and apps (no roll-up configured:
    every record folds into team and app `other`)."""
    found = samples(text, "streamgauge_deployments_total")
    return sum(v for k, v in found.items() if ("result", "success") in k)


def append_deployments(path: Path, first: int, count: int) -> None:
    with path.open("a", encoding="utf-8") as out:
        for n in range(first, first + count):
            record = deployment(id=f"ci:deployment:{n}", source="ci", finished_at=at(days=n))
            out.write(json.dumps(to_json(record)) + "\n")


def file_source(path: Path) -> dict[str, str]:
    # synced by serve once at its start, then not for an hour
    return {"name": "ci", "type": "file", "path": str(path), "interval": "1h"}


@pytest.mark.slow
def test_a_sync_by_hand_beside_serve_shows_in_its_numbers_within_one_store_check(
    tmp_path: Path,
) -> None:
    records = tmp_path / "records.jsonl"
    append_deployments(records, 0, 3)  # three successful production deployments
    config = write_config(tmp_path / "sg.yaml", file_source(records))
    # Recomputing on the timer only every 10 minutes: only the store check can notice.
    server = Server(
        tmp_path / "data",
        STREAMGAUGE_CONFIG=str(config),
        STREAMGAUGE_SERVER__RECOMPUTE_INTERVAL="10m",
        STREAMGAUGE_SERVER__STORE_CHECK_INTERVAL="1s",
    )
    try:
        server.wait_ready()
        assert successful_deployments(server.get("/metrics")[1]) == 3
        append_deployments(records, 3, 2)  # two more: 3 + 2 = 5
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
        by_hand = subprocess.run(
            [
                *(sys.executable, "-m", "streamgauge", "sync", "--config", str(config)),
                *("--data-dir", str(tmp_path / "data")),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert by_hand.returncode == 0, by_hand.stderr
        assert "ci: 2 new" in by_hand.stdout
        synced_at = time.monotonic()
        while successful_deployments(server.get("/metrics")[1]) != 5:
            # one store check (1 s) and one computation over five records
            assert time.monotonic() - synced_at < 5, server.output()
            time.sleep(0.1)
    finally:
        release(server)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of the test's own, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"the full-disk test mounts a small tmpfs, which needs root: {done.stderr.strip()}",
            pytrace=False,
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> None:
    """Write a file until the file system has no room left."""
    with (folder / "filler").open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass


def test_a_full_disk_counts_every_failed_sync_and_recompute_with_its_cause(
    small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = tmp_path / "records.jsonl"
    append_deployments(records, 0, 2)
    settings = Settings(
        data_dir=small_disk, sources=[FileConfig(name="ci", type="file", path=records)]
    )
    app = App(settings)
    try:
        assert app.sync("ci").ok
        app.recompute()
        fill(small_disk)
        append_deployments(records, 2, 2000)  # enough new pages that they need room
        caplog.set_level(logging.INFO)
        first, second = app.sync("ci"), app.sync("ci")
        assert (first.ok, second.ok) == (False, False)
        assert first.reason == second.reason == "store_full"
        with pytest.raises(Exception, match="full"):
            app.recompute()
        text = app.exposition.rendered.text.decode()
        # two failed syncs, one failed computation, each by its cause
        assert samples(text, "streamgauge_sync_failures_total") == {
            (("reason", "store_full"), ("source", "ci")): 2.0
        }
        assert samples(text, "streamgauge_recompute_failures_total") == {
            (("reason", "store_full"),): 1.0
        }
        failing = samples(text, "streamgauge_sync_failing_since_timestamp_seconds")
        assert set(failing) == {(("source", "ci"),)}
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("sync failed (store_full)" in line for line in logged), logged
    finally:
        app.close()


def test_a_source_failing_longer_than_the_bound_makes_readyz_name_it(tmp_path: Path) -> None:
    fake = FakeGitHub(small_org(), token="the-right-token").start()
    now = [datetime(2026, 6, 1, 12, 0, tzinfo=UTC)]
    try:
        source = GithubConfig(name="gh", base_url=fake.base_url, token="a-wrong-token", org="acme")
        settings = Settings(
            data_dir=tmp_path, sources=[source], server={"source_failing_after": "10m"}
        )
        app = App(settings, clock=lambda: now[0])
        try:
            outcome = app.sync("gh")
            assert outcome.fatal
            assert outcome.reason == "refused"
            app.recompute()
            # failing for 9 minutes: within server.source_failing_after (10 minutes)
            now[0] += timedelta(minutes=9)
            assert app.readiness() == (True, "ready")
            # failing for 10 minutes: not ready, and the body says which source and why
            now[0] += timedelta(minutes=1)
            ready, body = app.readiness()
            assert not ready
            assert body.startswith("source gh failing since 2026-06-01 12:00:00Z")
            assert "GitHub refused the credentials" in body
            assert "a-wrong-token" not in body
        finally:
            app.close()
    finally:
        fake.stop()


@pytest.mark.slow
def test_serve_with_bad_credentials_is_not_ready_and_says_why(tmp_path: Path) -> None:
    fake = FakeGitHub(small_org(), token="the-right-token").start()
    try:
        source = {
            "name": "gh",
            "type": "github",
            "base_url": fake.base_url,
            "token": "a-wrong-token",
            "org": "acme",
        }
        config = write_config(tmp_path / "sg.yaml", source)
        server = Server(
            tmp_path / "data",
            STREAMGAUGE_CONFIG=str(config),
            STREAMGAUGE_SERVER__SOURCE_FAILING_AFTER="2s",
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    status, body = server.get("/readyz")
                except OSError:
                    status, body = 0, ""
                if "failing since" in body or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert status == 503, body
            assert body.startswith("source gh failing since"), body
            assert "refused the credentials" in body
            text = server.get("/metrics")[1]
            assert samples(text, "streamgauge_sync_failures_total") == {
                (("reason", "refused"), ("source", "gh")): 1.0
            }
            assert "a-wrong-token" not in text + body
        finally:
            release(server)
    finally:
        fake.stop()


def test_a_success_logged_by_another_process_ends_the_failing_state(tmp_path: Path) -> None:
    fake = FakeGitHub(small_org(), token="the-right-token").start()
    try:

        def settings(token: str) -> Settings:
            source = GithubConfig(
                name="gh", base_url=fake.base_url, token=token, org="acme", history="3650d"
            )
            return Settings(data_dir=tmp_path, sources=[source])

        serving = App(settings("a-wrong-token"))
        try:
            assert serving.sync("gh").reason == "refused"
            failing = "streamgauge_sync_failing_since_timestamp_seconds"
            assert samples(serving.exposition.rendered.text.decode(), failing)
            # The token is fixed and `streamgauge sync` run by hand before serve tries again.
            by_hand = App(settings("the-right-token"))
            try:
                assert by_hand.sync("gh").ok
            finally:
                by_hand.close()
            assert serving.store_changed()  # the serving process's store check sees the run
            serving.recompute()
            assert samples(serving.exposition.rendered.text.decode(), failing) == {}
            assert serving.readiness() == (True, "ready")
        finally:
            serving.close()
    finally:
        fake.stop()
