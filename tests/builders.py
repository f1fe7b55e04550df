"""Record builders for tests: one function per model kind, explicit timestamps, overrides."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from streamgauge.model import (
    Change,
    ChangeState,
    Commit,
    Deployment,
    DeploymentKind,
    Environment,
    FlowState,
    FlowType,
    Incident,
    PipelineRun,
    RunResult,
    Severity,
    StatusChange,
    WorkItem,
    make_id,
)

# Every test timeline starts here unless it says otherwise: a Thursday at midnight UTC.
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = "test"
TEAM = "payments"
APP = "checkout"
REPO = "acme/checkout"

# Unique native ids when a test does not name one; tests that refer to a record keep the
# record and use its ``id``, so the exact number never matters.
_serial = itertools.count(1)


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
    """A moment on the test timeline: ``at(days=2, hours=3)`` is T0 + 2 d 3 h."""
    return T0 + timedelta(days=days, hours=hours, minutes=minutes)


def _native(native_id: str | int | None) -> str:
    return str(native_id) if native_id is not None else str(next(_serial))


def work_item(
    *,
    created_at: datetime,
    type: FlowType = FlowType.FEATURE,
    flow_state: FlowState = FlowState.NEW,
    key: str | None = None,
    native_id: str | int | None = None,
    **overrides: Any,
) -> WorkItem:
    native = _native(native_id)
    fields: dict[str, Any] = {
        "id": make_id(SOURCE, "work_item", native),
        "source": SOURCE,
        "team": TEAM,
        "app": APP,
        "key": key or f"PAY-{native}",
        "type": type,
        "status": flow_state.value,
        "flow_state": flow_state,
        "created_at": created_at,
    }
    fields.update(overrides)
    return WorkItem(**fields)


def status_change(
    *,
    item: WorkItem,
    at: datetime,
    to_state: FlowState,
    from_state: FlowState | None = None,
    native_id: str | int | None = None,
    **overrides: Any,
) -> StatusChange:
    fields: dict[str, Any] = {
        "id": make_id(SOURCE, "status_change", _native(native_id)),
        "source": SOURCE,
        "team": item.team,
        "app": item.app,
        "item_id": item.id,
        "at": at,
        "from_status": from_state.value if from_state else None,
        "to_status": to_state.value,
        "from_state": from_state,
        "to_state": to_state,
    }
    fields.update(overrides)
    return StatusChange(**fields)


def change(
    *,
    created_at: datetime,
    first_commit_at: datetime | None = None,
    merged_at: datetime | None = None,
    merge_sha: str | None = None,
    commit_shas: tuple[str, ...] = (),
    native_id: str | int | None = None,
    **overrides: Any,
) -> Change:
    """A pull request; merged (with ``merge_sha``) when ``merged_at`` is given."""
    native = _native(native_id)
    fields: dict[str, Any] = {
        "id": make_id(SOURCE, "change", native),
        "source": SOURCE,
        "team": TEAM,
        "app": APP,
        "repo": REPO,
        "number": int(native) if native.isdigit() else 1,
        "state": ChangeState.MERGED if merged_at else ChangeState.OPEN,
        "created_at": created_at,
        "first_commit_at": first_commit_at,
        "merged_at": merged_at,
        "merge_sha": merge_sha,
        "commit_shas": commit_shas,
    }
    fields.update(overrides)
    return Change(**fields)


def commit(
    *, sha: str, authored_at: datetime, committed_at: datetime | None = None, **overrides: Any
) -> Commit:
    fields: dict[str, Any] = {
        "id": make_id(SOURCE, "commit", sha),
        "source": SOURCE,
        "team": TEAM,
        "app": APP,
        "repo": REPO,
        "sha": sha,
        "authored_at": authored_at,
        "committed_at": committed_at or authored_at,
    }
    fields.update(overrides)
    return Commit(**fields)


def pipeline_run(
    *,
    started_at: datetime,
    finished_at: datetime | None = None,
    result: RunResult = RunResult.SUCCESS,
    native_id: str | int | None = None,
    **overrides: Any,
) -> PipelineRun:
    fields: dict[str, Any] = {
        "id": make_id(SOURCE, "pipeline_run", _native(native_id)),
        "source": SOURCE,
        "team": TEAM,
        "app": APP,
        "pipeline": "ci",
        "repo": REPO,
        "started_at": started_at,
        "finished_at": finished_at,
        "result": result,
    }
    fields.update(overrides)
    return PipelineRun(**fields)


def deployment(
    *,
    finished_at: datetime | None,
    started_at: datetime | None = None,
    result: RunResult | None = None,
    environment: Environment = Environment.PRODUCTION,
    kind: DeploymentKind = DeploymentKind.REGULAR,
    commit_shas: tuple[str, ...] = (),
    native_id: str | int | None = None,
    **overrides: Any,
) -> Deployment:
    """A successful production deployment by default; it started 10 minutes before it finished.

    A running deployment has ``finished_at=None`` (result then defaults to running) and needs an
    explicit ``started_at``.
    """
    if started_at is None:
        if finished_at is None:
            raise ValueError("a deployment needs started_at or finished_at")
        started_at = finished_at - timedelta(minutes=10)
    if result is None:
        result = RunResult.SUCCESS if finished_at is not None else RunResult.RUNNING
    fields: dict[str, Any] = {
        "id": make_id(SOURCE, "deployment", _native(native_id)),
        "source": SOURCE,
        "team": TEAM,
        "app": APP,
        "environment": environment,
        "repo": REPO,
        "sha": commit_shas[0] if commit_shas else None,
        "started_at": started_at,
        "finished_at": finished_at,
        "result": result,
        "deployment_kind": kind,
        "commit_shas": commit_shas,
    }
    fields.update(overrides)
    return Deployment(**fields)


def incident(
    *,
    opened_at: datetime,
    resolved_at: datetime | None = None,
    deployment_id: str | None = None,
    native_id: str | int | None = None,
    **overrides: Any,
) -> Incident:
    native = _native(native_id)
    fields: dict[str, Any] = {
        "id": make_id(SOURCE, "incident", native),
        "source": SOURCE,
        "team": TEAM,
        "app": APP,
        "key": f"INC-{native}",
        "opened_at": opened_at,
        "resolved_at": resolved_at,
        "severity": Severity.HIGH,
        "deployment_id": deployment_id,
    }
    fields.update(overrides)
    return Incident(**fields)
