"""Pure mapping of a stored Jira issue onto the model: work item, status changes, incident."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streamgauge.config import Settings
from streamgauge.connectors.base import RawRecord, SkippableRecord
from streamgauge.connectors.jira.config import JiraConfig
from streamgauge.connectors.jira.mapping import Rules
from streamgauge.model import FlowState, Incident, Record, StatusChange, WorkItem, make_id

META = "streamgauge"  # key of what the connector adds to a raw issue (history completeness, categories)
IN_FLOW = (FlowState.ACTIVE, FlowState.WAITING)
CLOSED = (FlowState.DONE, FlowState.CANCELED)


def parse_jira_time(value: Any) -> datetime | None:
    """Jira's ``2024-01-05T10:00:00.000+0000``; None when absent, not a timestamp or naive."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class RuleBook:
    """The prepared :class:`Rules` of each project, built once per project."""

    def __init__(self, config: JiraConfig) -> None:
        self.config = config
        self._rules: dict[str | None, Rules] = {}

    def __call__(self, project: str | None) -> Rules:
        rules = self._rules.get(project)
        if rules is None:
            rules = self._rules[project] = Rules(self.config.mapping_for(project))
        return rules


@dataclass(frozen=True, slots=True)
class Transition:
    history_id: str
    at: datetime
    from_status: str | None
    to_status: str


def _name(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return str(value["name"])
    return None


def _transitions(payload: Mapping[str, Any], key: str) -> list[Transition]:
    out = []
    for history in (payload.get("changelog") or {}).get("histories") or []:
        at = parse_jira_time(history.get("created"))
        if at is None:
            raise SkippableRecord(
                f"Jira issue {key}: history {history.get('id')} has no valid time"
            )
        for n, item in enumerate(history.get("items") or []):
            if item.get("toString") is None:
                continue
            suffix = f".{n}" if n else ""
            out.append(
                Transition(
                    f"{history.get('id')}{suffix}", at, item.get("fromString"), item["toString"]
                )
            )
    out.sort(key=lambda t: t.at)
    return out


def unmapped_in(payload: Mapping[str, Any], rules_for: RuleBook) -> set[tuple[str, str, str]]:
    """(what, project, name) for each status, stage or type of the issue no rule maps."""
    fields = payload.get("fields") or {}
    project = str((fields.get("project") or {}).get("key") or "")
    rules = rules_for(project or None)
    categories: Mapping[str, str] = (payload.get(META) or {}).get("statusCategories") or {}
    status = fields.get("status") or {}
    seen: dict[str, str | None] = {}
    if _name(status):
        seen[str(_name(status))] = (status.get("statusCategory") or {}).get("key")
    for history in (payload.get("changelog") or {}).get("histories") or []:
        for item in history.get("items") or []:
            for name in (item.get("fromString"), item.get("toString")):
                if isinstance(name, str):
                    seen.setdefault(name, categories.get(name))
    out: set[tuple[str, str, str]] = set()
    for name, category in seen.items():
        if not rules.flow_state(name, category).mapped:
            out.add(("status", project, name))
        if rules.has_stages and rules.stage(name) is None:
            out.add(("stage", project, name))
    issue_type = _name(fields.get("issuetype"))
    labels = [str(label) for label in fields.get("labels") or []]
    if issue_type and not rules.flow_type(issue_type, labels)[1]:
        out.add(("type", project, issue_type))
    return out


def normalize_issue(
    raw: RawRecord, *, source: str, rules_for: RuleBook, settings: Settings
) -> list[Record]:
    payload = raw.payload
    fields = payload.get("fields")
    key = str(payload.get("key") or raw.native_id)
    if not isinstance(fields, dict):
        raise SkippableRecord(f"Jira issue {key}: no fields")
    created = parse_jira_time(fields.get("created"))
    if created is None:
        raise SkippableRecord(
            f"Jira issue {key}: created {fields.get('created')!r} is not a timestamp"
        )
    status = _name(fields.get("status"))
    issue_type = _name(fields.get("issuetype"))
    if status is None or issue_type is None:
        raise SkippableRecord(f"Jira issue {key}: status or issue type missing")
    project = (fields.get("project") or {}).get("key")
    rules = rules_for(project)
    labels = tuple(str(label) for label in fields.get("labels") or [])
    components = [str(c.get("name")) for c in fields.get("components") or [] if isinstance(c, dict)]
    resolution = _name(fields.get("resolution"))
    priority = _name(fields.get("priority"))
    meta = payload.get(META) or {}
    categories: Mapping[str, str] = meta.get("statusCategories") or {}
    category = ((fields.get("status") or {}).get("statusCategory") or {}).get("key")

    team, app = settings.resolve(
        project=project,
        components=components,
        labels=labels,
        default_team=rules_for.config.team,
        default_app=rules_for.config.app,
    )
    # A project override names the team or app outright: it beats the settings' rules.
    if rules.mapping.app is not None:
        app = rules.mapping.app
        team = settings.team_of_app(app) or team
    if rules.mapping.team is not None:
        team = rules.mapping.team

    item_id = make_id(source, WorkItem.kind, raw.native_id)
    transitions = _transitions(payload, key)
    records: list[Record] = []
    first = transitions[0].from_status if transitions and transitions[0].from_status else status
    state_now = rules.flow_state(status, category, resolution).state
    started_at = (
        created if rules.flow_state(first, categories.get(first)).state in IN_FLOW else None
    )
    done_at = created if state_now in CLOSED and not transitions else None
    for n, t in enumerate(transitions):
        last = n == len(transitions) - 1
        from_state = (
            rules.flow_state(t.from_status, categories.get(t.from_status)).state
            if t.from_status
            else None
        )
        # The resolution only tells about the current status, hence only the last transition.
        to_state = rules.flow_state(
            t.to_status, categories.get(t.to_status), resolution if last else None
        ).state
        if last and t.to_status == status:
            to_state = state_now
        if started_at is None and to_state in IN_FLOW:
            started_at = t.at
        if to_state in CLOSED and from_state not in CLOSED and state_now in CLOSED:
            done_at = t.at
        records.append(
            StatusChange(
                id=make_id(source, StatusChange.kind, f"{raw.native_id}-{t.history_id}"),
                source=source,
                team=team,
                app=app,
                item_id=item_id,
                at=t.at,
                from_status=t.from_status,
                to_status=t.to_status,
                from_state=from_state,
                to_state=to_state,
                from_stage=rules.stage(t.from_status) if t.from_status else None,
                to_stage=rules.stage(t.to_status),
            )
        )
    if state_now not in CLOSED:
        done_at = None
    flow_type, _ = rules.flow_type(issue_type, labels)
    parent = (fields.get("parent") or {}).get("key")
    records.insert(
        0,
        WorkItem(
            id=item_id,
            source=source,
            team=team,
            app=app,
            key=key,
            title=str(fields.get("summary") or ""),
            type=flow_type,
            original_type=issue_type,
            status=status,
            flow_state=state_now,
            stage=rules.stage(status),
            created_at=created,
            started_at=started_at,
            done_at=done_at,
            updated_at=parse_jira_time(fields.get("updated")),
            labels=labels,
            parent=parent if isinstance(parent, str) else None,
            project=project if isinstance(project, str) else None,
            history_complete=bool(meta.get("historyComplete", True)),
        ),
    )
    if rules.is_incident(issue_type, labels):
        resolved = parse_jira_time(fields.get("resolutiondate")) or done_at
        records.append(
            Incident(
                id=make_id(source, Incident.kind, raw.native_id),
                source=source,
                team=team,
                app=app,
                key=key,
                title=str(fields.get("summary") or ""),
                opened_at=created,
                resolved_at=resolved if state_now in CLOSED else None,
                severity=rules.severity(priority),
                original_severity=priority or "",
            )
        )
    return records
