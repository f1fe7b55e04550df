"""The CDEvents spec's conformance examples (cdevents/spec ``conformance/*.json``, tags v0.4.1
and v0.5.1) for every event type streamgauge uses, rebuilt from their field values.

v0.4.1 names the spec version ``context.version``, v0.5.1 ``context.specversion``; v0.4.1
subjects carry a ``type``, v0.5.1 ones do not; a pipeline run's link is ``url`` in v0.4.1 and
``uri`` in v0.5.1; each event type's own version moved on by one minor between the two.
"""

from __future__ import annotations

import copy
from typing import Any

VERSIONS = ("0.4.1", "0.5.1")
ARTIFACT = "pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427"
ARTIFACT_RESOLVED = (
    "pkg:oci/myapp@sha256%3A0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93439"
)
# The event-type versions each spec release pins.
_TYPE_VERSIONS: dict[str, dict[str, str]] = {
    "0.4.1": {"change.created": "0.3.0"},
    "0.5.1": {"change.created": "0.4.0"},
}
_DEFAULT_TYPE_VERSION = {"0.4.1": "0.2.0", "0.5.1": "0.3.0"}
_SUBJECT_TYPES = {
    "service": "service",
    "pipelinerun": "pipelineRun",
    "build": "build",
    "change": "change",
    "incident": "incident",
}
_LINKS = [
    {
        "linkType": "RELATION",
        "linkKind": "TRIGGER",
        "target": {"contextId": "5328c37f-bb7e-4bb7-84ea-9f5f85e4a7ce"},
        "tags": {"foo1": "bar", "foo2": "bar"},
    },
    {
        "linkType": "PATH",
        "from": {"contextId": "5328c37f-bb7e-4bb7-84ea-9f5f85e4a7ce"},
        "tags": {"foo1": "bar", "foo2": "bar"},
    },
    {
        "linkType": "END",
        "from": {"contextId": "5328c37f-bb7e-4bb7-84ea-9f5f85e4a7ce"},
        "tags": {"foo1": "bar", "foo2": "bar"},
    },
]
_DELIVERY = {
    "id": "271069a8-fc18-44f1-b38f-9d70a1695819",
    "source": "/event/source/123",
    "timestamp": "2023-03-20T14:27:05.315384Z",
}
_MONITORING = {
    "id": "F4BD2B55-B6F6-4F44-AF72-BD2D0E7A8708",
    "source": "/monitoring/prod1",
    "timestamp": "2022-11-11T13:52:20.079Z",
}
_INCIDENT_PLACE = {
    "environment": {"id": "prod1", "source": "/iaas/geo1"},
    "service": {"id": "myApp", "source": "/clusterA/namespaceB"},
}


def _content(kind: str, version: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(context fields, subject fields, customData) of one example."""
    link = "url" if version == "0.4.1" else "uri"
    repository = {"repository": {"id": "TestRepo/TestOrg", "source": "https://example.org"}}
    delivery_subject = {"id": "mySubject123", "source": "/event/source/123"}
    if kind.startswith("service."):
        content = {"environment": {"id": "test123"}, "artifactId": ARTIFACT}
        return _DELIVERY, {**delivery_subject, "content": content}, {}
    if kind == "pipelinerun.finished":
        content = {
            "pipelineName": "myPipeline",
            link: "https://www.example.com/mySubject123",
            "outcome": "failure",
            "errors": "Something went wrong\nWith some more details",
        }
        return _DELIVERY, {**delivery_subject, "content": content}, {}
    if kind == "build.finished":
        return _DELIVERY, {**delivery_subject, "content": {"artifactId": ARTIFACT}}, {}
    if kind == "change.created":
        content = {"description": "This PR address a bug from a recent PR", **repository}
        return _DELIVERY, {**delivery_subject, "content": content}, {}
    if kind.startswith("change."):
        return _DELIVERY, {**delivery_subject, "content": dict(repository)}, {}
    incident_subject = {"id": "incident-123", "source": "/monitoring/prod1"}
    if kind == "incident.detected":
        content = {
            "description": "Response time above threshold of 100ms",
            **_INCIDENT_PLACE,
            "artifactId": ARTIFACT,
        }
        custom = {"metric": "responseTime", "threshold": "100ms", "value": "200ms"}
        return _MONITORING, {**incident_subject, "content": content}, custom
    if kind == "incident.reported":
        content = {
            "description": "Response time above threshold of 100ms",
            **_INCIDENT_PLACE,
            "artifactId": ARTIFACT,
            "ticketURI": "https://my-issues.example/incidents/ticket-345",
        }
        custom = {"severity": "medium", "priority": "critical", "reportedBy": "userId"}
        return _MONITORING, {**incident_subject, "content": content}, custom
    if kind == "incident.resolved":
        content = {
            "description": "Response time restored below 100ms",
            **_INCIDENT_PLACE,
            "artifactId": ARTIFACT_RESOLVED,
        }
        custom = {"metric": "responseTime", "threshold": "100ms", "value": "70ms"}
        return _MONITORING, {**incident_subject, "content": content}, custom
    raise KeyError(kind)


TYPES = (
    "service.deployed",
    "service.upgraded",
    "service.rolledback",
    "pipelinerun.finished",
    "build.finished",
    "change.created",
    "change.reviewed",
    "change.merged",
    "incident.detected",
    "incident.reported",
    "incident.resolved",
)


def example(kind: str, version: str) -> dict[str, Any]:
    """The spec's example of ``kind`` ("service.deployed") in spec ``version``."""
    context_fields, subject, custom = _content(kind, version)
    type_version = _TYPE_VERSIONS[version].get(kind, _DEFAULT_TYPE_VERSION[version])
    context: dict[str, Any] = {"specversion" if version == "0.5.1" else "version": version}
    context.update(
        {
            "id": context_fields["id"],
            "chainId": "4c8cb7dd-3448-41de-8768-eec704e2829b",
            "source": context_fields["source"],
            "type": f"dev.cdevents.{kind}.{type_version}",
            "timestamp": context_fields["timestamp"],
            "schemaUri": "https://myorg.com/schema/custom",
            "links": copy.deepcopy(_LINKS),
        }
    )
    subject = copy.deepcopy(subject)
    if version == "0.4.1":
        subject = {
            "id": subject["id"],
            "source": subject["source"],
            "type": _SUBJECT_TYPES[kind.split(".")[0]],
            "content": subject["content"],
        }
    event: dict[str, Any] = {"context": context, "subject": subject}
    if custom:
        event["customData"] = dict(custom)
        event["customDataContentType"] = "application/json"
    return event
