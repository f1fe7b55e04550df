"""The Grafana boards and provisioning files: loadable both provisioned and imported by hand."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from prometheus_client.utils import floatToGoString
from tests.deploy.promstack import GRAFANA_DIR, dashboards, panel_queries

from streamgauge.metrics.catalog import COMPUTED, DURATION_BUCKETS, HEALTH, RECOVERY_BUCKETS

BOARDS = dashboards()
UIDS = {
    "dora.json": "streamgauge-dora",
    "lead-time.json": "streamgauge-lead-time",
    "flow.json": "streamgauge-flow",
    "value-stream.json": "streamgauge-value-stream",
    "collector.json": "streamgauge-collector",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def test_the_five_boards_keep_their_uids() -> None:
    # A uid is how links, bookmarks and a re-import find a board: it never changes.
    assert {name: board["uid"] for name, board in BOARDS.items()} == UIDS


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_has_the_four_variables(name: str) -> None:
    variables = {v["name"]: v for v in BOARDS[name]["templating"]["list"]}
    assert list(variables) == ["datasource", "team", "app", "window"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for var, default in (("team", "all"), ("app", "all"), ("window", "30d")):
        v = variables[var]
        assert v["type"] == "query"
        assert v["datasource"] == DATASOURCE
        assert v["current"]["value"] == default
        assert re.fullmatch(
            r"label_values\(streamgauge_\w+(\{[^}]*\})?, " + var + r"\)", v["query"]
        )
    # the app list follows the team
    assert '{team="$team"}' in variables["app"]["query"]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_imports_without_inputs_and_provisions_without_a_fixed_datasource(name: str) -> None:
    text = (GRAFANA_DIR / "dashboards" / name).read_text()
    board: dict[str, Any] = json.loads(text)
    # ${DS_...} placeholders and __inputs only resolve through the UI's import dialog; a
    # provisioned board would show "datasource not found".
    assert "${DS_" not in text
    assert "__inputs" not in board
    assert "id" not in board or board["id"] is None
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["gridPos"]["x"] >= 0
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE
            assert target["expr"].strip()
        assert panel["title"].strip()


def test_every_exported_family_is_on_some_board() -> None:
    # From the catalog, so a family added to streamgauge fails here until a board shows it.
    exported = [m.name for m in COMPUTED + HEALTH] + ["streamgauge_info"]
    queries = " ".join(q.expr for q in panel_queries())
    missing = [
        name
        for name in exported
        if not re.search(rf"(?<![\w:]){name}(_bucket|_sum|_count)?(?![\w:])", queries)
    ]
    assert missing == []


def test_provisioning_gives_a_fixed_datasource_uid_and_a_file_provider() -> None:
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "streamgauge.yaml").read_text()
    )
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == "streamgauge-prometheus"
    providers = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "streamgauge.yaml").read_text()
    )
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]


def test_compose_stack_mounts_the_boards_where_the_provider_reads_them() -> None:
    providers = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "streamgauge.yaml").read_text()
    )
    compose = yaml.safe_load((GRAFANA_DIR.parent / "deploy" / "compose.yaml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{providers['providers'][0]['options']['path']}:ro" in volumes
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "streamgauge.yaml").read_text()
    )
    # the data source reaches Prometheus by its compose service name
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]


def test_value_stream_stage_panels_list_stages_in_stream_order() -> None:
    # A stage label sorts alphabetically; each panel listing stages joins the order gauge and
    # sorts its rows by it (then hides it), so stages read idea -> production.
    order = "streamgauge_value_stream_stage_order"
    staged = [
        p
        for p in BOARDS["value-stream.json"]["panels"]
        if p["type"] in ("table", "bargauge")
        and any("stage_" in t["expr"] for t in p.get("targets", []))
    ]
    # process and wait, %C&A, the stage table, the bottleneck's evidence
    assert len(staged) == 4
    for panel in staged:
        (ref,) = [t["refId"] for t in panel["targets"] if order in t["expr"]]
        steps = [s["id"] for s in panel["transformations"]]
        assert steps == ["merge", "sortBy", "organize"], panel["title"]
        sort = panel["transformations"][1]["options"]["sort"]
        assert sort == [{"field": f"Value #{ref}", "desc": False}]
        assert panel["transformations"][2]["options"]["excludeByName"][f"Value #{ref}"] is True
        assert all(t.get("format") == "table" for t in panel["targets"]), panel["title"]


def _gauges() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, panel)
        for name, board in BOARDS.items()
        for panel in board["panels"]
        if panel["type"] in ("stat", "gauge", "bargauge")
    ]


@pytest.mark.parametrize("panel", _gauges(), ids=lambda p: f"{p[0]}/{p[1]['title']}")
def test_every_stat_and_gauge_has_explicit_thresholds_and_a_unit(
    panel: tuple[str, dict[str, Any]],
) -> None:
    _, found = panel
    defaults = found["fieldConfig"]["defaults"]
    assert defaults.get("unit"), found["title"]
    thresholds = defaults["thresholds"]
    assert thresholds["mode"] == "absolute"
    steps = thresholds["steps"]
    assert steps[0]["value"] is None  # the base colour, below every bound
    bounds = [s["value"] for s in steps[1:]]
    assert bounds == sorted(bounds), found["title"]


def test_dora_level_stats_are_coloured_elite_green_to_low_red() -> None:
    levels = [p for p in BOARDS["dora.json"]["panels"] if p["title"].endswith(" level")]
    assert len(levels) == 4
    for panel in levels:
        colours = {
            o["matcher"]["options"]: o["properties"][0]["value"]["fixedColor"]
            for o in panel["fieldConfig"]["overrides"]
        }
        assert colours == {"elite": "dark-green", "high": "green", "medium": "orange", "low": "red"}
        assert panel["fieldConfig"]["defaults"]["displayName"] == "${__field.labels.level}"


def test_dora_stats_colour_by_the_benchmark_bounds() -> None:
    # dora-2024: elite below a day of lead time, high below a week, medium below a month (30 d)
    (lead,) = [
        p
        for p in BOARDS["dora.json"]["panels"]
        if p["title"] == "Change lead time (median)" and p["type"] == "stat"
    ]
    steps = lead["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["color"], s["value"]) for s in steps] == [
        ("dark-green", None),
        ("green", 86400),
        ("orange", 604800),
        ("red", 2592000),
    ]


@pytest.mark.parametrize(
    ("board", "title", "buckets"),
    [
        ("lead-time.json", "Changes deployed in the time range, by lead time", DURATION_BUCKETS),
        ("flow.json", "Items done in the time range, by flow time", DURATION_BUCKETS),
        (
            "dora.json",
            "Failed deployments by recovery time (whole history)",
            RECOVERY_BUCKETS,
        ),
    ],
)
def test_histogram_legends_read_as_human_durations(
    board: str, title: str, buckets: tuple[float, ...]
) -> None:
    (panel,) = [p for p in BOARDS[board]["panels"] if p["title"].startswith(title)]
    (query,) = panel["targets"]
    assert query["legendFormat"] == "\u2264 {{le}} s"
    renames = [
        (t["options"]["regex"], t["options"]["renamePattern"])
        for t in panel["transformations"]
        if t["id"] == "renameByRegex"
    ]

    def shown(le: str) -> str:
        legend = f"\u2264 {le} s"
        for regex, pattern in renames:
            if re.fullmatch(regex.strip("^$"), legend):
                return pattern
        return legend

    # Prometheus writes `le` as Go formats floats: 3600 -> "3600.0", 182 days -> "1.57248e+07"
    assert shown("3600.0") == "\u2264 1h" or shown("300.0") == "\u2264 5m"
    assert shown("+Inf") == "all"
    for bound in buckets:
        label = shown(floatToGoString(bound))
        assert " s" not in label, (bound, label)
    if buckets is DURATION_BUCKETS:
        assert shown("1.57248e+07") == "\u2264 182d"  # 182 * 86400 = 15724800
        assert shown("86400.0") == "\u2264 1d"


def test_value_stream_board_shows_targets_governance_and_forecasts() -> None:
    queries = " ".join(q.expr for q in panel_queries() if q.dashboard == "value-stream.json")
    for family in (
        "streamgauge_target",
        "streamgauge_governance_deployments_window_ratio",
        "streamgauge_governance_deployments_total",
        "streamgauge_forecast_items",
        "streamgauge_forecast_done_seconds",
        "streamgauge_forecast_backlog_items",
    ):
        assert family in queries, family
