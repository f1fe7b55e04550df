"""Settings: precedence YAML < env < command line, and errors that name the key and the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from pydantic import SecretStr

from streamgauge.config import (
    ConfigError,
    SourceConfig,
    format_duration,
    load_settings,
    parse_duration,
)


class TokenSource(SourceConfig):
    type: Literal["tokened"]
    token: SecretStr
    url: str = "https://example.invalid"


class PlainSource(SourceConfig):
    type: Literal["plain"]
    seed: int = 1


MODELS: dict[str, type[SourceConfig]] = {"tokened": TokenSource, "plain": PlainSource}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamgauge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path | None, **overrides: object) -> object:
    return load_settings(path, overrides=overrides, source_models=MODELS)


def problems_of(path: Path | None, **overrides: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(path, **overrides)
    return info.value.problems


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("STREAMGAUGE_"):
            monkeypatch.delenv(name)


def test_defaults_without_a_file() -> None:
    settings = load_settings(None, source_models=MODELS)
    assert settings.window_labels == ["7d", "30d", "90d"]
    assert settings.store_url == "sqlite:///data/streamgauge.db"
    assert settings.sources == []


def test_yaml_then_env_then_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        "data_dir: from-yaml\nlog_level: DEBUG\nserver:\n  host: 127.0.0.1\n  port: 1111\n",
    )
    settings = load_settings(path, source_models=MODELS)
    assert (settings.server.port, settings.server.host, str(settings.data_dir)) == (
        1111,
        "127.0.0.1",
        "from-yaml",
    )

    monkeypatch.setenv("STREAMGAUGE_SERVER__PORT", "2222")
    monkeypatch.setenv("STREAMGAUGE_DATA_DIR", "from-env")
    settings = load_settings(path, source_models=MODELS)
    # env beats YAML key by key; the YAML's host survives beside the env's port
    assert (settings.server.port, settings.server.host, str(settings.data_dir)) == (
        2222,
        "127.0.0.1",
        "from-env",
    )
    assert settings.log_level == "DEBUG"

    settings = load_settings(path, overrides={"server": {"port": 3333}}, source_models=MODELS)
    assert (settings.server.port, settings.server.host) == (3333, "127.0.0.1")


def test_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "windows: [1d, 2w]\n")
    monkeypatch.setenv("STREAMGAUGE_CONFIG", str(path))
    settings = load_settings(None, source_models=MODELS)
    assert settings.window_labels == ["1d", "14d"]


def test_sources_are_discriminated_on_type(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sources:\n"
        "  - {name: one, type: plain, seed: 7, interval: 90s}\n"
        "  - {name: two, type: tokened, token: abc123}\n",
    )
    settings = load_settings(path, source_models=MODELS)
    one, two = settings.sources
    assert isinstance(one, PlainSource)
    assert one.seed == 7
    assert one.interval == timedelta(seconds=90)
    assert isinstance(two, TokenSource)
    assert two.token.get_secret_value() == "abc123"
    assert "abc123" not in repr(settings)


def test_secret_from_env_reference_and_mounted_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("from-file\n", encoding="utf-8")
    monkeypatch.setenv("MY_TOKEN", "from-env")
    path = write(
        tmp_path,
        "sources:\n"
        "  - {name: a, type: tokened, token: '${MY_TOKEN}'}\n"
        f"  - {{name: b, type: tokened, token: '${{file:{secret_file}}}'}}\n",
    )
    a, b = load_settings(path, source_models=MODELS).sources
    assert isinstance(a, TokenSource)
    assert isinstance(b, TokenSource)
    assert a.token.get_secret_value() == "from-env"
    assert b.token.get_secret_value() == "from-file"


def test_unset_env_reference_names_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, type: tokened, token: '${NOPE_NOT_SET}'}\n")
    assert problems_of(path) == [
        "sources[0].token: environment variable NOPE_NOT_SET is not set; export it or write the value"
    ]


def test_unknown_source_type(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, type: svn}\n")
    assert problems_of(path) == [
        "sources[0].type: 'svn' is not a source type; use one of: tokened, plain"
    ]


def test_misspelt_source_type_names_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, type: tokend, token: x}\n")
    assert problems_of(path) == [
        "sources[0].type: 'tokend' is not a source type; did you mean 'tokened'?; "
        "use one of: tokened, plain"
    ]


def test_missing_token(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, type: tokened}\n")
    assert problems_of(path) == ["sources[0].token: missing; add it"]


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 1\n bad: [\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"config: {path} line 3 column 2")
    assert "fix the YAML syntax" in problem


def test_unknown_window(tmp_path: Path) -> None:
    path = write(tmp_path, "windows: [7d, 30x]\n")
    (problem,) = problems_of(path)
    assert problem.startswith("windows[1]: '30x' is not a duration")


def test_empty_windows_and_spans_are_errors_naming_the_key(tmp_path: Path) -> None:
    # A 0d window would divide every rate by zero at each recompute; a 0s bound says nothing.
    path = write(
        tmp_path,
        "windows: [7d, 0d]\nmetrics: {incident_window: 0h, max_lead_time: 0d, sle_age: -5}\n",
    )
    problems = problems_of(path)
    keys = sorted(p.split(":")[0] for p in problems)
    assert keys == [
        "metrics.incident_window",
        "metrics.max_lead_time",
        "metrics.sle_age",
        "windows[1]",
    ]
    assert all("must be longer than zero" in p for p in problems)


def test_an_unknown_minimum_incident_severity_names_the_key_and_the_severities(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "metrics: {incident_min_severity: sev2}\n")
    (problem,) = problems_of(path)
    assert problem.startswith("metrics.incident_min_severity:")
    for severity in ("critical", "high", "medium", "low", "unknown"):
        assert severity in problem


def test_source_interval_under_ten_seconds_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, type: plain, interval: 5s}\n")
    (problem,) = problems_of(path)
    assert problem.startswith("sources[0].interval: must be at least 10s")


def test_misspelled_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "servr:\n  port: 1\n")
    assert problems_of(path) == ["servr: unknown key; did you mean 'server'?"]


def test_misspelt_nested_and_source_keys_name_the_closest(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "server: {prot: 1}\nteams: {a: {aps: [x]}}\n"
        "sources:\n  - {name: s, type: plain, sed: 3}\n  - {name: t, type: plain, zzz: 3}\n",
    )
    assert problems_of(path) == [
        "server.prot: unknown key; did you mean 'port'?",
        "teams.a.aps: unknown key; did you mean 'apps'?",
        "sources[0].sed: unknown key; did you mean 'seed'?",
        "sources[1].zzz: unknown key; remove it (known here: name, type, enabled, interval, "
        "team, app, seed)",
    ]


def test_a_bad_team_name_is_named_by_its_own_path(tmp_path: Path) -> None:
    path = write(tmp_path, "teams:\n  Bad Team: {apps: [x]}\n")
    assert problems_of(path) == [
        "teams.Bad Team: 'Bad Team' is not a valid name; use lower-case letters, digits, '-' and "
        "'_', starting with a letter or digit"
    ]


def test_no_wording_of_pydantic_passes_through(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "servr: 1\nlog_level: LOUD\nserver: {port: abc, threads: 0}\n"
        "sources:\n  - {name: a, type: gitlab}\n  - {type: plain}\n  - {name: b}\n",
    )
    problems = problems_of(path)
    assert problems == [
        "log_level: 'LOUD' is not allowed; use one of: 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        "server.port: 'abc' is not a whole number",
        "server.threads: must be at least 1 (got 0)",
        "sources[0].type: 'gitlab' is not a source type; use one of: tokened, plain",
        "sources[1].name: missing; add it",
        "sources[2].type: missing; give the source a type, one of: tokened, plain",
        "servr: unknown key; did you mean 'server'?",
    ]
    for words in ("Extra inputs", "Input tag", "Input should", "Field required"):
        assert all(words not in p for p in problems)


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "server: {port: 0}\nsources:\n  - {name: Bad Name, type: plain}\n  - {name: x, type: tokened}\n",
    )
    keys = sorted(p.split(":")[0] for p in problems_of(path))
    assert keys == ["server.port", "sources[0].name", "sources[1].token"]


def test_duplicate_source_names(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, type: plain}\n  - {name: a, type: plain}\n")
    assert problems_of(path) == [
        "sources[1].name: 'a' is already the name of sources[0]; give each source its own name"
    ]


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert problems_of(missing) == [f"config: file {missing} does not exist; give an existing file"]


def test_durations_round_trip() -> None:
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration(30) == timedelta(seconds=30)
    assert format_duration(timedelta(days=7)) == "7d"
    assert format_duration(timedelta(minutes=90)) == "90m"
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("1 day")


def test_mapping_resolution(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "teams:\n  payments: {apps: [checkout], projects: [PAY]}\n"
        "apps:\n  checkout: {repos: [acme/checkout], labels: [app:checkout]}\n",
    )
    settings = load_settings(path, source_models=MODELS)
    assert settings.resolve(repo="acme/checkout") == ("payments", "checkout")
    assert settings.resolve(labels=["app:checkout"]) == ("payments", "checkout")
    assert settings.resolve(project="PAY") == ("payments", None)
    assert settings.resolve(repo="acme/other", default_team="core") == ("core", None)
