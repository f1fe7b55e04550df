"""The Jira configuration and mapping rules: the example file, overrides, precedence, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamgauge.config import ConfigError, load_settings
from streamgauge.connectors.jira.config import JiraConfig
from streamgauge.connectors.jira.mapping import Rules
from streamgauge.model import FlowState, FlowType, Severity

EXAMPLE = Path(__file__).resolve().parents[3] / "config" / "jira.example.yaml"


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pat = tmp_path / "jira_pat"
    pat.write_text("pat-value\n")
    monkeypatch.setenv("JIRA_API_TOKEN", "token-value")
    text = EXAMPLE.read_text().replace("/run/secrets/jira_pat", str(pat))
    config_file = tmp_path / "jira.yaml"
    config_file.write_text(text)
    settings = load_settings(config_file)
    cloud, dc = settings.sources
    assert isinstance(cloud, JiraConfig)
    assert isinstance(dc, JiraConfig)
    assert cloud.api_token is not None
    assert cloud.api_token.get_secret_value() == "token-value"
    assert dc.token is not None
    assert dc.token.get_secret_value() == "pat-value"
    assert "token-value" not in repr(cloud)
    ops = Rules(cloud.mapping_for("OPS"))
    pay = Rules(cloud.mapping_for("PAY"))
    # OPS overrides the waiting list and the team only; its stages are the source-wide ones.
    assert ops.flow_state("Waiting for customer", "indeterminate").state is FlowState.WAITING
    assert pay.flow_state("Waiting for customer", "indeterminate").state is FlowState.ACTIVE
    assert ops.flow_state("Ready for review", "indeterminate").state is FlowState.ACTIVE
    assert ops.stage("In Review") == "review"
    assert (ops.mapping.team, pay.mapping.team) == ("platform", None)


def test_rule_precedence() -> None:
    rules = Rules(
        JiraConfig(
            name="j",
            type="jira",
            url="https://x.example",
            token="t",
            projects=("P",),
            mapping={"statuses": {"Blocked": "active"}, "label_types": {"tech-debt": "debt"}},
        ).mapping
    )
    # An explicit status rule beats the waiting list; names match without regard to case.
    assert rules.flow_state("blocked", "indeterminate").state is FlowState.ACTIVE
    assert rules.flow_state("WAITING FOR QA", "indeterminate").state is FlowState.WAITING
    # A done-category status resolved "Duplicate" is canceled; resolved "Done" is done.
    assert rules.flow_state("Closed", "done", "Duplicate").state is FlowState.CANCELED
    assert rules.flow_state("Closed", "done", "Done").state is FlowState.DONE
    # No rule and no category: new, and not mapped.
    assert rules.flow_state("Parked", "undefined") == rules.flow_state("Parked", None)
    assert not rules.flow_state("Parked", None).mapped
    # A type label beats the issue type; an unknown type falls back to the default, unmapped.
    assert rules.flow_type("Bug", ["tech-debt"]) == (FlowType.DEBT, True)
    assert rules.flow_type("Spike", []) == (FlowType.FEATURE, False)
    assert rules.is_incident("incident", [])
    assert rules.severity("Highest") is Severity.CRITICAL
    assert rules.severity(None) is Severity.UNKNOWN


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"token": "t", "email": "a@b.c", "api_token": "x"}, "not both"),
        ({"email": "a@b.c"}, "needs both email and api_token"),
        ({}, r"give email \+ api_token"),
        ({"token": "t", "projects": []}, "bounded"),
    ],
)
def test_config_refusals(extra: dict[str, object], message: str, tmp_path: Path) -> None:
    source = {"name": "j", "type": "jira", "url": "https://x.example", "projects": ["P"], **extra}
    with pytest.raises(ConfigError, match=message):
        load_settings(None, overrides={"sources": [source]})
