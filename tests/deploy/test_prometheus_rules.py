"""The Prometheus configuration, recording rules and alert rules, checked by the real promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.deploy.promstack import (
    ALERTS_DOC,
    PROMETHEUS_DIR,
    alerts,
    binary,
    rule_files,
    rule_test_files,
    rules,
    split_comparison,
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus.replicas.yml"])
def test_promtool_check_config_loads_every_rule_file(name: str) -> None:
    done = promtool("check", "config", str(PROMETHEUS_DIR / name))
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load((PROMETHEUS_DIR / name).read_text())
    loaded = {(PROMETHEUS_DIR / f).resolve() for f in config["rule_files"]}
    assert loaded == {p.resolve() for p in rule_files()}
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    # StreamgaugeExporterDown selects up{job="streamgauge"}
    assert "streamgauge" in jobs


@pytest.mark.slow
@pytest.mark.parametrize("path", rule_test_files(), ids=lambda p: p.name)
def test_promtool_test_rules(path: Path) -> None:
    done = promtool("test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _alert_tests() -> list[dict[str, Any]]:
    found = []
    for path in rule_test_files():
        suite = yaml.safe_load(path.read_text())
        rule_paths = {(path.parent / f).resolve() for f in suite["rule_files"]}
        assert rule_paths == {p.resolve() for p in rule_files()}, f"{path.name} misses rule files"
        for group in suite["tests"]:
            found.extend(group.get("alert_rule_test", []))
    return found


@pytest.mark.parametrize("name", [a["alert"] for a in alerts()])
def test_every_alert_has_a_firing_and_a_silent_unit_test(name: str) -> None:
    cases = [t for t in _alert_tests() if t["alertname"] == name]
    assert any(t["exp_alerts"] for t in cases), f"no promtool test where {name} fires"
    assert any(not t["exp_alerts"] for t in cases), f"no promtool test where {name} stays silent"


def _doc_anchors() -> set[str]:
    # GitHub's anchor for a heading: lower case, spaces to dashes, punctuation dropped.
    headings = re.findall(r"^#+ (.+)$", ALERTS_DOC.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_every_alert_explains_itself_and_links_its_runbook(alert: dict[str, Any]) -> None:
    annotations = alert["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    page, _, anchor = annotations["runbook_url"].partition("#")
    assert page == "docs/alerts.md"
    assert anchor == alert["alert"].lower()
    assert anchor in _doc_anchors(), f"docs/alerts.md has no section {alert['alert']}"
    assert alert["labels"]["severity"] in ("warning", "critical")


def test_every_threshold_is_used_by_an_alert_and_documented() -> None:
    thresholds = [r["record"] for r in rules() if r["_group"] == "streamgauge-thresholds"]
    assert thresholds
    # an alert reads a threshold itself, or through its team's bound (the team's target, else
    # the threshold) in the streamgauge-targets group
    bounds = [r["expr"] for r in rules() if r["_group"] == "streamgauge-targets"]
    used = " ".join([a["expr"] for a in alerts()] + bounds)
    doc = ALERTS_DOC.read_text()
    for name in thresholds:
        assert name.startswith("streamgauge:alert_threshold:")
        assert name in used, f"{name} is not used by any alert"
        assert name in doc, f"{name} is not documented in docs/alerts.md"


def test_alertmanager_example_routes_to_receivers_that_exist() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "alertmanager.yml").read_text())
    receivers = {r["name"] for r in config["receivers"]}
    route = config["route"]
    assert route["receiver"] in receivers
    assert {r["receiver"] for r in route.get("routes", [])} <= receivers
    severities = {a["labels"]["severity"] for a in alerts()}
    routed = {m.split("=")[1].strip('"') for r in route["routes"] for m in r["matchers"]}
    assert routed <= severities
    names = {a["alert"] for a in alerts()}
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"]:
            assert matcher.split("=")[1].strip('"') in names


def test_split_comparison_skips_matchers_and_drops_vector_matching() -> None:
    # The live test evaluates an alert's two sides apart; these are split by hand.
    assert split_comparison('up{job="streamgauge"} == 0') == ('up{job="streamgauge"}', "==", "0")
    assert split_comparison(
        'x{team!="all", a=~"b|c"} > on() group_left() streamgauge:alert_threshold:y'
    ) == ('x{team!="all", a=~"b|c"}', ">", "streamgauge:alert_threshold:y")
    assert split_comparison("time() - t\n  <= on(source) group_left(team) z") == (
        "time() - t",
        "<=",
        "z",
    )
    assert split_comparison("sum by (a) (rate(x[5m]))") is None
