"""Every board query and every rule expression, evaluated by a real Prometheus scraping the demo.

`streamgauge serve` runs on the demo configuration plus a Jira source on a fake Jira that answers
one search with HTTP 429 and `X-RateLimit-Remaining: 0` (the demo has no API budget to report,
and the API-budget panel and alert need one), a Jira source whose credentials the fake refuses
(for the failure families and the alert on a failing source), and one whose Jira asks it to wait
ten minutes (for the pause gauge). A real Prometheus scrapes it every second with the
project's rule files; once the rules have run, each query must return at least one series.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tests.deploy.promstack import (
    Prometheus,
    binary,
    dashboards,
    free_port,
    panel_queries,
    rule_files,
    rules,
    split_comparison,
    substitute,
)
from tests.fakes.jira import FakeJira
from tests.fakes.jira.project import generate_project

from streamgauge.cli import embedded_demo_config
from streamgauge.metrics.catalog import COMPUTED, HEALTH

pytestmark = pytest.mark.slow

# Variables as a user picks them: the whole organisation, and one team. Every query must return
# data for each.
VARIABLE_SETS = [
    {"team": "all", "app": "all", "window": "30d"},
    {"team": "payments", "app": "all", "window": "7d"},
]
# One app at a time: a single demo app may have had no failed deployment recovered in the last
# 7 days, so each query must return data for at least one of the demo's apps.
APP_SETS = [
    {"team": team, "app": f"{team}-{kind}", "window": "90d"}
    for team in ("payments", "checkout", "search")
    for kind in ("api", "web")
]
# Grafana's own variables, at values a 30-day board would use.
GRAFANA_BUILTINS = {"__range": "1h", "__rate_interval": "1m", "__interval": "15s", "datasource": ""}


class Stack:
    def __init__(self, tmp: Path, jira: FakeJira, paused: FakeJira) -> None:
        self.port = free_port()
        config = yaml.safe_load(embedded_demo_config().read_text())
        config["sources"].append(
            {
                "name": "jira",
                "type": "jira",
                "url": jira.url,
                "email": jira.email,
                "api_token": jira.api_token,
                "projects": ["PAY"],
                "interval": "1h",  # one sync in the test: its budget stays the one reported
            }
        )
        # A source refused from its first sync: the failure families and the alert on a source
        # that never synced successfully need one.
        config["sources"].append(
            {
                "name": "jira-refused",
                "type": "jira",
                "url": jira.url,
                "email": jira.email,
                "api_token": "a-token-jira-refuses",
                "projects": ["PAY"],
                "interval": "1h",
            }
        )
        # A source its Jira asks to wait ten minutes: it pauses, for the pause gauge and panel.
        config["sources"].append(
            {
                "name": "jira-paused",
                "type": "jira",
                "url": paused.url,
                "email": paused.email,
                "api_token": paused.api_token,
                "projects": ["PAY"],
                "interval": "1h",
            }
        )
        config["data_dir"] = str(tmp / "data")
        config_path = tmp / "streamgauge.yaml"
        config_path.write_text(yaml.safe_dump(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")}
        self.log = (tmp / "serve.log").open("wb")
        self.serve = subprocess.Popen(
            [
                sys.executable, "-m", "streamgauge", "serve", "--config", str(config_path),
                "--host", "127.0.0.1", "--port", str(self.port),
            ],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        prometheus_yml = tmp / "prometheus.yml"
        prometheus_yml.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(p) for p in rule_files()],
                    "scrape_configs": [
                        {
                            "job_name": "streamgauge",
                            "static_configs": [{"targets": [f"127.0.0.1:{self.port}"]}],
                        }
                    ],
                }
            )
        )
        self.prometheus = Prometheus(prometheus_yml, tmp / "tsdb")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.serve.poll() is None, f"serve exited:\n{self.serve_log()}"
            try:
                url = f"http://127.0.0.1:{self.port}/readyz"
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"serve not ready:\n{self.serve_log()}")
        ready_at = time.time()
        self.prometheus.wait_ready()
        # Data has arrived when Prometheus holds three scrapes taken since serve was ready
        # (rate() and increase() need two of the computed series; scrapes from before hold
        # none) and every recording rule has written its series.
        records = [r["record"] for r in rules() if "record" in r]
        pending = ["scrapes", *records]
        while pending and time.monotonic() < deadline:
            since = max(1, int(time.time() - ready_at))
            scrapes = f'count_over_time(up{{job="streamgauge"}}[{since}s]) >= 3'
            pending = [
                q for q in pending if not self.prometheus.query(scrapes if q == "scrapes" else q)
            ]
            time.sleep(0.25)
        assert not pending, f"no data for {pending}:\n{self.prometheus.output()}"

    def serve_log(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self.prometheus.stop()
        if self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            self.serve.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("live")
    start = datetime.now(UTC) - timedelta(days=20)
    with (
        FakeJira(generate_project(seed=7, issues=8, start=start), mode="cloud") as jira,
        FakeJira(generate_project(seed=8, issues=3, start=start), mode="cloud") as paused,
    ):
        jira.inject("429", endpoint="search/jql", times=1, retry_after="1")
        paused.inject("429", endpoint="search/jql", times=1, retry_after="600")
        running = Stack(tmp, jira, paused)
        try:
            running.wait_ready()
            yield running
        finally:
            running.stop()


def test_every_panel_query_returns_data(stack: Stack) -> None:
    empty = []
    checked = 0
    for query in panel_queries():
        for variables in VARIABLE_SETS:
            expr = substitute(query.expr, {**GRAFANA_BUILTINS, **variables})
            checked += 1
            if not stack.prometheus.query(expr):
                empty.append(f"{query.dashboard} / {query.panel} with {variables}: {expr}")
        per_app = (substitute(query.expr, {**GRAFANA_BUILTINS, **v}) for v in APP_SETS)
        if not any(stack.prometheus.query(expr) for expr in per_app):
            empty.append(f"{query.dashboard} / {query.panel}: no data for any single app")
    assert checked >= 2 * 80  # five boards, each with many panels
    assert empty == []


def test_every_variable_lists_values(stack: Stack) -> None:
    # label_values(SELECTOR, LABEL) lists LABEL's values among SELECTOR's series: Prometheus
    # gives the same with count by (LABEL) (SELECTOR).
    for name, board in dashboards().items():
        for var in board["templating"]["list"]:
            if var["type"] != "query":
                continue
            inner = var["query"].removeprefix("label_values(").removesuffix(")")
            selector, _, label = inner.rpartition(", ")
            expr = substitute(f"count by ({label}) ({selector})", {"team": "payments"})
            values = {r["metric"][label] for r in stack.prometheus.query(expr)}
            assert var["current"]["value"] in values, (name, var["name"], values)


def test_every_rule_expression_returns_data(stack: Stack) -> None:
    empty = []
    for rule in rules():
        name = rule.get("record") or rule["alert"]
        expr = rule["expr"]
        if "record" in rule:
            parts = [expr, rule["record"]]
        else:
            # An alert is `VALUE <op> THRESHOLD`: the demo is healthy, so the whole expression
            # is mostly empty. The test evaluates its two sides apart, split at the outermost
            # comparison (label matchers and brackets skipped, `on() group_left()` dropped), and
            # requires data from each: the measured value and the threshold it is held against.
            split = split_comparison(expr)
            assert split is not None, f"{name}: no comparison in {expr!r}"
            left, _, right = split
            stack.prometheus.query(expr)  # the whole expression must at least be valid
            parts = [left, right]
        for part in parts:
            if not stack.prometheus.query(part):
                empty.append(f"{name}: {part}")
    assert empty == []


def test_every_exported_family_reaches_prometheus(stack: Stack) -> None:
    names = {
        r["metric"]["__name__"]
        for r in stack.prometheus.query('count by (__name__) ({__name__=~"streamgauge_.+"})')
    }
    # Shown only in trouble the stack does not stage: a failed computation.
    trouble_only = {"streamgauge_recompute_failures_total"}
    expected = {
        m.name + "_bucket" if m.kind == "histogram" else m.name for m in COMPUTED + HEALTH
    } | {"streamgauge_info"}
    assert expected - names == trouble_only


@pytest.mark.parametrize(
    ("variables", "selector"),
    [
        ({"team": "all", "app": "all"}, ""),
        ({"team": "payments", "app": "all"}, '{team="payments"}'),
        ({"team": "payments", "app": "payments-api"}, '{team="payments", app="payments-api"}'),
    ],
)
def test_whole_history_panels_sum_the_selected_series(
    stack: Stack, variables: dict[str, str], selector: str
) -> None:
    # Counters have no team="all" / app="all" rows, so their panels choose between three sums;
    # each choice must equal the plain sum over the series the variables stand for.
    (query,) = [q for q in panel_queries() if q.panel == "Changes deployed, whole history"]
    expr = substitute(query.expr, {**GRAFANA_BUILTINS, **variables, "window": "30d"})
    (got,) = stack.prometheus.query(expr)
    (want,) = stack.prometheus.query(f"sum(streamgauge_change_lead_time_seconds_count{selector})")
    assert float(got["value"][1]) == float(want["value"][1]) > 0


def _scrape(stack: Stack, accept: str, encoding: str) -> tuple[dict[str, str], bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.port}/metrics",
        headers={"Accept": accept, "Accept-Encoding": encoding},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return dict(resp.headers.items()), resp.read()


def test_promtool_finds_nothing_to_lint_in_the_exposition(stack: Stack) -> None:
    # The lint rejects a `quantile` label on anything but a summary, and units other than base
    # units in names (`_days`): the demo's whole exposition must pass it silently. promtool
    # reads the Prometheus text format only.
    _, body = _scrape(stack, "text/plain;version=0.0.4", "identity")
    done = subprocess.run(
        [binary("promtool"), "check", "metrics"],
        input=body, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stdout + done.stderr) == (0, b"")


@pytest.mark.parametrize(
    "accept", ["text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0"]
)
def test_both_text_formats_are_gzipped_when_the_scraper_accepts_it(
    stack: Stack, accept: str
) -> None:
    plain_headers, plain = _scrape(stack, accept, "identity")
    headers, body = _scrape(stack, accept, "gzip")
    assert "Content-Encoding" not in plain_headers
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == plain_headers["Content-Type"]
    assert gzip.decompress(body) == plain
    assert len(body) * 5 < len(plain)  # label-heavy text compresses more than fivefold
