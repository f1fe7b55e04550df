"""The installed `streamgauge` script as a shell runs it: every error a sentence and an exit code."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "streamgauge"


def run(
    *args: str, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE} | kwargs
    return subprocess.run(
        [str(SCRIPT), *args],
        text=True,
        timeout=120,
        env=env if env is not None else clean_env(),
        check=False,
        **streams,  # type: ignore[arg-type]
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo of two teams over 30 days, synced once for the whole module."""
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "demo.yaml"
    config.write_text(
        f"data_dir: {folder / 'data'}\n"
        "windows: [7d, 30d]\n"
        "teams:\n"
        "  payments: {apps: [payments-api, payments-web]}\n"
        "  checkout: {apps: [checkout-api, checkout-web]}\n"
        "sources:\n  - {name: demo, type: demo, teams: 2, days: 30, start: 2026-01-01T00:00:00Z}\n",
        encoding="utf-8",
    )
    done = run("sync", "--config", str(config))
    assert done.returncode == 0, done.stderr
    return config


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr


@pytest.mark.parametrize("window", ["14d", "336h"])
def test_an_unconfigured_window_lists_the_configured_ones(synced: Path, window: str) -> None:
    result = run("report", "--config", str(synced), "--window", window)
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"--window {window} is not a configured window; use one of 7d, 30d" in result.stderr
    assert_no_traceback(result)


@pytest.mark.parametrize("command", [["report"], ["explain", "change_lead_time"]])
def test_a_window_that_is_no_duration_lists_the_configured_ones(
    synced: Path, command: list[str]
) -> None:
    result = run(*command, "--config", str(synced), "--window", "abc")
    assert result.returncode == 2
    assert "--window 'abc' is not a duration; the configured windows are 7d, 30d" in result.stderr
    assert_no_traceback(result)


def test_explain_for_a_team_that_is_not_configured_names_the_closest(synced: Path) -> None:
    # the demo's two teams are payments and checkout
    result = run("explain", "change_lead_time", "--config", str(synced), "--team", "paymnts")
    assert result.returncode == 2
    assert result.stderr == (
        "streamgauge explain: --team 'paymnts' is not configured; did you mean 'payments'?; "
        "use one of all, payments, checkout, other\n"
    )


def test_a_window_written_in_other_units_is_the_configured_one(synced: Path) -> None:
    # 168h is 7 days: the same window as the configured 7d.
    result = run("report", "--config", str(synced), "--window", "168h", "--json")
    assert result.returncode == 0, result.stderr
    assert '"window": "7d"' in result.stdout


@pytest.mark.parametrize(
    "command", [["report"], ["explain", "deployments", "--window", "30d"], ["check-config"]]
)
def test_quiet_on_a_pipe_closed_before_the_first_write(synced: Path, command: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before a byte is written: every write fails with EPIPE
    try:
        result = run(*command, "--config", str(synced), stdout=write)
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 1
    assert result.stdout is None


def shell(line: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(COLUMNS="80"),
        check=False,
    )


def test_quiet_through_head(synced: Path) -> None:
    # What a person types: the first line, nothing on stderr. Whether the writer meets the
    # closed pipe depends on how much head took before it left, so either code may come.
    result = shell(
        f'"{SCRIPT}" report --config "{synced}" | head -1; echo "exit=${{PIPESTATUS[0]}}"'
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("deployments")  # the first of the narrow layout's tables
    assert lines[1] in ("exit=0", "exit=1")
    assert result.stderr == ""


def test_quiet_into_a_reader_that_left_at_once(synced: Path) -> None:
    # `true` reads nothing and exits long before the program has started: every write fails.
    result = shell(f'"{SCRIPT}" report --config "{synced}" | true; echo "exit=${{PIPESTATUS[0]}}"')
    assert result.stdout == "exit=1\n"
    assert result.stderr == ""


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_names_the_port_and_the_option(tmp_path: Path, taken_port: int) -> None:
    result = run(
        "serve", "--host", "127.0.0.1", "--port", str(taken_port), "--data-dir", str(tmp_path)
    )
    assert result.returncode == 1
    assert f"port {taken_port} is already in use (127.0.0.1:{taken_port})" in result.stderr
    assert "--port" in result.stderr
    assert_no_traceback(result)


def test_an_unreachable_store_is_a_sentence(tmp_path: Path) -> None:
    # Nothing listens on port 9 of loopback: the store cannot be opened.
    config = tmp_path / "c.yaml"
    config.write_text(
        "store: {url: 'postgresql+psycopg://nobody:hunter22@127.0.0.1:9/none'}\n", encoding="utf-8"
    )
    result = run("report", "--config", str(config))
    assert result.returncode == 3
    assert result.stderr.startswith("store: cannot open the store at ")
    assert "Connection refused" in result.stderr
    assert "hunter22" not in result.stderr
    assert_no_traceback(result)


def test_a_configuration_error_is_exit_two_with_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("server: {port: 0}\n", encoding="utf-8")
    result = run("report", "--config", str(config))
    assert result.returncode == 2
    assert "server.port" in result.stderr
    assert_no_traceback(result)


def test_a_usage_error_is_exit_two() -> None:
    result = run("report", "--window")
    assert result.returncode == 2
    assert "expected one argument" in result.stderr
    assert_no_traceback(result)


def test_check_config_lists_every_problem_with_its_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "servr: {port: 1}\n"
        "teams: {payments: {apps: [checkout]}}\n"
        "sources:\n"
        f"  - {{name: drop, type: file, path: {tmp_path / 'missing'}, team: paymnts}}\n"
        "  - {name: drop, type: subversion}\n",
        encoding="utf-8",
    )
    result = run("check-config", "--config", str(config))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    # the list of source types grows with the connectors installed
    assert lines.pop(1).startswith(
        "  sources[1].type: 'subversion' is not a source type; use one of: demo, file, github"
    )
    assert lines == [
        "configuration problems:",
        "  servr: unknown key; did you mean 'server'?",
        "  sources[1].name: 'drop' is already the name of sources[0]; give each source its own name",
        "  sources[0].team: 'paymnts' is not one of the teams configured; did you mean "
        "'payments'?; name it under `teams` or fix the name",
        f"  sources[0].path: {tmp_path / 'missing'} does not exist; give an existing file or folder",
    ]


def test_check_config_takes_comma_separated_lists_and_warns_of_unknown_variables(
    tmp_path: Path,
) -> None:
    env = clean_env(STREAMGAUGE_WINDOWS="7d,30d", STREAMGAUGE_SERVR__PORT="9500")
    result = run("check-config", "--data-dir", str(tmp_path), env=env)
    assert result.returncode == 0
    assert result.stdout.startswith("configuration is valid; sources: demo (demo)")
    assert result.stderr == (
        "configuration warnings:\n"
        "  STREAMGAUGE_SERVR__PORT: not a setting, ignored; did you mean "
        "STREAMGAUGE_SERVER__PORT?\n"
    )


def test_report_fits_an_80_column_terminal_with_human_durations(synced: Path) -> None:
    result = run("report", "--config", str(synced), env=clean_env(COLUMNS="80"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert re.search(r"\b\d+[dh] \d+[hm]\b|\b\d+[dhm]\b", result.stdout)  # e.g. 1d 9h, 42m
    assert not re.search(r"\d{5,}", result.stdout)  # no raw seconds
    wide = run("report", "--config", str(synced), env=clean_env(COLUMNS="300"))
    assert max(len(line) for line in wide.stdout.splitlines()) > 80  # one wide table


SNAKE_WITH_UNIT = re.compile(r"^[a-z][a-z0-9_]*$")


def test_report_and_explain_json_speak_the_same_snake_case_words(synced: Path) -> None:
    report = json.loads(run("report", "--config", str(synced), "--json", "--window", "30d").stdout)
    (overall,) = [r for r in report["rows"] if (r["team"], r["app"]) == ("all", "all")]
    assert all(SNAKE_WITH_UNIT.match(key) for key in overall)
    for key in ("lead_time_p50_seconds", "deployments_per_day", "change_failure_rate_ratio"):
        assert key in overall
    explained = json.loads(
        run("explain", "deployments", "--config", str(synced), "--json", "--window", "30d").stdout
    )
    summary = explained["summary"]
    assert all(SNAKE_WITH_UNIT.match(key) for key in summary)
    # the same name is the same number, from the same facts
    for key in ("deployments_per_day", "change_failure_rate_ratio", "deployment_rework_rate_ratio"):
        assert summary[key] == pytest.approx(overall[key])


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _through_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal, as in a shell; what the terminal received."""
    import pty

    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(SCRIPT), *args], stdout=subprocess.DEVNULL, stderr=follower, env=env
        )
        os.close(follower)
        received = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            received += chunk
        code = process.wait(timeout=120)
    finally:
        os.close(leader)
    return code, received.decode("utf-8", "replace")


def test_sync_progress_shows_the_total_and_log_lines_stand_on_their_own(tmp_path: Path) -> None:
    # 2,500 lines in pages of 1,000, lines 501 and 1501 malformed: a warning is logged
    # while the display is live, after it has been drawn for the first page.
    feed = tmp_path / "feed.jsonl"
    with feed.open("w", encoding="utf-8") as fh:
        for n in range(2500):
            if n % 1000 == 500:
                fh.write("{not json\n")
                continue
            fh.write(
                json.dumps(
                    {
                        "kind": "deployment",
                        "id": f"ci:deployment:{n}",
                        "environment": "production",
                        "repo": "acme/checkout",
                        "started_at": "2026-01-01T10:00:00Z",
                        "finished_at": "2026-01-01T10:05:00Z",
                        "result": "success",
                    }
                )
                + "\n"
            )
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\nsources:\n  - {{name: feed, type: file, path: {feed}}}\n",
        encoding="utf-8",
    )
    code, screen = _through_a_terminal(
        ["sync", "--config", str(config)], clean_env(TERM="xterm", COLUMNS="120")
    )
    assert code == 0
    text = ANSI.sub("", screen)
    assert "sources" in text
    assert "0/1" in text  # the total is known: one source
    segments = [s for s in re.split(r"[\r\n]+", text) if s.strip()]
    warnings = [s for s in segments if " WARNING " in s and ": skipped " in s]
    assert len(warnings) == 2  # lines 501 and 1501
    # each log line starts a line of its own: nothing of the progress display before it
    timestamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ WARNING ")
    assert all(timestamp.match(s) for s in warnings), warnings
