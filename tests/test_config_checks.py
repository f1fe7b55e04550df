"""Configuration checks found in one run: cross-references, files, env variables and their lists."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field, SecretStr

from streamgauge.config import ConfigError, Settings, SourceConfig, load_settings


class MappedSource(SourceConfig):
    type: Literal["mapped"]
    token: SecretStr
    repo_apps: dict[str, str] = Field(default_factory=dict)
    repo_teams: dict[str, str] = Field(default_factory=dict)


class FolderSource(SourceConfig):
    type: Literal["folder"]
    path: Path


MODELS: dict[str, type[SourceConfig]] = {"mapped": MappedSource, "folder": FolderSource}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMGAUGE_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamgauge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path | None, warnings: list[str] | None = None) -> Settings:
    return load_settings(path, source_models=MODELS, warnings=warnings)


def problems_of(path: Path | None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(path)
    return info.value.problems


TEAMS = (
    "teams:\n"
    "  payments: {apps: [checkout, ledger]}\n"
    "  search: {apps: [finder, ledger]}\n"
    "apps:\n  checkout: {}\n  ledger: {}\n  finder: {}\n"
)


def test_every_cross_reference_that_points_nowhere_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        TEAMS.replace("[finder, ledger]", "[finder, ledger, findr]")
        + "labels: {teams: [payments, serch], apps: [checkout, nope]}\n"
        "sources:\n"
        "  - name: gh\n    type: mapped\n    token: t\n    team: paymnts\n    app: ledgr\n"
        "    repo_apps: {acme/a: checkout, acme/b: chekout}\n"
        "    repo_teams: {acme/a: search, acme/c: core}\n",
    )
    assert problems_of(path) == [
        "teams.search.apps[1]: app 'ledger' is already owned by team 'payments'; an app belongs "
        "to one team, so list it under one of them",
        "teams.search.apps[2]: app 'findr' is not declared under `apps`; did you mean 'finder'?; "
        "declare it there or fix the name",
        "labels.teams[1]: 'serch' is not one of the teams configured; did you mean 'search'?; "
        "name it under `teams` or remove it",
        "labels.apps[1]: 'nope' is not one of the apps configured; name it under `apps` or "
        "remove it",
        "sources[0].team: 'paymnts' is not one of the teams configured; did you mean "
        "'payments'?; name it under `teams` or fix the name",
        "sources[0].app: 'ledgr' is not one of the apps configured; did you mean 'ledger'?; "
        "name it under `apps` or fix the name",
        "sources[0].repo_apps.acme/b: 'chekout' is not one of the apps configured; did you mean "
        "'checkout'?; name it under `apps` or fix the name",
        "sources[0].repo_teams.acme/c: 'core' is not one of the teams configured; name it under "
        "`teams` or fix the name",
    ]


def test_apps_named_only_under_teams_are_declared(tmp_path: Path) -> None:
    # Without an `apps` section, the teams' lists are where apps are declared.
    path = write(
        tmp_path,
        "teams: {payments: {apps: [checkout]}}\nlabels: {apps: [checkout]}\n"
        "sources:\n  - {name: gh, type: mapped, token: t, app: checkout, team: payments}\n",
    )
    assert load(path).team_of_app("checkout") == "payments"


def test_missing_and_empty_files(tmp_path: Path) -> None:
    empty_file = tmp_path / "empty.jsonl"
    empty_file.write_text("", encoding="utf-8")
    empty_folder = tmp_path / "drop"
    empty_folder.mkdir()
    path = write(
        tmp_path,
        "sources:\n"
        f"  - {{name: a, type: folder, path: {tmp_path / 'nope.jsonl'}}}\n"
        f"  - {{name: b, type: folder, path: {empty_file}}}\n"
        f"  - {{name: c, type: folder, path: {empty_folder}}}\n",
    )
    assert problems_of(path) == [
        f"sources[0].path: {tmp_path / 'nope.jsonl'} does not exist; give an existing file or "
        "folder"
    ]
    (tmp_path / "nope.jsonl").write_text("{}\n", encoding="utf-8")
    warnings: list[str] = []
    load(path, warnings)
    assert warnings == [
        f"sources[1].path: the file {empty_file} is empty; nothing will be read from it yet",
        f"sources[2].path: the folder {empty_folder} is empty; nothing will be read from it yet",
    ]


def test_every_problem_in_one_run(tmp_path: Path) -> None:
    # A reference that cannot be expanded, a missing credential, a duplicate name, a bad value
    # and a reference to an unknown team: all five in the first run, not one per round.
    path = write(
        tmp_path,
        "server: {port: 0}\n"
        "sources:\n"
        "  - {name: a, type: mapped, token: '${NOT_SET_ANYWHERE}'}\n"
        "  - {name: b, type: mapped}\n"
        "  - {name: a, type: mapped, token: t, team: core}\n",
    )
    assert problems_of(path) == [
        "sources[0].token: environment variable NOT_SET_ANYWHERE is not set; export it or write "
        "the value",
        "server.port: must be at least 1 (got 0)",
        "sources[1].token: missing; add it",
        "sources[2].name: 'a' is already the name of sources[0]; give each source its own name",
        "sources[2].team: 'core' is not one of the teams configured; name it under `teams` or "
        "fix the name",
    ]


def test_a_secret_never_reaches_a_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sources:\n  - {name: a, type: mapped, token: s3cr3t-value, tokn: s3cr3t-other}\n",
    )
    (problem,) = problems_of(path)
    assert problem == "sources[0].tokn: unknown key; did you mean 'token'?"


@pytest.mark.parametrize("value", ["7d,30d", " 7d , 30d ", '["7d", "30d"]'])
def test_list_values_from_env_as_json_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("STREAMGAUGE_WINDOWS", value)
    monkeypatch.setenv("STREAMGAUGE_TEAMS", '{"payments": {}, "search": {}}')
    monkeypatch.setenv("STREAMGAUGE_LABELS__TEAMS", "payments,search")
    settings = load(None)
    assert settings.windows == [timedelta(days=7), timedelta(days=30)]
    assert settings.labels.teams == ["payments", "search"]


def test_a_mapping_from_env_that_is_no_json_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMGAUGE_TEAMS", "payments")
    (problem,) = problems_of(None)
    assert problem.startswith("teams: the value of STREAMGAUGE_TEAMS is not valid JSON")


def test_an_unknown_streamgauge_variable_is_a_warning_naming_the_closest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMGAUGE_SERVR__PORT", "9500")
    monkeypatch.setenv("STREAMGAUGE_WINDOW", "7d")
    monkeypatch.setenv("STREAMGAUGE_ZZZZZZ", "1")
    monkeypatch.setenv("STREAMGAUGE_SERVER__PORT", "9501")
    warnings: list[str] = []
    settings = load(None, warnings)
    assert settings.server.port == 9501
    assert warnings[:2] == [
        "STREAMGAUGE_SERVR__PORT: not a setting, ignored; did you mean STREAMGAUGE_SERVER__PORT?",
        "STREAMGAUGE_WINDOW: not a setting, ignored; did you mean STREAMGAUGE_WINDOWS?",
    ]
    assert warnings[2].startswith("STREAMGAUGE_ZZZZZZ: not a setting, ignored; settings are ")
    assert len(warnings) == 3


def test_a_misspelt_nested_variable_is_an_error_naming_the_closest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMGAUGE_SERVER__PROT", "9500")
    assert problems_of(None) == ["server.prot: unknown key; did you mean 'port'?"]


def test_missing_credentials_are_found_with_the_reference_errors(tmp_path: Path) -> None:
    # The registered connectors' own models: one Jira source's token names an unset variable,
    # the other has no credentials at all. Both are reported in the first run.
    path = write(
        tmp_path,
        "sources:\n"
        "  - {name: cloud, type: jira, url: 'https://acme.atlassian.net', projects: [PAY],\n"
        "     email: a@acme.test, api_token: '${NOT_SET_ANYWHERE}'}\n"
        "  - {name: dc, type: jira, url: 'https://jira.acme.test', projects: [OPS]}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.problems == [
        "sources[0].api_token: environment variable NOT_SET_ANYWHERE is not set; export it or "
        "write the value",
        "sources[1]: give email + api_token (Jira Cloud) or token (a Data Center PAT)",
    ]
