"""The connector contract, checked over every registered connector.

Each connector type needs an entry in ``EXAMPLES``: a minimal configuration (starting a fake
server through ``request`` when the type talks to one). A registered type without an entry
fails ``test_every_registered_connector_has_an_example``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import Connector, Page, RawRecord, SkippableRecord, SyncContext
from streamgauge.connectors.registry import connectors
from streamgauge.model import Record

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
Example = Callable[[pytest.FixtureRequest, Path], dict[str, Any]]


def _demo(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return {"name": "demo", "type": "demo", "days": 5, "teams": 1}


def _file(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    feed = tmp_path / "records.jsonl"
    feed.write_text(
        '{"kind": "incident", "id": "files:incident:1", "key": "INC-1",'
        ' "opened_at": "2026-01-02T03:04:05Z"}\n'
    )
    return {"name": "files", "type": "file", "path": str(feed)}


def _jira(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    from tests.fakes.jira import FakeJira, FakeProjectData

    data = FakeProjectData()
    data.add_issue("PAY", type="Story", created=datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
    server = FakeJira(data, mode="cloud").start()
    request.addfinalizer(server.stop)
    return {
        "name": "jira",
        "type": "jira",
        "url": server.url,
        "projects": ["PAY"],
        "email": server.email,
        "api_token": server.api_token,
    }


def _github(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    from tests.fakes.github import TOKEN, FakeGitHub, FakeOrg

    org = FakeOrg("acme")
    repo = org.repo("checkout")
    repo.push("PAY-1 first commit", datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
    server = FakeGitHub(org).start()
    request.addfinalizer(server.stop)
    return {
        "name": "github",
        "type": "github",
        "base_url": server.base_url,
        "token": TOKEN,
        "org": "acme",
        "request_spacing": 0,
    }


def _gitlab(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    from tests.fakes.gitlab import TOKEN, FakeGitLab, FakeGroup

    group = FakeGroup("acme")
    group.project("checkout").push("PAY-1 first commit", datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
    server = FakeGitLab(group).start()
    request.addfinalizer(server.stop)
    return {
        "name": "gitlab",
        "type": "gitlab",
        "url": server.url,
        "token": TOKEN,
        "groups": ["acme"],
    }


def _jenkins(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    from tests.fakes.jenkins import TOKEN, USER, FakeJenkins, Instance

    jenkins = Instance()
    jenkins.folder("shop").job("deploy").build(datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
    server = FakeJenkins(jenkins).start()
    request.addfinalizer(server.stop)
    return {
        "name": "jenkins",
        "type": "jenkins",
        "url": server.url,
        "user": USER,
        "api_token": TOKEN,
        "deployments": [{"job": "shop/deploy"}],
    }


def _pagerduty(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    from tests.fakes.pagerduty import TOKEN, FakeAccount, FakePagerDuty

    account = FakeAccount()
    account.service("PCHK001", "Checkout API")
    account.add("PCHK001", "Checkout returns 500", datetime(2026, 1, 10, 9, 0, tzinfo=UTC))
    server = FakePagerDuty(account).start()
    request.addfinalizer(server.stop)
    return {
        "name": "pagerduty",
        "type": "pagerduty",
        "base_url": server.url,
        "token": TOKEN,
        "services": {"PCHK001": {"app": "checkout"}},
    }


def _webhook(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return {"name": "pushed", "type": "webhook", "secret": "a-secret-of-sixteen-chars"}


EXAMPLES: dict[str, Example] = {
    "demo": _demo,
    "file": _file,
    "github": _github,
    "gitlab": _gitlab,
    "jenkins": _jenkins,
    "jira": _jira,
    "pagerduty": _pagerduty,
    "webhook": _webhook,
}
# Sources that are sent to have no streams; their stored requests are normalized instead.
PULLED = sorted(k for k in EXAMPLES if not connectors()[k].pushed)
PUSHED = sorted(k for k in EXAMPLES if connectors()[k].pushed)

REGISTERED = sorted(connectors())


def build(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Connector:
    cls = connectors()[kind]
    config = cls.config_model.model_validate(EXAMPLES[kind](request, tmp_path))
    return cls(config, Settings(), clock=lambda: NOW)


def test_the_builtins_are_registered() -> None:
    assert {"demo", "file"} <= set(REGISTERED)


@pytest.mark.parametrize("kind", REGISTERED)
def test_every_registered_connector_has_an_example(kind: str) -> None:
    assert kind in EXAMPLES, f"add a minimal {kind!r} configuration to EXAMPLES in this file"


@pytest.mark.parametrize("kind", REGISTERED)
def test_config_model_is_a_source_config_typed_by_its_registry_name(kind: str) -> None:
    cls = connectors()[kind]
    assert cls.type == kind
    assert issubclass(cls.config_model, SourceConfig)
    annotation = cls.config_model.model_fields["type"].annotation
    assert get_args(annotation) == (kind,), f"`type` must be Literal[{kind!r}]"


@pytest.mark.parametrize("kind", REGISTERED)
def test_a_config_of_another_type_is_refused_naming_the_source(kind: str) -> None:
    cls = connectors()[kind]
    other = SourceConfig(name="elsewhere", type="other")
    with pytest.raises(TypeError) as info:
        cls(other, Settings(), clock=lambda: NOW)
    assert str(info.value) == (
        f"source 'elsewhere': the {kind} connector needs a {cls.config_model.__name__}, "
        "got SourceConfig"
    )


@pytest.mark.parametrize("kind", PULLED)
def test_streams_have_unique_names(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    connector = build(kind, request, tmp_path)
    names = [stream.name for stream in connector.streams()]
    assert names
    assert all(isinstance(name, str) and name for name in names)
    assert len(names) == len(set(names))


_GARBAGE = [
    {},
    {"kind": "spaceship"},
    {"kind": "deployment", "started_at": "not a time"},
    {"id": 3, "source": None, "key": ["x"]},
]


@pytest.mark.parametrize(("kind", "payload"), list(itertools.product(PULLED, _GARBAGE)))
def test_normalize_refuses_garbage_as_a_skippable_record(
    kind: str, payload: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    connector = build(kind, request, tmp_path)
    for stream in connector.streams():
        raw = RawRecord(stream=stream.name, native_id="garbage", payload=payload, fetched_at=NOW)
        with pytest.raises(SkippableRecord):
            list(connector.normalize(raw))


@pytest.mark.parametrize("kind", PUSHED)
def test_a_pushed_source_has_no_streams(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    assert list(build(kind, request, tmp_path).streams()) == []


@pytest.mark.parametrize(("kind", "payload"), list(itertools.product(PUSHED, _GARBAGE)))
def test_a_pushed_source_refuses_garbage_as_a_skippable_record(
    kind: str, payload: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    connector = build(kind, request, tmp_path)
    stored = {"content_type": "application/json", "headers": {}, "body": json.dumps(payload)}
    raw = RawRecord(stream="events", native_id="garbage", payload=stored, fetched_at=NOW)
    with pytest.raises(SkippableRecord):
        list(connector.normalize(raw))


@pytest.mark.parametrize("kind", PULLED)
def test_a_fresh_read_yields_pages_with_string_cursors_and_records(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    connector = build(kind, request, tmp_path)
    ctx = SyncContext(source=connector.name, started_at=NOW)
    records: list[Record] = []
    try:
        for stream in connector.streams():
            for page in stream.read(None, ctx):
                assert isinstance(page, Page)
                assert page.cursor is None or isinstance(page.cursor, str)
                for raw in page.raws:
                    assert isinstance(raw, RawRecord)
                    assert raw.stream == stream.name
                    records.extend(connector.normalize(raw))
    finally:
        connector.close()
    assert records, "the example configuration yields at least one record"
    assert all(isinstance(r, Record) for r in records)
    assert all(r.id.startswith(f"{r.source}:{r.kind}:") for r in records)
