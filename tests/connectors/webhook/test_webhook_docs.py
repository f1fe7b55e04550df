"""docs/webhook.md: its shell example really delivers, and it lists every key and metric."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.connectors.webhook.conftest import SOURCE
from tests.fakes.webhook.sender import SECRET, IntakeServer

from streamgauge.connectors.webhook import WebhookConfig
from streamgauge.connectors.webhook.auth import github_signature
from streamgauge.connectors.webhook.counters import WebhookCounters
from streamgauge.connectors.webhook.intake import Intake
from streamgauge.model import Environment
from streamgauge.store import Store

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "webhook.md").read_text(encoding="utf-8")


def block_after(heading: str, language: str) -> str:
    section = DOC.split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block after {heading}"
    return match.group(1)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_the_shell_example_delivers_a_signed_deployment(
    server: IntakeServer, intake: Intake, store: Store
) -> None:
    script = block_after("### A shell script", "sh").replace(
        "https://streamgauge.example.com/webhooks/deploys", server.url
    )
    done = subprocess.run(
        ["sh", "-c", script],
        env={"PATH": "/usr/bin:/bin", "DEPLOYS_WEBHOOK_SECRET": SECRET},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "accepted\n"
    assert intake.normalize_pending().normalized == 1
    (deployment,) = store.load_dataset().deployments
    assert deployment.environment is Environment.PRODUCTION
    assert deployment.repo == "acme/checkout"
    assert deployment.sha is not None
    assert len(deployment.sha) == 40


def test_every_configuration_key_is_documented() -> None:
    for key in WebhookConfig.model_fields:
        assert re.search(rf"^\| `{key}` \|", DOC, re.M), key


def test_the_metric_table_lists_exactly_the_exported_families() -> None:
    registry = CollectorRegistry()
    registry.register(WebhookCounters([SOURCE]))
    exported = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        suffix = "_total" if family.type == "counter" else ""
        labels = {k for s in family.samples for k in s.labels}
        exported[family.name + suffix] = (family.type, labels)
    documented = {
        name: (kind, set(re.split(r",\s*", labels)))
        for name, labels, kind in re.findall(
            r"^\| `(streamgauge_webhook_[a-z_]+)\{([a-z, ]+)\}` \| (\w+) \|", DOC, re.M
        )
    }
    assert documented == exported


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
@pytest.mark.parametrize(
    ("heading", "variable"),
    [("### GitHub Actions", "SECRET"), ("### GitLab CI", "STREAMGAUGE_WEBHOOK_SECRET")],
)
def test_the_ci_examples_sign_as_github_does(heading: str, variable: str) -> None:
    section = DOC.split(heading, 1)[1]
    (line,) = [s.strip() for s in section.splitlines() if s.strip().startswith("signature=")][:1]
    body = '{"context": {"id": "x"}, "note": "a body with spaces, quotes \\" and unicode é"}'
    done = subprocess.run(
        ["sh", "-c", f'{line}\nprintf "%s" "$signature"'],
        env={"PATH": "/usr/bin:/bin", "body": body, variable: SECRET},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert f"sha256={done.stdout}" == github_signature(SECRET, body.encode())
