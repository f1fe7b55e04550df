"""CDEvents onto the model: deployments, pipeline runs, changes and incidents.

Spec v0.4.x (``context.version``, ``url``) and v0.5.x (``context.specversion``, ``uri``); an
event type is matched without its version suffix (``dev.cdevents.service.deployed.0.2.0`` and
``.0.3.0`` are both ``service.deployed``). ``customData`` carries what CDEvents lacks (commit
shas, work-item keys, severity); docs/webhook.md lists its keys per event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streamgauge.config import Settings
from streamgauge.connectors.base import SkippableRecord
from streamgauge.connectors.webhook.config import WebhookConfig
from streamgauge.model import (
    Change,
    ChangeState,
    Deployment,
    DeploymentKind,
    Environment,
    Incident,
    PipelineRun,
    Record,
    RecordError,
    RunResult,
    Severity,
    make_id,
    utc,
)

_TYPE = re.compile(r"^dev\.cdevents\.([a-z]+)\.([a-z]+)(?:\.\d+\.\d+\.\d+\S*)?$")

DEPLOYMENT_TYPES = ("service.deployed", "service.upgraded", "service.rolledback")
PIPELINE_TYPES = ("pipelinerun.finished", "build.finished")
CHANGE_TYPES = ("change.created", "change.reviewed", "change.merged")
INCIDENT_TYPES = ("incident.detected", "incident.reported", "incident.resolved")
USED_TYPES = frozenset(DEPLOYMENT_TYPES + PIPELINE_TYPES + CHANGE_TYPES + INCIDENT_TYPES)

# v0.5.1 outcomes: success | failure | cancel | error
_OUTCOMES = {
    "success": RunResult.SUCCESS,
    "failure": RunResult.FAILURE,
    "error": RunResult.FAILURE,
    "cancel": RunResult.CANCELED,
    "canceled": RunResult.CANCELED,
    "cancelled": RunResult.CANCELED,
}
_SEVERITIES = {
    "critical": Severity.CRITICAL,
    "sev1": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "high": Severity.HIGH,
    "sev2": Severity.HIGH,
    "p2": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "sev3": Severity.MEDIUM,
    "p3": Severity.MEDIUM,
    "low": Severity.LOW,
    "minor": Severity.LOW,
    "sev4": Severity.LOW,
    "p4": Severity.LOW,
}
_ENVIRONMENT_WORDS: tuple[tuple[str, Environment], ...] = (
    ("prod", Environment.PRODUCTION),
    ("live", Environment.PRODUCTION),
    ("stag", Environment.STAGING),
    ("preprod", Environment.STAGING),
    ("test", Environment.TESTING),
    ("qa", Environment.TESTING),
    ("dev", Environment.DEVELOPMENT),
)


def event_type(event: Mapping[str, Any]) -> str | None:
    """``subject.predicate`` of a CDEvent's ``context.type``, without its version."""
    context = event.get("context")
    kind = context.get("type") if isinstance(context, Mapping) else None
    match = _TYPE.match(kind) if isinstance(kind, str) else None
    return f"{match.group(1)}.{match.group(2)}" if match else None


def spec_version(event: Mapping[str, Any]) -> str | None:
    """``context.specversion`` (v0.5) or ``context.version`` (v0.4)."""
    context = event.get("context")
    if not isinstance(context, Mapping):
        return None
    value = context.get("specversion", context.get("version"))
    return value if isinstance(value, str) else None


def environment_of(env_id: str, named: Mapping[str, Environment]) -> Environment:
    """The configured environment of an id, else one guessed from words in it."""
    if env_id in named:
        return named[env_id]
    lowered = env_id.lower()
    for word, environment in _ENVIRONMENT_WORDS:
        if word in lowered:
            return environment
    return Environment.OTHER


def artifact_name(purl: str) -> str:
    """The name of a package URL: ``pkg:oci/myapp@sha256%3A...`` -> ``myapp``."""
    path = purl.removeprefix("pkg:").split("?", 1)[0].split("#", 1)[0].split("@", 1)[0]
    return path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class _Event:
    """The parts of a CDEvent every mapping reads, checked once."""

    type: str
    context_id: str
    context_source: str
    at: datetime
    subject_id: str
    subject_source: str
    content: Mapping[str, Any]
    custom: Mapping[str, Any]

    def text(self, key: str) -> str | None:
        value = self.custom.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise SkippableRecord(f"customData.{key}: expected a string, got {value!r}")
        return str(value)

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.custom.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SkippableRecord(f"customData.{key}: expected a list of strings, got {value!r}")
        return tuple(value)

    def time(self, key: str) -> datetime | None:
        value = self.custom.get(key)
        return None if value is None else _timestamp(value, f"customData.{key}")

    def integer(self, key: str) -> int | None:
        value = self.custom.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise SkippableRecord(f"customData.{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise SkippableRecord(f"customData.{key}: expected an integer, got {value!r}") from None

    def nested_id(self, key: str) -> str | None:
        """``content.<key>.id``, or ``content.<key>`` given as a plain string."""
        value = self.content.get(key)
        if isinstance(value, Mapping):
            value = value.get("id")
        return value if isinstance(value, str) and value else None


def _timestamp(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise SkippableRecord(f"{where}: expected an RFC 3339 timestamp, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
        return utc(parsed)
    except ValueError:
        raise SkippableRecord(f"{where}: {value!r} is not an RFC 3339 timestamp") from None


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise SkippableRecord(f"{where}: is required (a non-empty string)")
    return value


def _read(event: Mapping[str, Any], kind: str) -> _Event:
    context = event.get("context")
    subject = event.get("subject")
    if not isinstance(context, Mapping):
        raise SkippableRecord("context: is required (an object)")
    if not isinstance(subject, Mapping):
        raise SkippableRecord("subject: is required (an object)")
    content = subject.get("content", {})
    if not isinstance(content, Mapping):
        raise SkippableRecord("subject.content: expected an object")
    custom = event.get("customData")
    context_source = _str(context.get("source"), "context.source")
    return _Event(
        type=kind,
        context_id=_str(context.get("id"), "context.id"),
        context_source=context_source,
        at=_timestamp(context.get("timestamp"), "context.timestamp"),
        subject_id=_str(subject.get("id"), "subject.id"),
        subject_source=subject.get("source") or context_source,
        content=content,
        # customData may be any JSON or base64 text; only an object carries our keys
        custom=custom if isinstance(custom, Mapping) else {},
    )


class Mapper:
    """Maps one webhook source's CDEvents, with its config and the top-level mapping rules."""

    def __init__(self, source: str, config: WebhookConfig, settings: Settings) -> None:
        self.source = source
        self.config = config
        self.settings = settings
        self._maps: dict[str, Callable[[_Event], Record]] = {
            **dict.fromkeys(DEPLOYMENT_TYPES, self._deployment),
            **dict.fromkeys(PIPELINE_TYPES, self._pipeline_run),
            **dict.fromkeys(CHANGE_TYPES, self._change),
            **dict.fromkeys(INCIDENT_TYPES, self._incident),
        }

    def records(self, event: Mapping[str, Any]) -> list[Record] | None:
        """The records of one CDEvent; None for a type no metric uses.

        Raises :class:`SkippableRecord` naming the field at fault when it is malformed.
        """
        kind = event_type(event)
        if kind is None:
            context = event.get("context")
            given = context.get("type") if isinstance(context, Mapping) else None
            if isinstance(given, str) and given.startswith("dev.cdevents."):
                return None
            raise SkippableRecord(f"context.type: {given!r} is not a CDEvents event type")
        mapping = self._maps.get(kind)
        if mapping is None:
            return None
        try:
            return [mapping(_read(event, kind))]
        except (RecordError, ValueError, TypeError) as exc:
            if isinstance(exc, SkippableRecord):
                raise
            raise SkippableRecord(f"{kind}: {exc}") from None

    # --- dimensions ---------------------------------------------------------------------

    def _place(
        self, ev: _Event, *, repo: str | None, names: Sequence[str], app_map: Mapping[str, str]
    ) -> tuple[str | None, str | None]:
        """(team, app): customData's own, else this source's maps, else the global rules."""
        app = ev.text("app")
        if app is None:
            app = next((app_map[n] for n in names if n in app_map), None)
        team = ev.text("team")
        if app is not None:
            return team or self.settings.team_of_app(app) or self.config.team, app
        rule_team, rule_app = self.settings.resolve(
            repo=repo,
            components=list(names),
            default_team=self.config.team,
            default_app=self.config.app,
        )
        return team or rule_team, rule_app

    # --- one mapping per kind -------------------------------------------------------------

    def _deployment(self, ev: _Event) -> Deployment:
        env_id = _str(ev.nested_id("environment"), "subject.content.environment.id")
        artifact = ev.content.get("artifactId")
        names = [artifact_name(artifact)] if isinstance(artifact, str) and artifact else []
        names.append(ev.subject_id)
        repo = ev.text("repo")
        team, app = self._place(ev, repo=repo, names=names, app_map=self.config.artifact_apps)
        outcome = ev.text("outcome")
        result = _OUTCOMES.get(outcome.lower(), RunResult.FAILURE) if outcome else None
        kind = DeploymentKind.REGULAR
        if ev.type == "service.rolledback":
            kind = DeploymentKind.ROLLBACK
        elif (ev.text("kind") or "").lower() == DeploymentKind.HOTFIX:
            kind = DeploymentKind.HOTFIX
        return Deployment(
            id=make_id(self.source, "deployment", ev.context_id),
            source=self.source,
            team=team,
            app=app,
            environment=environment_of(env_id, self.config.environments),
            original_environment=env_id,
            repo=repo,
            sha=ev.text("sha"),
            started_at=ev.time("startedAt") or ev.at,
            finished_at=ev.at,
            result=result or RunResult.SUCCESS,
            original_result=outcome or ev.type.split(".")[1],
            deployment_kind=kind,
            commit_shas=ev.texts("commits"),
            incident_keys=ev.texts("incidents"),
        )

    def _pipeline_run(self, ev: _Event) -> PipelineRun:
        name = ev.content.get("pipelineName") if ev.type == "pipelinerun.finished" else None
        pipeline = ev.text("pipeline") or (name if isinstance(name, str) and name else None)
        if pipeline is None:
            artifact = ev.content.get("artifactId")
            pipeline = artifact_name(artifact) if isinstance(artifact, str) else ev.subject_id
        outcome = ev.content.get("outcome") or ev.text("outcome")
        if outcome is not None and not isinstance(outcome, str):
            raise SkippableRecord(f"subject.content.outcome: expected a string, got {outcome!r}")
        result = _OUTCOMES.get(outcome.lower(), RunResult.FAILURE) if outcome else None
        repo = ev.text("repo")
        team, app = self._place(ev, repo=repo, names=[pipeline], app_map=self.config.pipeline_apps)
        return PipelineRun(
            id=make_id(self.source, "pipeline_run", f"{ev.subject_source}#{ev.subject_id}"),
            source=self.source,
            team=team,
            app=app,
            pipeline=pipeline,
            repo=repo,
            sha=ev.text("sha"),
            branch=ev.text("branch"),
            started_at=ev.time("startedAt") or ev.at,
            finished_at=ev.at,
            result=result or RunResult.SUCCESS,
            original_result=outcome or "",
            attempt=ev.integer("attempt") or 1,
        )

    def _change(self, ev: _Event) -> Change:
        repo = ev.nested_id("repository") or ev.text("repo")
        repo = _str(repo, "subject.content.repository.id")
        number = ev.integer("number")
        if number is None:
            number = int(ev.subject_id) if ev.subject_id.isdigit() else 0
        team, app = self._place(ev, repo=repo, names=[repo], app_map={})
        merged = ev.type == "change.merged"
        return Change(
            id=make_id(self.source, "change", f"{repo}#{ev.subject_id}"),
            source=self.source,
            team=team,
            app=app,
            repo=repo,
            number=number,
            title=ev.text("title") or "",
            author=ev.text("author"),
            state=ChangeState.MERGED if merged else ChangeState.OPEN,
            created_at=ev.time("createdAt") or ev.at,
            first_commit_at=ev.time("firstCommitAt"),
            first_review_at=ev.at if ev.type == "change.reviewed" else None,
            approved_at=ev.at
            if ev.type == "change.reviewed" and ev.text("verdict") == "approved"
            else None,
            merged_at=ev.at if merged else None,
            merge_sha=ev.text("sha") if merged else None,
            base_branch=ev.text("baseBranch"),
            head_branch=ev.text("headBranch"),
            work_item_keys=ev.texts("workItems"),
            review_rounds=1
            if ev.type == "change.reviewed" and ev.text("verdict") == "changes_requested"
            else 0,
            commit_shas=ev.texts("commits"),
            updated_at=ev.at,
        )

    def _incident(self, ev: _Event) -> Incident:
        service = ev.nested_id("service")
        artifact = ev.content.get("artifactId")
        names = [n for n in (service,) if n]
        if isinstance(artifact, str) and artifact:
            names.append(artifact_name(artifact))
        team, app = self._place(
            ev, repo=ev.text("repo"), names=names, app_map=self.config.artifact_apps
        )
        severity = ev.text("severity") or ""
        resolved = ev.type == "incident.resolved"
        description = ev.content.get("description")
        deployment = ev.text("deploymentId")
        return Incident(
            id=make_id(self.source, "incident", ev.subject_id),
            source=self.source,
            team=team,
            app=app,
            key=ev.subject_id,
            title="" if resolved or not isinstance(description, str) else description,
            opened_at=ev.time("openedAt") or ev.at,
            resolved_at=ev.at if resolved else None,
            severity=_SEVERITIES.get(severity.lower(), Severity.UNKNOWN),
            original_severity=severity,
            deployment_id=make_id(self.source, "deployment", deployment) if deployment else None,
        )
