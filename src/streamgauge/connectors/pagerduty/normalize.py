"""PagerDuty incidents onto the model: resolution, severity, and the service's app and team."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from streamgauge.config import Settings
from streamgauge.connectors.base import RawRecord, SkippableRecord
from streamgauge.connectors.pagerduty.config import PagerdutyConfig
from streamgauge.model import Incident, Severity, make_id


def parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected an ISO 8601 timestamp, got {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{name}: timestamp {value!r} has no time zone")
    return parsed


def severity_of(incident: Mapping[str, Any], config: PagerdutyConfig) -> tuple[Severity, str]:
    """(severity, the tool's value): the priority when `priorities` names it, else the urgency."""
    priority = incident.get("priority")
    if isinstance(priority, dict):
        name = priority.get("name") or priority.get("summary")
        if isinstance(name, str) and name:
            found = config.priority_severity(name)
            if found is not None:
                return found, name
    urgency = incident.get("urgency")
    if isinstance(urgency, str) and urgency:
        return config.urgency_severities.get(urgency, Severity.UNKNOWN), urgency
    return Severity.UNKNOWN, ""


def normalize_incident(
    raw: RawRecord, *, source: str, config: PagerdutyConfig, settings: Settings
) -> list[Incident]:
    """One incident; :class:`SkippableRecord` naming the field when the payload does not fit."""
    p = raw.payload
    try:
        if p.get("type") not in ("incident", "incident_reference"):
            raise ValueError(f"type: {p.get('type')!r} is not an incident")
        native_id = p["id"]
        if not isinstance(native_id, str) or not native_id:
            raise ValueError(f"id: {native_id!r} is not an incident id")
        service = p["service"]["id"]
        opened = parse_time(p["created_at"], "created_at")
        # The resolution is `resolved_at`: `last_status_change_at` also moves on an
        # acknowledgement, a reassignment or an urgency change, and would end recovery early.
        resolved = (
            parse_time(p["resolved_at"], "resolved_at")
            if p.get("status") == "resolved" and p.get("resolved_at") is not None
            else None
        )
        severity, original = severity_of(p, config)
        title = p.get("title") or p.get("summary") or ""
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SkippableRecord(
            f"incident {raw.native_id}: malformed payload ({type(exc).__name__}: {exc})"
        ) from None
    mapping = config.services.get(str(service))
    app = (mapping.app if mapping else None) or config.app
    team = (mapping.team if mapping else None) or (settings.team_of_app(app) if app else None)
    return [
        Incident(
            id=make_id(source, "incident", native_id),
            source=source,
            team=team or config.team,
            app=app,
            key=native_id,
            title=str(title),
            opened_at=opened,
            resolved_at=resolved,
            severity=severity,
            original_severity=original,
        )
    ]
