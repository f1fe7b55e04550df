"""The value-stream data model: plain frozen records every connector maps onto."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar


class FlowType(StrEnum):
    """Flow Framework item types."""

    FEATURE = "feature"
    DEFECT = "defect"
    RISK = "risk"
    DEBT = "debt"


class FlowState(StrEnum):
    """Flow Framework states every tool status maps to."""

    NEW = "new"
    WAITING = "waiting"
    ACTIVE = "active"
    DONE = "done"
    CANCELED = "canceled"


class ChangeState(StrEnum):
    OPEN = "open"
    MERGED = "merged"
    CLOSED = "closed"  # closed without merging


class RunResult(StrEnum):
    """Outcome of a pipeline run or a deployment."""

    SUCCESS = "success"
    FAILURE = "failure"
    CANCELED = "canceled"
    RUNNING = "running"  # not finished yet; re-polled until it is


class Environment(StrEnum):
    PRODUCTION = "production"
    STAGING = "staging"
    TESTING = "testing"
    DEVELOPMENT = "development"
    OTHER = "other"


class DeploymentKind(StrEnum):
    REGULAR = "regular"
    ROLLBACK = "rollback"
    HOTFIX = "hotfix"


class Severity(StrEnum):
    """How bad an incident is, ordered by :attr:`rank`: unknown < low < medium < high < critical.

    ``unknown`` (the tool gave no severity, or one no mapping names) is the lowest: a rule that
    asks for a severity counts only incidents known to reach it.
    """

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """0 for ``unknown`` up to 4 for ``critical``: a higher rank is a worse incident."""
        return _SEVERITY_RANKS[self]


_SEVERITY_RANKS = {
    Severity.UNKNOWN: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


def utc(value: datetime) -> datetime:
    """Return ``value`` in UTC; naive datetimes are refused, never guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


def make_id(source: str, kind: str, native_id: str | int) -> str:
    """Deterministic record id: ``source:kind:native_id``."""
    return f"{source}:{kind}:{native_id}"


# Per-class field lists, computed once: records are built and serialized by the million.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_DATETIME_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _datetime_fields(cls: type) -> tuple[str, ...]:
    names = _DATETIME_FIELDS.get(cls)
    if names is None:
        hints = typing.get_type_hints(cls)
        names = _DATETIME_FIELDS[cls] = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if hints[f.name] is datetime or datetime in typing.get_args(hints[f.name])
        )
    return names


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Fields every record carries: where it came from and the dimensions it is grouped by."""

    kind: ClassVar[str] = ""
    id: str
    source: str
    team: str | None = None
    app: str | None = None

    def __post_init__(self) -> None:
        for name in _datetime_fields(type(self)):
            value = getattr(self, name)
            if value is not None and value.tzinfo is not UTC:
                object.__setattr__(self, name, utc(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkItem(Record):
    """A Jira issue or a GitHub/GitLab issue tracked as work."""

    kind: ClassVar[str] = "work_item"
    key: str
    title: str = ""
    type: FlowType
    original_type: str = ""
    status: str  # the tool's own status name
    flow_state: FlowState
    stage: str | None = None  # value-stream stage of the current status
    created_at: datetime
    started_at: datetime | None = None  # first entry into active or waiting
    done_at: datetime | None = None  # last entry into done/canceled, None while open
    updated_at: datetime | None = None
    labels: tuple[str, ...] = ()
    parent: str | None = None
    project: str | None = None
    history_complete: bool = True  # False when the tool's status history could not be fetched whole


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChange(Record):
    """One transition of a work item."""

    kind: ClassVar[str] = "status_change"
    item_id: str
    at: datetime
    from_status: str | None
    to_status: str
    from_state: FlowState | None
    to_state: FlowState
    from_stage: str | None = None
    to_stage: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Change(Record):
    """A pull request or merge request."""

    kind: ClassVar[str] = "change"
    repo: str
    number: int
    title: str = ""
    author: str | None = None
    state: ChangeState
    created_at: datetime
    first_commit_at: datetime | None = None
    first_review_at: datetime | None = None
    approved_at: datetime | None = None
    merged_at: datetime | None = None
    merge_sha: str | None = None
    base_branch: str | None = None
    head_branch: str | None = None
    work_item_keys: tuple[str, ...] = ()
    review_rounds: int = 0  # reviews that requested changes
    labels: tuple[str, ...] = ()
    commit_shas: tuple[str, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit(Record):
    kind: ClassVar[str] = "commit"
    repo: str
    sha: str
    authored_at: datetime
    committed_at: datetime
    branch: str | None = None
    message: str = ""  # first line only
    work_item_keys: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineRun(Record):
    """A CI build or workflow run."""

    kind: ClassVar[str] = "pipeline_run"
    pipeline: str
    repo: str | None = None
    sha: str | None = None
    branch: str | None = None
    event: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    result: RunResult
    original_result: str = ""
    attempt: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment(Record):
    """A deploy of an app to an environment."""

    kind: ClassVar[str] = "deployment"
    environment: Environment
    original_environment: str = ""
    repo: str | None = None
    sha: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    result: RunResult
    original_result: str = ""
    deployment_kind: DeploymentKind = DeploymentKind.REGULAR
    commit_shas: tuple[str, ...] = ()  # commits this deployment shipped first
    incident_keys: tuple[str, ...] = ()  # incidents this deployment was made to fix


@dataclass(frozen=True, slots=True, kw_only=True)
class Incident(Record):
    """A production failure."""

    kind: ClassVar[str] = "incident"
    key: str
    title: str = ""
    opened_at: datetime
    resolved_at: datetime | None = None
    severity: Severity = Severity.UNKNOWN
    original_severity: str = ""
    deployment_id: str | None = None  # explicit cause; otherwise inferred by linking


MODEL_TYPES: tuple[type[Record], ...] = (
    WorkItem,
    StatusChange,
    Change,
    Commit,
    PipelineRun,
    Deployment,
    Incident,
)
KINDS: dict[str, type[Record]] = {cls.kind: cls for cls in MODEL_TYPES}


# --- JSON form -------------------------------------------------------------------------------
# The same form is the store's payload, the `file` connector's JSON Lines and the README's
# documentation of the model: ``{"kind": "deployment", "id": ..., "started_at": "2026-...Z"}``.


class RecordError(ValueError):
    """A record that does not fit the model; the message names the field, ``reason`` the kind
    of fault it is counted under when skipped."""

    def __init__(self, message: str, *, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


def to_json(record: Record) -> dict[str, Any]:
    """Plain JSON-ready dict of a record, with its ``kind``."""
    out: dict[str, Any] = {"kind": record.kind}
    for name in _field_names(type(record)):
        value = getattr(record, name)
        if isinstance(value, datetime):
            value = value.isoformat().replace("+00:00", "Z")
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def _hints(cls: type[Record]) -> dict[str, Any]:
    cached = _HINTS.get(cls)
    if cached is None:
        cached = typing.get_type_hints(cls)
        _HINTS[cls] = cached
    return cached


_HINTS: dict[type[Record], dict[str, Any]] = {}


def _coerce(name: str, hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(name, args[0], value)
    if value is None:
        raise RecordError(f"{name}: is required")
    if hint is datetime:
        if isinstance(value, datetime):
            return utc(value)
        if not isinstance(value, str):
            raise RecordError(f"{name}: expected an ISO 8601 timestamp, got {value!r}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise RecordError(f"{name}: {exc}") from None
        if parsed.tzinfo is None:
            raise RecordError(f"{name}: timestamp {value!r} needs a time zone (e.g. 'Z')")
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise RecordError(
                f"{name}: timestamp {value!r} lies outside years 1-9999 in UTC",
                reason="timestamp_range",
            ) from None
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise RecordError(f"{name}: expected a list, got {value!r}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise RecordError(f"{name}[{i}]: expected a string, got {item!r}")
        return tuple(value)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(m.value for m in hint)
            raise RecordError(f"{name}: {value!r} is not one of {allowed}") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise RecordError(f"{name}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordError(f"{name}: expected an integer, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise RecordError(f"{name}: expected a string, got {value!r}")
        if name == "id" and not value:
            raise RecordError("id: must not be empty")
        return value
    return value


def from_json(data: Mapping[str, Any]) -> Record:
    """Parse the JSON form back into a record; raises :class:`RecordError` naming the field."""
    kind = data.get("kind")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise RecordError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _coerce(f.name, hints[f.name], data[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{f.name}: is required for kind {kind!r}")
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)} - {"kind"}
    if unknown:
        raise RecordError(f"{sorted(unknown)[0]}: is not a field of kind {kind!r}")
    return cls(**kwargs)


T = TypeVar("T")


def slot_setters(cls: type[T]) -> tuple[Callable[[T, Any], None], ...]:
    """The ``__set__`` of each field's slot of a frozen, slotted dataclass, in field order.

    Setting through them skips ``__init__`` and ``__post_init__``: for code that builds
    millions of instances from values already checked (the store's decoding, the facts of a
    computation), where the checks would cost more than the building.
    """
    return tuple(getattr(cls, f.name).__set__ for f in dataclasses.fields(cls))  # type: ignore[arg-type]


# --- a whole dataset ---------------------------------------------------------------------------


@dataclass(slots=True)
class Dataset:
    """All model records a calculation runs over, grouped by kind."""

    work_items: list[WorkItem] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    pipeline_runs: list[PipelineRun] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)

    def add(self, record: Record) -> None:
        getattr(self, DATASET_LISTS[record.kind]).append(record)

    def __len__(self) -> int:
        return sum(len(getattr(self, name)) for name in DATASET_LISTS.values())


# The Dataset list that holds each kind of record.
DATASET_LISTS: dict[str, str] = {
    WorkItem.kind: "work_items",
    StatusChange.kind: "status_changes",
    Change.kind: "changes",
    Commit.kind: "commits",
    PipelineRun.kind: "pipeline_runs",
    Deployment.kind: "deployments",
    Incident.kind: "incidents",
}
