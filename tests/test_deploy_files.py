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
    assert services["streamgauge"]["ports"] == [f"127.0.0.1:{DEFAULT_PORT}:{DEFAULT_PORT}"]


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


def test_only_the_container_and_kubernetes_listen_on_every_address(tmp_path: Path) -> None:
    # A configuration that names no host listens on this machine only ...
    minimal = tmp_path / "minimal.yaml"
    minimal.write_text("sources: [{name: demo, type: demo}]\n")
    assert load_settings(minimal).server.host == "127.0.0.1"
    # ... and the image and the pod ask for every address themselves.
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "STREAMGAUGE_SERVER__HOST=0.0.0.0" in dockerfile
    docs = yaml.safe_load_all((DEPLOY / "kubernetes" / "streamgauge.yaml").read_text())
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "STREAMGAUGE_SERVER__HOST", "value": "0.0.0.0"} in container["env"]


def test_the_image_checks_its_health_on_the_configured_port_and_carries_its_labels() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    (check,) = re.findall(r"^HEALTHCHECK .*$", text, flags=re.MULTILINE)
    assert check.endswith('CMD ["streamgauge", "healthcheck"]')
    assert str(DEFAULT_PORT) not in check
    for label in ("title", "description", "licenses", "version"):
        assert f"org.opencontainers.image.{label}=" in text
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in text


def test_the_license_file_is_the_one_pyproject_names() -> None:
    root = DEPLOY.parent
    assert 'license = "Apache-2.0"' in (root / "pyproject.toml").read_text(encoding="utf-8")
    text = (root / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = {
        line.strip()
        for line in (DEPLOY.parent / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "data", ".git", "**/*.db"} <= ignored
    # ... and none of what the image is built from
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        assert not set(sources.split()) & ignored, sources


def test_compose_publishes_on_loopback_with_health_checks_and_no_default_password() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every address"
        assert service["healthcheck"]["test"], name
        for needed, condition in service.get("depends_on", {}).items():
            assert needed in services
            assert condition == {"condition": "service_healthy"}, (name, needed)
    assert services["prometheus"]["depends_on"] == {"streamgauge": {"condition": "service_healthy"}}
    grafana = services["grafana"]["environment"]
    # compose's ${VAR:?message} refuses to start when the variable is unset: no admin/admin
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_compose_replicas_option_runs_two_replicas_on_the_compose_postgresql() -> None:
    base = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))["services"]
    extra = yaml.safe_load((DEPLOY / "compose.replicas.yaml").read_text(encoding="utf-8"))
    services = extra["services"]
    replicas = [name for name in services if name.startswith("streamgauge")]
    assert replicas == ["streamgauge", "streamgauge-2"]
    postgres = base["postgres"]["environment"]
    for name in replicas:
        url = services[name]["environment"]["STREAMGAUGE_STORE__URL"]
        # the database, user and host of the compose stack's own PostgreSQL service
        assert url == (
            f"postgresql+psycopg://{postgres['POSTGRES_USER']}@postgres:5432/"
            f"{postgres['POSTGRES_DB']}"
        )
        assert services[name]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    second = services["streamgauge-2"]
    assert second["ports"] == [f"127.0.0.1:9465:{DEFAULT_PORT}"]  # beside the first's 9464
    assert second["build"] == base["streamgauge"]["build"]
    assert second["healthcheck"]["test"] == base["streamgauge"]["healthcheck"]["test"]
    # Prometheus scrapes both replicas in the one job the alerts select on, with the same rules
    (flag,) = [a for a in services["prometheus"]["command"] if a.startswith("--config.file=")]
    config_path = DEPLOY / "prometheus" / Path(flag.removeprefix("--config.file=")).name
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    single = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == single["rule_files"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == single["scrape_configs"][0]["job_name"]
    assert job["static_configs"] == [
        {"targets": [f"streamgauge:{DEFAULT_PORT}", f"streamgauge-2:{DEFAULT_PORT}"]}
    ]
