"""What the fake PagerDuty holds: services and their incidents, in the API's own JSON shape."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def pd_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeIncident:
    id: str
    number: int
    service: str
    title: str
    created_at: datetime
    urgency: str = "high"
    priority: str | None = None  # "P1".."P5"
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    malformed: bool = False  # `created_at` is no timestamp

    @property
    def status(self) -> str:
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "triggered"


@dataclass
class FakeAccount:
    subdomain: str = "acme"
    services: dict[str, str] = field(default_factory=dict)  # id -> name
    incidents: list[FakeIncident] = field(default_factory=list)
    _ids: random.Random = field(default_factory=lambda: random.Random(7))

    def service(self, service_id: str, name: str) -> str:
        self.services[service_id] = name
        return service_id

    def add(
        self,
        service: str,
        title: str,
        created_at: datetime,
        *,
        urgency: str = "high",
        priority: str | None = None,
        acknowledged_at: datetime | None = None,
        resolved_at: datetime | None = None,
        malformed: bool = False,
    ) -> FakeIncident:
        incident = FakeIncident(
            id="Q" + "".join(self._ids.choice(_ALPHABET) for _ in range(13)),
            number=len(self.incidents) + 1,
            service=service,
            title=title,
            created_at=created_at,
            urgency=urgency,
            priority=priority,
            acknowledged_at=acknowledged_at,
            resolved_at=resolved_at,
            malformed=malformed,
        )
        self.incidents.append(incident)
        return incident

    def find(self, incident_id: str) -> FakeIncident | None:
        for incident in self.incidents:
            if incident.id == incident_id or str(incident.number) == incident_id:
                return incident
        return None

    # --- payloads, shaped as the "List incidents" example of PagerDuty's API reference -----

    def reference(self, base: str, kind: str, rid: str, summary: str) -> dict[str, Any]:
        plural = {"service": "services", "escalation_policy": "escalation_policies"}
        web = {"service": "service-directory"}.get(kind, plural.get(kind, kind + "s"))
        return {
            "id": rid,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{base}/{plural.get(kind, kind + 's')}/{rid}",
            "html_url": f"https://{self.subdomain}.pagerduty.com/{web}/{rid}",
        }

    def incident_json(self, base: str, incident: FakeIncident) -> dict[str, Any]:
        service = self.reference(
            base, "service", incident.service, self.services.get(incident.service, "")
        )
        last_change = incident.resolved_at or incident.acknowledged_at or incident.created_at
        priority = None
        if incident.priority is not None:
            order = int(incident.priority[1:])
            priority = {
                "id": f"PPRI00{order}",
                "type": "priority",
                "summary": incident.priority,
                "self": f"{base}/priorities/PPRI00{order}",
                "html_url": None,
                "account_id": "PACCT01",
                "color": "a8171c",
                "created_at": "2023-01-10T08:00:00Z",
                "description": "",
                "name": incident.priority,
                "order": 1000 * (6 - order),
                "schema_version": 0,
                "updated_at": "2023-01-10T08:00:00Z",
            }
        acknowledgements = []
        if incident.acknowledged_at is not None and incident.resolved_at is None:
            acknowledgements.append(
                {
                    "at": pd_time(incident.acknowledged_at),
                    "acknowledger": self.reference(base, "user", "PUSER01", "Earline Greenholt"),
                }
            )
        return {
            "id": incident.id,
            "type": "incident",
            "summary": f"[#{incident.number}] {incident.title}",
            "self": f"{base}/incidents/{incident.id}",
            "html_url": f"https://{self.subdomain}.pagerduty.com/incidents/{incident.id}",
            "incident_number": incident.number,
            "title": incident.title,
            "description": incident.title,
            "created_at": "yesterday" if incident.malformed else pd_time(incident.created_at),
            "updated_at": pd_time(last_change),
            "status": incident.status,
            "incident_key": f"{incident.id.lower()}baf7cf21b1da41b4b0221008339ff3",
            "service": service,
            "assignments": []
            if incident.resolved_at
            else [
                {
                    "at": pd_time(incident.created_at),
                    "assignee": self.reference(base, "user", "PUSER01", "Earline Greenholt"),
                }
            ],
            "assigned_via": "escalation_policy",
            "last_status_change_at": pd_time(last_change),
            "resolved_at": pd_time(incident.resolved_at) if incident.resolved_at else None,
            "first_trigger_log_entry": self.reference(
                base, "trigger_log_entry", "R" + incident.id[1:], "Triggered through the API."
            ),
            "alert_counts": {
                "all": 1,
                "triggered": 0 if incident.resolved_at else 1,
                "resolved": 1 if incident.resolved_at else 0,
            },
            "is_mergeable": True,
            "escalation_policy": self.reference(
                base, "escalation_policy", "PESCPOL", "Default escalation"
            ),
            "teams": [self.reference(base, "team", "PTEAM01", "Engineering")],
            "pending_actions": [],
            "acknowledgements": acknowledgements,
            "alert_grouping": None,
            "last_status_change_by": service,
            "priority": priority,
            "resolve_reason": None,
            "incidents_responders": [],
            "responder_requests": [],
            "subscriber_requests": [],
            "urgency": incident.urgency,
        }


def generate_account(
    seed: int, *, services: dict[str, int], start: datetime, days: int
) -> FakeAccount:
    """Services with the given numbers of incidents spread over ``days`` from ``start``."""
    rng = random.Random(seed)
    account = FakeAccount(_ids=random.Random(seed + 1))
    for service, count in services.items():
        account.service(service, f"Service {service}")
        for n in range(count):
            created = start + timedelta(seconds=rng.randrange(days * 86400))
            resolved = (
                created + timedelta(minutes=rng.randrange(5, 600)) if rng.random() < 0.9 else None
            )
            account.add(
                service,
                f"Incident {n} of {service}",
                created,
                urgency=rng.choice(["high", "low"]),
                priority=rng.choice([None, "P1", "P2", "P3", "P4", "P5"]),
                resolved_at=resolved,
            )
    return account
