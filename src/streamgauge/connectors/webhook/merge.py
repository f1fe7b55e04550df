"""Several CDEvents about one change or incident, merged into one record in any order."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from streamgauge.model import Change, ChangeState, Incident, Record, Severity

R = TypeVar("R", bound=Record)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return a + tuple(x for x in b if x not in a)


def merge(old: Record, new: R) -> R:
    """One record from two events about the same change or incident, in either order.

    Merging is commutative and idempotent (earliest start, latest end, first value given), so a
    replay or a late, out-of-order delivery gives the same record. Deployments and pipeline runs
    are one event each: the newer replaces the older.
    """
    if isinstance(old, Change) and isinstance(new, Change):
        merged_at = _earliest(old.merged_at, new.merged_at)
        return replace(
            new,
            team=new.team or old.team,
            app=new.app or old.app,
            number=new.number or old.number,
            title=old.title or new.title,
            author=old.author or new.author,
            state=ChangeState.MERGED if merged_at else new.state,
            created_at=min(old.created_at, new.created_at),
            first_commit_at=_earliest(old.first_commit_at, new.first_commit_at),
            first_review_at=_earliest(old.first_review_at, new.first_review_at),
            approved_at=_earliest(old.approved_at, new.approved_at),
            merged_at=merged_at,
            merge_sha=old.merge_sha or new.merge_sha,
            base_branch=old.base_branch or new.base_branch,
            head_branch=old.head_branch or new.head_branch,
            work_item_keys=_union(old.work_item_keys, new.work_item_keys),
            review_rounds=max(old.review_rounds, new.review_rounds),
            commit_shas=_union(old.commit_shas, new.commit_shas),
            updated_at=_latest(old.updated_at, new.updated_at),
        )
    if isinstance(old, Incident) and isinstance(new, Incident):
        severity = new.severity if new.severity is not Severity.UNKNOWN else old.severity
        return replace(
            new,
            team=new.team or old.team,
            app=new.app or old.app,
            title=old.title or new.title,
            opened_at=min(old.opened_at, new.opened_at),
            resolved_at=_latest(old.resolved_at, new.resolved_at),
            severity=severity,
            original_severity=new.original_severity
            if new.severity is not Severity.UNKNOWN
            else old.original_severity or new.original_severity,
            deployment_id=old.deployment_id or new.deployment_id,
        )
    return new
