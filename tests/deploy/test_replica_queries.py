"""Every board and rule query reads streamgauge's series once however many replicas are scraped."""

from __future__ import annotations

import re

import pytest
from tests.deploy.promstack import PanelQuery, panel_queries, rules

# Series each replica counts on its own: summed over replicas. Every other streamgauge_ series is
# the same on every replica (the stored snapshot, the store's sync log): the max of copies.
PER_PROCESS = {
    "streamgauge_sync_failures_total",
    "streamgauge_recompute_failures_total",
    "streamgauge_source_leader",
}
# Alerts about one replica: they keep its instance label and name it.
PER_REPLICA_ALERTS = {"StreamgaugeExporterDown", "StreamgaugeSnapshotStale"}

# a family named in a label value (streamgauge_target{metric="streamgauge_flow_load"}) is no
# series read
SERIES = re.compile(r'(?<![A-Za-z0-9_:"])(streamgauge_[a-z0-9_]+)(?![A-Za-z0-9_:("])')


def unwrapped(expr: str) -> list[str]:
    """The streamgauge series of ``expr`` not read through its aggregation over replicas.

    A series counts as wrapped when the nearest aggregation around it is
    ``max without(instance, pod) (`` (``sum`` for per-process series), directly or around the
    one range function (``increase``, ``quantile_over_time``) that reads it.
    """
    found = []
    for match in SERIES.finditer(expr):
        name = match.group(1)
        agg = "sum" if name in PER_PROCESS else "max"
        before = expr[: match.start()]
        opener = re.search(
            rf"{agg} without\(instance, pod\) \((?:[a-z_]+\((?:[0-9.]+,\s*)?)?\s*$", before
        )
        if opener is None:
            found.append(name)
    return found


def test_the_checker_finds_a_bare_series_and_accepts_wrapped_ones() -> None:
    assert unwrapped('streamgauge_flow_load{team="a"}') == ["streamgauge_flow_load"]
    assert unwrapped("sum(increase(streamgauge_deployments_total[1d]))") == [
        "streamgauge_deployments_total"
    ]
    assert unwrapped("max without(instance, pod) (streamgauge_source_leader)") == [
        "streamgauge_source_leader"
    ]
    assert unwrapped("sum without(instance, pod) (increase(streamgauge_x_total[1h]))") == [
        "streamgauge_x_total"
    ]
    assert unwrapped("sum by (le) (max without(instance, pod) (increase(streamgauge_x[1d])))") == []
    assert (
        unwrapped("max without(instance, pod) (quantile_over_time(0.5,\n  streamgauge_x[4w]))")
        == []
    )
    assert unwrapped("team_app:streamgauge_x:baseline_4w + streamgauge:alert_threshold:y") == []
    # a target names its family in a label: only the target itself is read
    target = 'streamgauge_target{metric="streamgauge_flow_load", app=""}'
    assert unwrapped(target) == ["streamgauge_target"]
    assert unwrapped(f"max by (team) (max without(instance, pod) ({target}))") == []


def test_team_bounds_read_targets_and_values_once_per_replica_set() -> None:
    # the targets' bounds join a team's target with the default over the team's own value: both
    # sides must collapse replicas before `or on(team)`, or a team would get one bound per replica
    bounds = [r for r in rules() if r["_group"] == "streamgauge-targets"]
    assert len(bounds) == 4
    for rule in bounds:
        expr = rule["expr"]
        assert "or on(team)" in expr, rule["record"]
        assert expr.count("max without(instance, pod) (") == 2 or (
            "team:streamgauge_flow_load:sum" in expr
        ), rule["record"]
        assert unwrapped(expr) == [], rule["record"]


@pytest.mark.parametrize("query", panel_queries(), ids=lambda q: f"{q.dashboard}/{q.panel}")
def test_every_panel_reads_each_series_once_per_replica_set(query: PanelQuery) -> None:
    assert unwrapped(query.expr) == [], query.expr


def test_every_rule_reads_each_series_once_per_replica_set() -> None:
    bare = {
        rule.get("record") or rule["alert"]: unwrapped(rule["expr"])
        for rule in rules()
        if rule.get("alert") not in PER_REPLICA_ALERTS
    }
    assert {name: series for name, series in bare.items() if series} == {}
