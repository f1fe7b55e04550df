"""The PagerDuty configuration: the example file, and every refusal naming its key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgauge.cli import main
from streamgauge.config import ConfigError, load_settings
from streamgauge.connectors.pagerduty import PagerdutyConfig
from streamgauge.model import Severity

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "pagerduty.example.yaml"


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_TOKEN", "u+example-key")
    (source,) = load_settings(EXAMPLE).sources
    assert isinstance(source, PagerdutyConfig)
    assert source.token.get_secret_value() == "u+example-key"
    assert "u+example-key" not in repr(source)
    assert sorted(source.services) == ["P3S8ZQA", "PF9KMXH", "PIJ90N7"]
    assert source.services["P3S8ZQA"].team == "discovery"
    assert source.priority_severity("p1") is Severity.CRITICAL  # names match without case
    assert source.priority_severity("SEV-1") is None


def test_a_missing_token_and_services_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, overrides={"sources": [{"name": "pd", "type": "pagerduty"}]})
    assert info.value.problems == [
        "sources[0].token: missing; add it",
        "sources[0].services: missing; add it",
    ]


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            {"services": {}},
            "sources[0].services: give at least one service id, e.g. {PIJ90N7: {app: checkout}}",
        ),
        (
            {"services": ["PIJ90N7"]},
            "sources[0].services: write each service id as a key with its app (and team)",
        ),
        (
            {"services": {"pij90n7": {}}},
            "sources[0].services: 'pij90n7' is not a PagerDuty service id: use the upper-case id",
        ),
        (
            {"services": {"PIJ90N7": {"teem": "x"}}},
            "sources[0].services.PIJ90N7.teem: unknown key; did you mean 'team'?",
        ),
        ({"token": " "}, "sources[0].token: is empty: give a PagerDuty REST API key"),
        (
            {"slice": "200d"},
            "sources[0].slice: PagerDuty answers at most six months a request: use at most 180d",
        ),
        ({"slice": "30m"}, "sources[0].slice: must be at least 1h"),
        ({"history": "0d"}, "sources[0].history: must be longer than zero"),
        ({"urgencies": []}, "sources[0].urgencies: give high, low or both"),
        (
            {"urgencies": ["urgent"]},
            "sources[0].urgencies[0]: 'urgent' is not allowed; use one of: 'high' or 'low'",
        ),
        (
            {"priorities": {"P1": "urgent"}},
            "sources[0].priorities.P1: 'urgent' is not allowed; use one of: 'critical', 'high', "
            "'medium', 'low' or 'unknown'",
        ),
        (
            {"urgency_severities": {"high": "big"}},
            "sources[0].urgency_severities.high: 'big' is not allowed; use one of: 'critical'",
        ),
        (
            {"base_url": "api.pagerduty.com"},
            "sources[0].base_url: 'api.pagerduty.com' is not an http(s) URL: use "
            "https://api.pagerduty.com, or https://api.eu.pagerduty.com",
        ),
        ({"page_size": 101}, "sources[0].page_size: must be at most 100 (got 101)"),
        ({"max_rate_limit_wait": -1}, "sources[0].max_rate_limit_wait: must be at least 0"),
        ({"retries": -1}, "sources[0].retries: must be at least 0 (got -1)"),
        ({"timeout": 0}, "sources[0].timeout: must be more than 0"),
    ],
)
def test_config_refusals_name_the_key_and_the_fix(extra: dict[str, object], problem: str) -> None:
    source = {
        "name": "pd",
        "type": "pagerduty",
        "token": "t",
        "services": {"PIJ90N7": {"app": "checkout"}},
        **extra,
    }
    with pytest.raises(ConfigError) as info:
        load_settings(None, overrides={"sources": [source]})
    (found,) = info.value.problems
    assert found.startswith(problem), found


def test_check_config_lists_every_problem_of_a_pagerduty_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "sources:\n"
        "  - name: pd\n"
        "    type: pagerduty\n"
        "    token: t\n"
        "    services: {PIJ90N7: {app: checkout}, bad-id: {}}\n"
        "    slice: 365d\n"
    )
    assert main(["check-config", "--config", str(config)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "configuration problems:"
    assert err[1].startswith("  sources[0].services: 'bad-id' is not a PagerDuty service id")
    assert err[2].startswith("  sources[0].slice: PagerDuty answers at most six months")
    assert len(err) == 3
