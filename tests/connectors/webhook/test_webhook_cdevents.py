"""Every CDEvents spec example of the event types streamgauge uses, in both spec versions,
normalized to the records a person expects from reading the example."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.connectors.webhook.conftest import SOURCE, make_connector
from tests.fakes.webhook.sender import as_body, binary, structured
from tests.fakes.webhook.spec_examples import TYPES, VERSIONS, example

from streamgauge.connectors.base import SkippableRecord
from streamgauge.connectors.webhook import WebhookConnector, envelope
from streamgauge.connectors.webhook.merge import merge
from streamgauge.model import (
    Change,
    ChangeState,
    Deployment,
    DeploymentKind,
    Environment,
    Incident,
    PipelineRun,
    Record,
    RunResult,
    Severity,
)

# The spec's delivery examples all happen at this moment, its incident examples at the other.
DELIVERED = datetime(2023, 3, 20, 14, 27, 5, 315384, tzinfo=UTC)
MONITORED = datetime(2022, 11, 11, 13, 52, 20, 79000, tzinfo=UTC)
DEPLOY_ID = f"{SOURCE}:deployment:271069a8-fc18-44f1-b38f-9d70a1695819"
CHANGE_ID = f"{SOURCE}:change:TestRepo/TestOrg#mySubject123"
INCIDENT_ID = f"{SOURCE}:incident:incident-123"


def _deployment(kind: DeploymentKind, original: str) -> Deployment:
    # environment "test123" holds "test": testing; the artifact pkg:oci/myapp is the
    # component myapp, which the apps rule places in checkout, a payments app
    return Deployment(
        id=DEPLOY_ID,
        source=SOURCE,
        team="payments",
        app="checkout",
        environment=Environment.TESTING,
        original_environment="test123",
        started_at=DELIVERED,
        finished_at=DELIVERED,
        result=RunResult.SUCCESS,
        original_result=original,
        deployment_kind=kind,
    )


def _change(**fields: Any) -> Change:
    # repository TestRepo/TestOrg matches no rule: no team, no app; "mySubject123" is no number
    return Change(
        id=CHANGE_ID,
        source=SOURCE,
        repo="TestRepo/TestOrg",
        number=0,
        created_at=DELIVERED,
        updated_at=DELIVERED,
        **{"state": ChangeState.OPEN, **fields},
    )


def _incident(**fields: Any) -> Incident:
    # service myApp is no rule's, its artifact pkg:oci/myapp is checkout's component
    return Incident(
        id=INCIDENT_ID,
        source=SOURCE,
        team="payments",
        app="checkout",
        key="incident-123",
        opened_at=MONITORED,
        **fields,
    )


EXPECTED: dict[str, Record] = {
    "service.deployed": _deployment(DeploymentKind.REGULAR, "deployed"),
    "service.upgraded": _deployment(DeploymentKind.REGULAR, "upgraded"),
    "service.rolledback": _deployment(DeploymentKind.ROLLBACK, "rolledback"),
    # outcome "failure"; pipeline myPipeline matches no rule
    "pipelinerun.finished": PipelineRun(
        id=f"{SOURCE}:pipeline_run:/event/source/123#mySubject123",
        source=SOURCE,
        pipeline="myPipeline",
        started_at=DELIVERED,
        finished_at=DELIVERED,
        result=RunResult.FAILURE,
        original_result="failure",
    ),
    # a build has no outcome: it finished, so it succeeded; named after its artifact
    "build.finished": PipelineRun(
        id=f"{SOURCE}:pipeline_run:/event/source/123#mySubject123",
        source=SOURCE,
        team="payments",
        app="checkout",
        pipeline="myapp",
        started_at=DELIVERED,
        finished_at=DELIVERED,
        result=RunResult.SUCCESS,
    ),
    "change.created": _change(),
    "change.reviewed": _change(first_review_at=DELIVERED),
    "change.merged": _change(state=ChangeState.MERGED, merged_at=DELIVERED),
    "incident.detected": _incident(title="Response time above threshold of 100ms"),
    # customData.severity "medium"
    "incident.reported": _incident(
        title="Response time above threshold of 100ms",
        severity=Severity.MEDIUM,
        original_severity="medium",
    ),
    # a resolution says when service came back; its description is not the incident's title
    "incident.resolved": _incident(resolved_at=MONITORED),
}


def _records(connector: WebhookConnector, body: bytes, headers: dict[str, str]) -> list[Record]:
    ctype = headers.pop("Content-Type", "application/json")
    lowered = {k.lower(): v for k, v in headers.items()}
    normalized = connector.normalize_request(ctype, lowered, body)
    assert normalized is not None
    return normalized.records


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("mode", ["plain", "structured", "binary"])
def test_every_spec_example_gives_its_record(kind: str, version: str, mode: str) -> None:
    event = example(kind, version)
    if mode == "plain":
        body, headers = as_body(event), {"Content-Type": "application/json"}
    else:
        body, headers = (structured if mode == "structured" else binary)(event)
    assert _records(make_connector(), body, headers) == [EXPECTED[kind]]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("mode", ["plain", "structured", "binary"])
def test_the_dedup_key_is_the_context_source_and_id_in_every_mode(version: str, mode: str) -> None:
    event = example("service.deployed", version)
    if mode == "plain":
        body, headers = as_body(event), {"Content-Type": "application/json"}
    else:
        body, headers = (structured if mode == "structured" else binary)(event)
    ctype = headers.pop("Content-Type")
    read = envelope.read(ctype, {k.lower(): v for k, v in headers.items()}, body)
    assert read.dedup_key == 'cdevent:["/event/source/123","271069a8-fc18-44f1-b38f-9d70a1695819"]'


def test_a_structured_event_may_carry_its_cdevent_as_base64() -> None:
    body, _ = structured(example("incident.reported", "0.5.1"))
    cloudevent = json.loads(body)
    cloudevent["data_base64"] = base64.b64encode(as_body(cloudevent.pop("data"))).decode()
    records = _records(
        make_connector(), as_body(cloudevent), {"Content-Type": "application/cloudevents+json"}
    )
    assert records == [EXPECTED["incident.reported"]]


def test_a_binary_event_without_context_ids_is_keyed_by_its_ce_headers() -> None:
    event = example("service.deployed", "0.5.1")
    _, headers = binary(event)
    event["context"].pop("id")
    read = envelope.read(
        "application/json", {k.lower(): v for k, v in headers.items()}, as_body(event)
    )
    # ce-source was percent-encoded by the sender and is decoded
    assert (
        read.dedup_key == 'cloudevent:["/event/source/123", "271069a8-fc18-44f1-b38f-9d70a1695819"]'
    )


def test_without_ids_the_webhook_id_then_the_body_digest_is_the_key() -> None:
    body = b'{"kind": "incident"}'
    assert envelope.read("application/json", {"webhook-id": "msg_1"}, body).dedup_key == (
        "webhook-id:msg_1"
    )
    # as `printf '%s' '{"kind": "incident"}' | sha256sum` gives it
    digest = "592cd3bfc9f4d8020ac22050ffdc20be5cce645c2e75823b68acedd15f3dd50f"
    assert envelope.read("application/json", {}, body).dedup_key == f"sha256:{digest}"


def test_custom_data_carries_what_cdevents_lack() -> None:
    event = example("service.deployed", "0.5.1")
    event["subject"]["content"]["environment"]["id"] = "prod-eu"
    event["customData"] = {
        "repo": "acme/checkout",
        "sha": "c0ffee",
        "commits": ["c0ffee", "beef42"],
        "startedAt": "2023-03-20T14:20:00Z",
        "outcome": "failure",
        "kind": "hotfix",
        "incidents": ["INC-7"],
        "app": "payments-api",
        "team": "core",
    }
    (record,) = _records(make_connector(), as_body(event), {})
    assert record == Deployment(
        id=DEPLOY_ID,
        source=SOURCE,
        team="core",
        app="payments-api",
        environment=Environment.PRODUCTION,  # "prod-eu" holds "prod"
        original_environment="prod-eu",
        repo="acme/checkout",
        sha="c0ffee",
        started_at=datetime(2023, 3, 20, 14, 20, tzinfo=UTC),
        finished_at=DELIVERED,
        result=RunResult.FAILURE,
        original_result="failure",
        deployment_kind=DeploymentKind.HOTFIX,
        commit_shas=("c0ffee", "beef42"),
        incident_keys=("INC-7",),
    )


def test_configured_environments_and_artifacts_win_over_guesses() -> None:
    connector = make_connector(
        environments={"test123": "production"}, artifact_apps={"myapp": "storefront"}, team="web"
    )
    (record,) = _records(connector, as_body(example("service.deployed", "0.4.1")), {})
    assert isinstance(record, Deployment)
    assert (record.environment, record.app, record.team) == (
        Environment.PRODUCTION,
        "storefront",
        "web",  # storefront is no configured team's app: the source's team
    )


def test_change_events_merge_into_one_change_in_any_order() -> None:
    connector = make_connector()
    custom = {
        "number": 42,
        "title": "Fix rounding",
        "firstCommitAt": "2023-03-19T09:00:00Z",
        "workItems": ["PAY-7"],
    }
    events = []
    for kind, stamp in (
        ("change.created", "2023-03-20T10:00:00Z"),
        ("change.reviewed", "2023-03-20T12:00:00Z"),
        ("change.merged", "2023-03-20T14:00:00Z"),
    ):
        event = example(kind, "0.5.1")
        event["context"]["timestamp"] = stamp
        event["customData"] = dict(custom, sha="abc123") if kind == "change.merged" else custom
        (record,) = _records(connector, as_body(event), {})
        events.append(record)
    forward = merge(merge(events[0], events[1]), events[2])
    backward = merge(merge(events[2], events[1]), events[0])
    expected = Change(
        id=CHANGE_ID,
        source=SOURCE,
        repo="TestRepo/TestOrg",
        number=42,
        title="Fix rounding",
        state=ChangeState.MERGED,
        created_at=datetime(2023, 3, 20, 10, tzinfo=UTC),
        first_commit_at=datetime(2023, 3, 19, 9, tzinfo=UTC),
        first_review_at=datetime(2023, 3, 20, 12, tzinfo=UTC),
        merged_at=datetime(2023, 3, 20, 14, tzinfo=UTC),
        merge_sha="abc123",
        work_item_keys=("PAY-7",),
        updated_at=datetime(2023, 3, 20, 14, tzinfo=UTC),
    )
    assert forward == expected
    assert backward == expected
    assert merge(forward, events[1]) == expected  # a replay changes nothing


def test_incident_events_merge_into_one_incident() -> None:
    connector = make_connector()
    parts = []
    for kind, stamp in (
        ("incident.detected", "2022-11-11T13:52:20Z"),
        ("incident.reported", "2022-11-11T14:00:00Z"),
        ("incident.resolved", "2022-11-11T15:30:00Z"),
    ):
        event = example(kind, "0.4.1")
        event["context"]["timestamp"] = stamp
        (record,) = _records(connector, as_body(event), {})
        parts.append(record)
    resolved_first = merge(merge(parts[2], parts[0]), parts[1])
    # opened at detection, resolved 1 h 37 min 40 s later, severity from the report
    assert resolved_first == Incident(
        id=INCIDENT_ID,
        source=SOURCE,
        team="payments",
        app="checkout",
        key="incident-123",
        title="Response time above threshold of 100ms",
        opened_at=datetime(2022, 11, 11, 13, 52, 20, tzinfo=UTC),
        resolved_at=datetime(2022, 11, 11, 15, 30, tzinfo=UTC),
        severity=Severity.MEDIUM,
        original_severity="medium",
    )


@pytest.mark.parametrize(
    "kind", ["dev.cdevents.artifact.published.0.2.0", "dev.cdevents.taskrun.finished.0.3.0"]
)
def test_an_event_type_no_metric_uses_is_ignored(kind: str) -> None:
    event = example("build.finished", "0.5.1")
    event["context"]["type"] = kind
    assert make_connector().normalize_request("application/json", {}, as_body(event)) is None


@pytest.mark.parametrize(
    ("break_it", "field"),
    [
        (lambda e: e["context"].pop("timestamp"), "context.timestamp"),
        (lambda e: e["context"].update(timestamp="yesterday"), "context.timestamp"),
        (lambda e: e["subject"].pop("id"), "subject.id"),
        (lambda e: e["subject"]["content"].pop("environment"), "environment.id"),
        (lambda e: e.update(customData={"commits": "c0ffee"}), "customData.commits"),
        (lambda e: e["context"].update(type="com.example.thing"), "context.type"),
    ],
)
def test_a_malformed_event_is_skippable_naming_the_field(break_it: Any, field: str) -> None:
    event = example("service.deployed", "0.5.1")
    break_it(event)
    with pytest.raises(SkippableRecord, match=field.replace(".", r"\.")):
        make_connector().normalize_request("application/json", {}, as_body(event))


def test_plain_records_are_the_file_sources_json_form() -> None:
    body = as_body(
        [
            {
                "kind": "incident",
                "id": "cd:incident:INC-1",
                "key": "INC-1",
                "opened_at": "2026-01-02T03:04:05Z",
                "app": "checkout",
            },
            {"kind": "incident", "id": "cd:incident:INC-2"},  # no key, no opened_at
        ]
    )
    normalized = make_connector().normalize_request("application/json", {}, body)
    assert normalized is not None
    assert normalized.records == [
        Incident(
            id="cd:incident:INC-1",
            source=SOURCE,
            app="checkout",  # as the file source reads it: a given app is kept, no team rule matched
            key="INC-1",
            opened_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        )
    ]
    assert normalized.errors == ["record 2: key: is required for kind 'incident'"]
    assert normalized.partial is False
