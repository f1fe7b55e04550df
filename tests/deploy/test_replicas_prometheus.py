"""Every board query and rule expression gives the same result with one replica and with two.

Two `serve` processes share one PostgreSQL store (the demo, plus a webhook source). Replica A
holds every source and computes; replica B serves the snapshot A stores. One real Prometheus
scrapes A alone, as a one-replica deployment is scraped; a second scrapes A and B, each target
with its own ``pod`` label, as the Helm chart's PodMonitor would. Midway, deployments are pushed
to B's webhook, so the whole-history counters move and ``increase()`` over them is not zero:
a board that summed the replicas' copies would show twice the deployments.

At one evaluation moment, when both replicas serve the same snapshot, each query is asked of
both Prometheus servers. Instant queries must agree exactly. Queries over a range may differ by
Prometheus's extrapolation, which depends on when each target happened to be scraped: with a
sample a second and at least 40 s of samples in the range, ``increase()`` extrapolates each end
by at most 1.1 scrape intervals, so two answers differ by at most about 2.2 / 40 = 5.5 %; double
counting would differ by 100 %.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from tests.deploy.promstack import Prometheus, panel_queries, rule_files, rules, substitute
from tests.deploy.test_dashboards_live import GRAFANA_BUILTINS, VARIABLE_SETS
from tests.deploy.test_replica_queries import PER_REPLICA_ALERTS
from tests.fakes.webhook.sender import SECRET, as_body, standard_headers
from tests.fakes.webhook.spec_examples import example
from tests.test_replicas_serve import Replica, same_numbers, stop, wait_ready

from streamgauge.cli import embedded_demo_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RANGE_TOLERANCE = 0.06  # relative: see the module's docstring
PUSHED = 6  # production deployments pushed to replica B
Result = dict[frozenset[tuple[str, str]], float]
# Prometheus's own series about each scrape target: one per replica on purpose (the collector
# board shows each replica's scrapes).
PER_TARGET = re.compile(r"^(up|scrape_[a-z_]+)\{")


def write_config(folder: Path, store_url: str) -> Path:
    config = yaml.safe_load(embedded_demo_config().read_text())
    config["data_dir"] = str(folder / "data")
    config["store"] = {"url": store_url}
    # Nothing moves on its own during the test: one sync of the demo, a snapshot an hour (and
    # one after each change); replica B looks for a newer stored snapshot every second.
    config["server"] = {"store_check_interval": "1s", "recompute_interval": "1h"}
    config["log_level"] = "WARNING"
    config["sources"][0]["interval"] = "1h"
    config["sources"].append({"name": "cd", "type": "webhook", "secret": SECRET})
    # the CDEvents example's artifact is pkg:oci/myapp
    config["apps"]["payments-api"].setdefault("components", []).append("myapp")
    path = folder / "streamgauge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def scrape_config(folder: Path, name: str, targets: dict[str, Replica]) -> Path:
    path = folder / f"{name}.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(p) for p in rule_files()],
                "scrape_configs": [
                    {
                        "job_name": "streamgauge",
                        "static_configs": [
                            {"targets": [f"127.0.0.1:{r.port}"], "labels": {"pod": pod}}
                            for pod, r in targets.items()
                        ],
                    }
                ],
            }
        )
    )
    return path


def push_deployments(replica: Replica, count: int) -> None:
    """``count`` production deployments of myapp, finished in the last hour, to ``replica``."""
    url = f"http://127.0.0.1:{replica.port}/webhooks/cd"
    for n in range(count):
        event = example("service.deployed", "0.5.1")
        event["context"]["id"] = str(uuid.uuid4())
        finished = datetime.now(UTC) - timedelta(minutes=10 * (n + 1))
        event["context"]["timestamp"] = finished.isoformat().replace("+00:00", "Z")
        event["subject"]["content"]["environment"]["id"] = "production"
        body = as_body(event)
        headers = {"Content-Type": "application/json", **standard_headers(body)}
        answer = requests.post(url, data=body, headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text


def deployments(replica: Replica) -> float:
    return sum(
        value
        for (name, _), value in replica.samples().items()
        if name == "streamgauge_deployments_total"
    )


def result(prometheus: Prometheus, expr: str, at: float) -> Result:
    return {
        frozenset(r["metric"].items()): float(r["value"][1]) for r in prometheus.query(expr, at=at)
    }


def same(one: Result, two: Result, tolerance: float) -> bool:
    if one.keys() != two.keys():
        return False
    for key, a in one.items():
        b = two[key]
        if math.isnan(a) and math.isnan(b):
            continue
        if not math.isclose(a, b, rel_tol=tolerance, abs_tol=1e-9):
            return False
    return True


def queries() -> Iterator[tuple[str, str, float]]:
    """(what, expression, tolerance) of every panel query and every rule's parts."""
    for query in panel_queries():
        for variables in VARIABLE_SETS:
            expr = substitute(query.expr, {**GRAFANA_BUILTINS, **variables})
            yield f"{query.dashboard} / {query.panel} {variables}", expr, tolerance_of(expr)
    for rule in rules():
        if rule.get("alert") in PER_REPLICA_ALERTS:
            continue  # about one replica: each keeps its instance and pod
        name = rule.get("record") or rule["alert"]
        tolerance = tolerance_of(rule["expr"])
        yield f"rule {name}", rule["expr"], tolerance
        if "record" in rule:
            yield f"recorded {name}", rule["record"], tolerance


def tolerance_of(expr: str) -> float:
    """Exact for an instant query; a range selector, or a recorded series (which may be made
    from one), may differ by extrapolation."""
    ranged = re.search(r"\[[0-9]+[smhdwy]", expr) or re.search(r"\w+:\w+:\w+", expr)
    return RANGE_TOLERANCE if ranged else 0.0


def data_since(prometheus: Prometheus, since: float, scrapes: int) -> bool:
    seconds = max(1, int(time.time() - since))
    expr = f'min(count_over_time(up{{job="streamgauge"}}[{seconds}s])) >= {scrapes}'
    return bool(prometheus.query(expr))


def test_boards_and_rules_read_the_same_with_one_and_with_two_replicas(
    postgres_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, postgres_url)
    a = Replica.start("replica-a", config, tmp_path)
    started = [a]
    servers: list[Prometheus] = []
    try:
        wait_ready([a], within=180)
        deadline = time.monotonic() + 30
        while a.leads() != {"demo", "cd"}:
            assert time.monotonic() < deadline, a.log.read_text()
            time.sleep(0.2)
        b = Replica.start("replica-b", config, tmp_path)
        started.append(b)
        wait_ready([b], within=120)
        assert b.leads() == set()
        same_numbers([a, b])

        one = Prometheus(scrape_config(tmp_path, "one", {"a": a}), tmp_path / "tsdb-one")
        servers.append(one)
        two = Prometheus(scrape_config(tmp_path, "two", {"a": a, "b": b}), tmp_path / "tsdb-two")
        servers.append(two)
        one.wait_ready()
        two.wait_ready()
        scraping = time.time()
        deadline = time.monotonic() + 60
        while not (data_since(one, scraping, 15) and data_since(two, scraping, 15)):
            assert time.monotonic() < deadline, two.output()
            time.sleep(0.5)

        before = deployments(a)
        push_deployments(b, PUSHED)  # stored by B, normalized by A (it leads `cd`)
        deadline = time.monotonic() + 60
        while deployments(a) < before + PUSHED or deployments(b) < before + PUSHED:
            assert time.monotonic() < deadline, a.log.read_text()
            time.sleep(0.3)
        served = same_numbers([a, b])
        stamp = served["streamgauge_snapshot_timestamp_seconds()"]
        changed = time.time()
        # the ranges hold 15 s of samples from before the change and 30 s from after
        while not (data_since(one, changed, 30) and data_since(two, changed, 30)):
            assert time.monotonic() < deadline + 60, two.output()
            time.sleep(0.5)
        at = time.time() - 1.5

        # Both servers saw both replicas serve the same snapshot at that moment.
        stamps = result(two, "streamgauge_snapshot_timestamp_seconds", at)
        assert sorted(dict(k)["pod"] for k in stamps) == ["a", "b"]
        assert set(stamps.values()) == {stamp}
        assert set(result(one, "streamgauge_snapshot_timestamp_seconds", at).values()) == {stamp}
        # The control: read bare, two replicas count every deployment twice.
        bare = "sum(streamgauge_deployments_total)"
        assert result(two, bare, at)[frozenset()] == 2 * result(one, bare, at)[frozenset()]

        differ, answered, moved = [], 0, 0
        for what, expr, tolerance in queries():
            got_one, got_two = result(one, expr, at), result(two, expr, at)
            if PER_TARGET.match(expr):
                pods = (
                    sorted(dict(k)["pod"] for k in got_one),
                    sorted(dict(k)["pod"] for k in got_two),
                )
                if pods != (["a"], ["a", "b"]):
                    differ.append(f"{what}: {expr}: not one series per replica: {pods}")
                continue
            answered += bool(got_one)
            moved += "increase(" in expr and any(v > 0 for v in got_one.values())
            if not same(got_one, got_two, tolerance):
                differ.append(f"{what}: {expr}\n  one: {got_one}\n  two: {got_two}")
        assert differ == [], "\n".join(differ)
        # Not a comparison of empty answers: most queries answer, and the pushed deployments
        # moved the increase() of the deployment panels: per day and in the time range, for
        # the whole organisation and for payments (myapp is payments-api): four.
        assert answered >= 150
        assert moved >= 4
        # A per-process counter is summed: only B received the pushes.
        received = "sum without(instance, pod) (streamgauge_webhook_received_total)"
        cd = frozenset({("job", "streamgauge"), ("source", "cd")})
        assert result(two, received, at) == {cd: PUSHED}
        assert result(one, received, at) == {cd: 0}
        print(json.dumps({"queries_compared": answered, "increase_queries_moved": moved}))
    finally:
        for server in servers:
            server.stop()
        stop(started)
