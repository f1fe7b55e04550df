"""`targets:` of teams and apps: read in each family's unit, refused with the key and the fix,
and exported as `streamgauge_target`."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.metrics.helpers import NOW

from streamgauge.config import ConfigError, Settings, load_settings
from streamgauge.metrics import compute_all
from streamgauge.metrics.snapshot import labels
from streamgauge.model import Dataset

GOOD = """
teams:
  payments:
    apps: [checkout]
    targets:
      - {metric: change_lead_time_window_seconds, quantile: p85, max: 3d}
      - {metric: streamgauge_deployment_frequency_window_per_day, min: 1}
      - {metric: flow_load, max: 12}
apps:
  checkout:
    targets:
      - {metric: value_stream_stage_time_window_seconds, stage: review, max: 1d}
      - {metric: value_stream_stage_complete_accurate_window_ratio, stage: review, min: 0.9}
"""


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "streamgauge.yaml"
    path.write_text(text)
    return load_settings(path)


def test_targets_are_exported_in_the_family_unit(tmp_path: Path) -> None:
    settings = _load(tmp_path, GOOD)
    snap = compute_all(Dataset(), now=NOW, settings=settings)
    found = snap.values("streamgauge_target")

    def key(team: str, app: str, metric: str, stage: str, quantile: str, bound: str) -> object:
        return labels(
            team=team,
            app=app,
            metric="streamgauge_" + metric,
            stage=stage,
            percentile=quantile,
            bound=bound,
        )

    assert found == {
        # 3 days = 3 * 86400 = 259200 seconds; quantile p85 -> the percentile label "85"
        key("payments", "", "change_lead_time_window_seconds", "", "85", "max"): 259200.0,
        key("payments", "", "deployment_frequency_window_per_day", "", "", "min"): 1.0,
        key("payments", "", "flow_load", "", "", "max"): 12.0,
        # an app's target sits under its owning team; 1d = 86400 s
        key(
            "payments", "checkout", "value_stream_stage_time_window_seconds", "review", "", "max"
        ): 86400.0,
        key(
            "payments",
            "checkout",
            "value_stream_stage_complete_accurate_window_ratio",
            "review",
            "",
            "min",
        ): 0.9,
    }


BAD = """
teams:
  payments:
    apps: [checkout]
    targets:
      - {metric: change_lead_tme_window_seconds, quantile: 85, max: 3d}
      - {metric: change_lead_time_window_seconds, quantile: 85, max: 3x}
      - {metric: flow_load, max: 12, min: 3}
      - {metric: flow_efficiency_window_ratio, min: high}
      - {metric: deployment_frequency_window_per_day, min: 1, quantile: 85}
      - {metric: change_lead_time_window_seconds, max: 3d}
      - {metric: change_lead_time_window_seconds, quantile: 70, max: 3d}
      - {metric: value_stream_stage_complete_accurate_window_ratio, min: 0.9}
      - {metric: flow_load, max: -1}
apps:
  checkout:
    targets:
      - {metric: flow_load, max: 10}
      - {metric: streamgauge_flow_load, max: 12}
"""


def test_every_bad_target_is_named_with_its_key_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, BAD)
    lines = str(caught.value).splitlines()
    t = "teams.payments.targets"

    def said(prefix: str, words: str) -> bool:
        return any(line.startswith(prefix + ":") and words in line for line in lines)

    assert said(f"{t}[0].metric", "did you mean streamgauge_change_lead_time_window_seconds")
    assert said(f"{t}[1].max", "'3x' is not a duration")
    assert said(f"{t}[2]", "give exactly one bound")
    assert said(f"{t}[3].min", "write a plain number")
    assert said(f"{t}[4].quantile", "remove quantile")
    assert said(f"{t}[5]", "set quantile to 50, 85 or 95")
    assert said(f"{t}[6].quantile", "write one of 50, 85, 95")
    assert said(f"{t}[7]", "set stage")
    assert said(f"{t}[8].max", "must not be negative")
    # the same series bounded twice would be exported twice
    assert said("apps.checkout.targets", "targets[1] repeats targets[0]")
    # one line each, nothing else: an unknown metric is not named again under its bound
    assert len(lines) == 10, lines


def test_explain_lists_the_targets_of_the_team_and_app(tmp_path: Path) -> None:
    from streamgauge.explain import explain
    from streamgauge.metrics import compute_facts

    settings = _load(tmp_path, GOOD)
    facts = compute_facts(Dataset(), now=NOW, settings=settings)
    found = explain(facts, "targets", settings, team="payments", app="checkout")
    # the team's three and checkout's two; 1d = 86400 s
    assert len(found.rows) == 5
    assert {
        "team": "payments",
        "app": "checkout",
        "metric": "streamgauge_value_stream_stage_time_window_seconds",
        "stage": "review",
        "percentile": "",
        "bound": "max",
        "value": 86400.0,
    } in found.rows
