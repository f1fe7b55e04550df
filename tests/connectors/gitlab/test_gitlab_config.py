"""The GitLab configuration: the example file, and errors that name the key and the fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from streamgauge.config import ConfigError, load_settings
from streamgauge.connectors.gitlab import GitlabConfig

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "gitlab.example.yaml"


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "gitlab-token"
    secret.write_text("glpat-from-file\n")
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-from-env")
    text = EXAMPLE.read_text().replace("/run/secrets/gitlab-token", str(secret))
    config_file = tmp_path / "gitlab.yaml"
    config_file.write_text(text)
    cloud, onprem = load_settings(config_file).sources
    assert isinstance(cloud, GitlabConfig)
    assert isinstance(onprem, GitlabConfig)
    assert (cloud.url, cloud.groups) == ("https://gitlab.com", ("acme/payments",))
    assert cloud.token.get_secret_value() == "glpat-from-env"
    assert onprem.token.get_secret_value() == "glpat-from-file"
    assert "glpat-from-env" not in repr(cloud)
    assert onprem.work_items
    assert onprem.max_rate_limit_wait == 120


def problems(**extra: Any) -> list[str]:
    source = {"name": "gl", "type": "gitlab", "token": "glpat-x", "groups": ["acme"], **extra}
    with pytest.raises(ConfigError) as info:
        load_settings(None, overrides={"sources": [source]})
    return info.value.problems


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            {"token": None},
            "sources[0].token: give an access token with the read_api scope, e.g. "
            "token: ${GITLAB_TOKEN}",
        ),
        (
            {"token": ""},
            "sources[0]: `token` is empty: give an access token with the read_api scope (is "
            "the variable it names set to a value?)",
        ),
        ({"groups": [], "projects": []}, "sources[0]: give `groups`, `projects` or both"),
        (
            {"url": "gitlab.example.com"},
            "sources[0].url: 'gitlab.example.com' is not an http(s) URL, e.g. "
            "'https://gitlab.example.com'",
        ),
        (
            {"url": "https://gitlab.example.com/api/v4"},
            "sources[0].url: 'https://gitlab.example.com/api/v4': give the server's root URL, "
            "without /api/v4",
        ),
        (
            {"projects": ["checkout"]},
            "sources[0].projects: 'checkout' is not a project's full path such as 'group/name'",
        ),
        (
            {"groups": ["acme//x"]},
            "sources[0].groups: 'acme//x' is not a group's full path such as 'acme/payments'",
        ),
        (
            {"severity_labels": {"sev1": "blocker"}},
            "sources[0].severity_labels: label 'sev1' maps to 'blocker'; use one of critical, "
            "high, medium, low",
        ),
        (
            {"rollback_branches": "(revert"},
            "sources[0].rollback_branches: '(revert' is not a regular expression: missing ), "
            "unterminated subpattern at position 0",
        ),
        (
            {"max_first_deployment_commits": 0},
            "sources[0].max_first_deployment_commits: must be at least 1 (got 0)",
        ),
        (
            {"max_rate_limit_wait": -1},
            "sources[0].max_rate_limit_wait: must be at least 0.0 (got -1)",
        ),
        (
            {"history": "90"},
            "sources[0].history: '90' is not a duration: write a whole number "
            "and a unit s, m, h, d or w, e.g. '30d'",
        ),
        (
            {"work_items": "maybe"},
            "sources[0].work_items: 'maybe' is not true or false",
        ),
        (
            {"base_url": "https://x"},
            "sources[0].base_url: unknown key; remove it (known here: name, type, enabled, "
            "interval, team, app, url, token, groups, projects, exclude_projects, "
            "include_subgroups, project_apps, project_teams, production_environments, "
            "staging_environments, work_items, severity_labels, rollback_labels, hotfix_labels, "
            "rollback_branches, hotfix_branches, work_item_projects, "
            "max_first_deployment_commits, history, overlap, timeout, retries, backoff, "
            "max_rate_limit_wait, min_rate_limit_remaining)",
        ),
    ],
)
def test_each_key_explains_its_error(extra: dict[str, Any], problem: str) -> None:
    assert problems(**extra) == [problem]


def test_a_missing_token_is_named() -> None:
    source = {"name": "gl", "type": "gitlab", "groups": ["acme"]}
    with pytest.raises(ConfigError) as info:
        load_settings(None, overrides={"sources": [source]})
    assert info.value.problems == ["sources[0].token: missing; add it"]


def test_a_token_never_appears_in_an_error() -> None:
    found = problems(token="glpat-secret-value", url="nope")
    assert found == [
        "sources[0].url: 'nope' is not an http(s) URL, e.g. 'https://gitlab.example.com'"
    ]
    assert "glpat-secret-value" not in " ".join(found)


def test_docs_name_every_key_and_no_other() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "gitlab.md").read_text()
    table = docs.split("## Keys", 1)[1].split("\n## ", 1)[0]
    documented = {
        key for row in table.splitlines() if row.startswith("| `")
        for key in re.findall(r"`([a-z_]+)`", row.split("|")[1])
    }  # fmt: skip
    common = {"name", "type", "enabled", "interval", "team", "app"}  # every source's keys
    assert documented == set(GitlabConfig.model_fields) - common


def test_check_config_lists_each_gitlab_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamgauge.cli import EXIT_CONFIG, main

    config = tmp_path / "gitlab.yaml"
    config.write_text(
        "sources:\n"
        "  - name: gitlab\n"
        "    type: gitlab\n"
        "    url: https://gitlab.example.com/api/v4\n"
        "    token: glpat-in-the-file\n"
        "    projects: [checkout]\n"
    )
    assert main(["check-config", "--config", str(config)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "configuration problems:",
        "  sources[0].url: 'https://gitlab.example.com/api/v4': give the server's root URL, "
        "without /api/v4",
        "  sources[0].projects: 'checkout' is not a project's full path such as 'group/name'",
    ]
    assert "glpat-in-the-file" not in err
