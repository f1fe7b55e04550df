"""`streamgauge serve` as users run it: a subprocess on the demo configuration, scraped over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamgauge.cli import embedded_demo_config
from streamgauge.config import load_settings
from streamgauge.metrics.catalog import COMPUTED, HEALTH

READY_WITHIN = 60.0  # seconds: the README promises metrics within a minute


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, data_dir: Path, command: str = "serve", **settings: str) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
        env.update(settings)  # STREAMGAUGE_* variables
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "streamgauge", command,
                "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(self.port),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def wait_ready(self) -> float:
        started = time.monotonic()
        while time.monotonic() - started < READY_WITHIN:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.output()}")
            try:
                status, _ = self.get("/readyz")
            except OSError:
                status = 0
            if status == 200:
                return time.monotonic() - started
            time.sleep(0.2)
        self.proc.kill()
        raise AssertionError(f"not ready within {READY_WITHIN}s:\n{self.output()}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def output(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        out, _ = self.proc.communicate(timeout=10)
        return out.decode(errors="replace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    yield srv
    if srv.proc.stdout is not None and not srv.proc.stdout.closed:
        srv.output()  # kills it if still running, and closes its pipe


def parse(text: str) -> dict[str, list[dict[str, str]]]:
    families: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            families.setdefault(sample.name, []).append(sample.labels)
    return families


def counter_values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


@pytest.mark.slow
def test_demo_serves_every_metric_for_every_team_and_app(server: Server) -> None:
    server.wait_ready()
    assert server.get("/healthz") == (200, "ok\n")
    status, text = server.get("/metrics")
    assert status == 200
    families = parse(text)

    settings = load_settings(embedded_demo_config())
    teams = set(settings.teams)
    apps = {app for team in settings.teams.values() for app in team.apps}
    assert teams
    assert apps

    for metric in COMPUTED:
        sample_name = metric.name + ("_count" if metric.kind == "histogram" else "")
        seen = families.get(sample_name, [])
        assert {s["team"] for s in seen} >= teams, f"{metric.name}: teams missing"
        if "app" in metric.labels:  # a forecast is of a team's backlog, not of an app
            assert {s["app"] for s in seen} >= apps, f"{metric.name}: apps missing"
    # the demo has no API budget to report, and none of its syncs fails, pauses or recomputes
    # in vain: those families show only in trouble
    only_in_trouble = {
        "streamgauge_sync_rate_limit_remaining",
        "streamgauge_sync_failures_total",
        "streamgauge_sync_failing_since_timestamp_seconds",
        "streamgauge_source_paused_until_timestamp_seconds",
        "streamgauge_recompute_failures_total",
    }
    for metric in HEALTH:
        if metric.name in only_in_trouble:
            assert metric.name not in families, metric.name
        else:
            assert metric.name in families, metric.name
    assert families["streamgauge_info"]

    assert server.stop() == 0
    log = server.output()
    assert "Traceback" not in log
    assert "stopped" in log


@pytest.mark.slow
def test_restart_serves_the_stored_history_and_counters_never_go_down(tmp_path: Path) -> None:
    first = Server(tmp_path / "data")
    try:
        first.wait_ready()
        before = counter_values(first.get("/metrics")[1], "streamgauge_deployments_total")
        assert sum(before.values()) > 0
        assert first.stop() == 0
    finally:
        first.output()

    second = Server(tmp_path / "data")
    try:
        # Before its first sync, the restarted process already serves the stored snapshot.
        deadline = time.monotonic() + 30
        while True:
            try:
                status, text = second.get("/metrics")
            except OSError:
                status = 0
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert counter_values(text, "streamgauge_deployments_total")
        second.wait_ready()
        after = counter_values(second.get("/metrics")[1], "streamgauge_deployments_total")
        for key, value in before.items():
            assert after.get(key, 0) >= value, key
        assert second.stop() == 0
    finally:
        second.output()


def snapshot_time(server: Server) -> float:
    values = counter_values(server.get("/metrics")[1], "streamgauge_snapshot_timestamp_seconds")
    return values[()]


@pytest.mark.slow
def test_the_snapshot_moves_with_time_when_no_sync_changes_anything(tmp_path: Path) -> None:
    # The demo syncs once a minute; recomputing every 10 s, a new snapshot must come within
    # about 10 s of the first one, long before the next sync could change anything.
    srv = Server(tmp_path / "data", STREAMGAUGE_SERVER__RECOMPUTE_INTERVAL="10s")
    try:
        srv.wait_ready()
        first = snapshot_time(srv)
        deadline = time.monotonic() + 30
        while snapshot_time(srv) == first and time.monotonic() < deadline:
            time.sleep(0.5)
        later = snapshot_time(srv)
        assert later > first, "the snapshot was not recomputed on its timer"
        assert srv.stop() == 0
    finally:
        srv.output()


@pytest.mark.slow
def test_serve_answers_while_300_idle_connections_are_held_and_closes_them_when_idle(
    tmp_path: Path,
) -> None:
    # server.idle_timeout reaches the real server: an idle connection is closed after 2 s.
    srv = Server(tmp_path / "data", STREAMGAUGE_SERVER__IDLE_TIMEOUT="2s")
    idle: list[socket.socket] = []
    try:
        srv.wait_ready()
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
        time.sleep(0.5)
        assert srv.get("/healthz") == (200, "ok\n")
        assert srv.get("/metrics")[0] == 200
        idle[0].settimeout(15)
        assert idle[0].recv(1) == b""  # closed by the server, unasked
        assert srv.stop() == 0
    finally:
        for sock in idle:
            sock.close()
        srv.output()


def test_bad_config_fails_fast_with_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("windows: [7d, 30x]\nsources:\n  - {name: x, type: svn}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "streamgauge", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "windows[1]: '30x' is not a duration" in result.stderr
    assert "sources[0].type: 'svn' is not a source type" in result.stderr
    assert "Traceback" not in result.stderr


def test_healthcheck_asks_the_configured_port(server: Server) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
    env["STREAMGAUGE_SERVER__PORT"] = str(server.port)

    def healthcheck() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "streamgauge", "healthcheck"],
            env=env, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    server.wait_ready()
    assert healthcheck().returncode == 0
    assert server.stop() == 0
    down = healthcheck()
    assert down.returncode == 1
    assert f"http://127.0.0.1:{server.port}/healthz did not answer" in down.stderr
    assert "Traceback" not in down.stderr


def test_demo_serves_the_built_in_demo_whatever_the_configuration_says(tmp_path: Path) -> None:
    # A configuration of one's own in the environment does not change what `demo` runs.
    mine = tmp_path / "mine.yaml"
    mine.write_text("sources: [{name: nothing, type: file, path: /nonexistent.jsonl}]\n")
    srv = Server(tmp_path / "data", "demo", STREAMGAUGE_CONFIG=str(mine))
    try:
        srv.wait_ready()
        _, text = srv.get("/metrics")
        teams = {s["team"] for s in parse(text)["streamgauge_flow_load"]}
        assert {"payments", "checkout", "search"} <= teams
        assert srv.stop() == 0
    finally:
        srv.output()
