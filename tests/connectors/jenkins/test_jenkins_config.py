"""The Jenkins configuration: the example file loads; each bad key is named with its fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streamgauge.cli import main
from streamgauge.config import ConfigError, load_settings
from streamgauge.connectors.jenkins import JenkinsConfig
from streamgauge.model import Environment

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "jenkins.example.yaml"
GOOD: dict[str, Any] = {
    "name": "ci",
    "type": "jenkins",
    "url": "https://ci.example.com/",
    "user": "reader",
    "api_token": "11d2f3a4b5c6d7e8f9",
}


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JENKINS_API_TOKEN", "token-value")
    (source,) = load_settings(EXAMPLE).sources
    assert isinstance(source, JenkinsConfig)
    assert source.api_token.get_secret_value() == "token-value"
    assert "token-value" not in repr(source)
    assert source.url == "https://ci.example.com"
    first, second, third = source.deployments
    assert first.parameter_pair == ("ENVIRONMENT", "production")
    assert (second.stage, second.app) == ("Deploy to production", "gateway")
    assert third.environment is Environment.STAGING
    assert source.mapped(source.job_apps, "payments/ci") == "checkout"
    assert source.excluded("sandbox/try-me")


PROBLEMS = {
    "no url": (
        {"url": None},
        "sources[0].url: missing; add it",
    ),
    "url without scheme": (
        {"url": "ci.example.com"},
        "sources[0].url: 'ci.example.com' is not an http(s) URL, e.g. 'https://ci.example.com'",
    ),
    "no token": ({"api_token": None}, "sources[0].api_token: missing; add it"),
    "empty token": (
        {"api_token": " "},
        "sources[0].api_token: is empty: create an API token under the user's Security page and "
        "give it here",
    ),
    "empty user": ({"user": " "}, "sources[0].user: give the Jenkins user whose API token this is"),
    "rule without a condition": (
        {"deployments": [{"app": "checkout"}]},
        "sources[0].deployments[0]: a deployment rule needs `job`, `parameter` or `stage`; a rule "
        "with none would make every build a deployment",
    ),
    "parameter without =": (
        {"deployments": [{"parameter": "ENVIRONMENT"}]},
        "sources[0].deployments[0].parameter: 'ENVIRONMENT' is not NAME=value, e.g. "
        "'ENVIRONMENT=production'",
    ),
    "unknown environment": (
        {"deployments": [{"job": "a", "environment": "live"}]},
        "sources[0].deployments[0].environment: 'live' is not allowed; use one of: "
        "'production', 'staging', 'testing', 'development' or 'other'",
    ),
    "misspelt rule key": (
        {"deployments": [{"jobs": "a"}]},
        "sources[0].deployments[0].jobs: unknown key; did you mean 'job'?",
    ),
    "bad job path": (
        {"jobs": ["payments//deploy"]},
        "sources[0].jobs: 'payments//deploy' is not a job path such as 'payments/deploy'",
    ),
    "bad hotfix regex": (
        {"hotfix_jobs": "(hotfix"},
        "sources[0].hotfix_jobs: '(hotfix' is not a regular expression: missing ), unterminated "
        "subpattern at position 0",
    ),
    "bad rollback parameter": (
        {"rollback_parameter": "ROLLBACK"},
        "sources[0].rollback_parameter: 'ROLLBACK' is not NAME=value, e.g. 'ROLLBACK=true'",
    ),
    "page size too small": (
        {"page_size": 5},
        "sources[0].page_size: must be at least 10 (got 5)",
    ),
    "history not a duration": (
        {"history": "three months"},
        "sources[0].history: 'three months' is not a duration: write a whole number and a unit "
        "s, m, h, d or w, e.g. '30d'",
    ),
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_check_config_names_the_key_and_the_fix(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, expected = PROBLEMS[name]
    source = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    config = tmp_path / "streamgauge.yaml"
    config.write_text(yaml.safe_dump({"sources": [source]}))
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"  {expected}\n" in err
    assert GOOD["api_token"] not in err
    with pytest.raises(ConfigError):
        load_settings(config)


def test_a_valid_jenkins_source_passes_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "streamgauge.yaml"
    config.write_text(yaml.safe_dump({"sources": [{**GOOD, "deployments": [{"job": "deploy"}]}]}))
    assert main(["check-config", "--config", str(config)]) == 0
    assert "sources: ci (jenkins)" in capsys.readouterr().out
