"""docs/metrics.md documents exactly the families the exporter exposes, with their labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamgauge.config import Settings
from streamgauge.connectors.base import SyncContext
from streamgauge.connectors.demo import DemoConfig, DemoConnector
from streamgauge.exposition.collector import Exposition, ServedState
from streamgauge.metrics import compute_all
from streamgauge.metrics.catalog import COMPUTED, HEALTH
from streamgauge.model import Dataset
from streamgauge.store.types import SourceHealth

DOC = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text(encoding="utf-8")
NOW = datetime(2026, 3, 1, tzinfo=UTC)
# with a target, so that streamgauge_target has a sample (it has one per target configured)
SETTINGS = Settings(
    teams={
        "payments": {
            "apps": ["payments-api", "payments-web"],
            "targets": [
                {"metric": "value_stream_stage_time_window_seconds", "stage": "pickup", "max": "1d"}
            ],
        }
    },
    windows=["7d", "30d"],
    # a backlog, so that streamgauge_forecast_done_seconds has samples (it has them per backlog)
    forecast={"backlogs": [{"name": "payments", "project": "PAY"}]},
)


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    """Each ``### `name` `` section: its type and its label names."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for match in re.finditer(r"^### `(streamgauge_[a-z_]+)`\n(.*?)(?=^#)", DOC, re.M | re.S):
        body = match.group(2)
        kind = re.search(r"^- Type: (\w+)$", body, re.M)
        label_line = re.search(r"^- Labels: (.*)$", body, re.M)
        assert kind, f"{match.group(1)}: needs a '- Type:' line"
        assert label_line, f"{match.group(1)}: needs a '- Labels:' line"
        assert re.search(r"^- Rules: ", body, re.M), f"{match.group(1)}: needs a '- Rules:' line"
        names = frozenset(re.findall(r"`([a-z_]+)`", label_line.group(1)))
        out[match.group(1)] = (kind.group(1), names)
    return out


@pytest.fixture(scope="module")
def exposed() -> dict[str, tuple[str, frozenset[str]]]:
    """Family -> (type, label names) as the exporter serves a demo organisation's snapshot."""
    config = DemoConfig.model_validate(
        {"name": "demo", "type": "demo", "days": 30, "start": "2026-01-20T00:00:00Z"}
    )
    demo = DemoConnector(config, Settings())
    data = Dataset()
    ctx = SyncContext(source="demo", started_at=NOW, cursors={})
    for stream in demo.streams():
        for page in stream.read(None, ctx):
            for raw in page.raws:
                for record in demo.normalize(raw):
                    data.add(record)
    health = SourceHealth("demo", NOW, 0, len(data), 0, 12, 4999, None)
    exposition = Exposition(
        ServedState(
            snapshot=compute_all(data, now=NOW, settings=SETTINGS),
            health=[health],
            sources=("demo",),
        )
    )
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for family in text_string_to_metric_families(exposition.rendered.text.decode()):
        labels: set[str] = set()
        for sample in family.samples:
            labels.update(k for k in sample.labels if k != "le")
        name = family.name + ("_total" if family.type == "counter" else "")
        out[name] = (family.type, frozenset(labels))
    return out


def test_every_exposed_family_is_documented_with_its_type_and_labels(
    exposed: dict[str, tuple[str, frozenset[str]]],
) -> None:
    docs = documented()
    for name, (kind, labels) in exposed.items():
        assert name in docs, f"{name} is exposed but not in docs/metrics.md"
        doc_kind, doc_labels = docs[name]
        assert doc_kind == kind, name
        assert labels <= doc_labels, f"{name}: exposed labels {sorted(labels)}"


def test_every_documented_family_exists_with_exactly_its_labels(
    exposed: dict[str, tuple[str, frozenset[str]]],
) -> None:
    catalog = {m.name: m for m in COMPUTED + HEALTH}
    for name, (kind, labels) in documented().items():
        assert name in exposed, f"{name} is documented but not exposed"
        if name in catalog:
            assert labels == frozenset(catalog[name].labels), name
            assert kind == catalog[name].kind, name


def test_the_demo_exposes_a_sample_of_every_computed_family(
    exposed: dict[str, tuple[str, frozenset[str]]],
) -> None:
    # an exposed family with samples shows its labels, so the label check above is real
    for metric in COMPUTED:
        assert exposed[metric.name][1] == frozenset(metric.labels), metric.name


def test_every_configuration_rule_is_documented() -> None:
    for key in Settings().metrics.model_dump():
        assert f"`metrics.{key}`" in DOC, key
