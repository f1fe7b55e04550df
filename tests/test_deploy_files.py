"""The container files fit the program: the configuration validates and every path exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from streamgauge.config import DEFAULT_PORT, load_settings

DEPLOY = Path(__file__).parent.parent / "deploy"


def test_container_configuration_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "JIRA_EMAIL", "JIRA_API_TOKEN"):
        monkeypatch.setenv(name, f"{name.lower()}-value")
    settings = load_settings(DEPLOY / "streamgauge.yaml")
    assert [s.type for s in settings.sources] == ["github", "jira"]
    assert settings.server.port == DEFAULT_PORT
    assert "github_token-value" not in repr(settings)


def test_compose_mounts_and_builds_from_files_that_exist() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"streamgauge", "prometheus", "alertmanager", "grafana"} <= set(services)
    build = services["streamgauge"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is missing"
    assert services["streamgauge"]["ports"] == [f"{DEFAULT_PORT}:{DEFAULT_PORT}"]


def test_dockerfile_copies_what_exists() -> None:
    root = DEPLOY.parent
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        for source in sources.split():
            assert (root / source).exists(), source
    assert f"EXPOSE {DEFAULT_PORT}" in text
    assert re.search(r"^USER streamgauge$", text, flags=re.MULTILINE)


def test_kubernetes_manifests_agree_with_the_program() -> None:
    docs = list(
        yaml.safe_load_all((DEPLOY / "kubernetes" / "streamgauge.yaml").read_text(encoding="utf-8"))
    )
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"PersistentVolumeClaim", "Deployment", "Service"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == DEFAULT_PORT
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
