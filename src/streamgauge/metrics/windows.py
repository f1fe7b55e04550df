"""Rolling windows ending at ``now`` and the as-of-``now`` view of record timestamps.

A window of duration ``w`` at ``now`` is the half-open interval ``(now - w, now]``: an event
exactly at ``now`` is in it, one exactly ``w`` earlier is not, so consecutive windows never
count an event twice. Its label is :func:`streamgauge.config.format_duration` of ``w``
(``"7d"``).

Calculations take ``now`` explicitly and never read a clock, so the same functions compute the
live snapshot and past values for a backfill: anything that happened after ``now`` is treated
as not having happened yet (a deployment that finished later is still running at ``now``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from streamgauge.config import format_duration
from streamgauge.model import Deployment, RunResult

SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Window:
    """``(start, end]`` with its label."""

    label: str
    start: datetime  # excluded
    end: datetime  # included: the calculation's now

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / SECONDS_PER_DAY

    def contains(self, instant: datetime | None) -> bool:
        return instant is not None and self.start < instant <= self.end


def windows_at(now: datetime, durations: Iterable[timedelta]) -> list[Window]:
    """One window per configured duration, all ending at ``now``."""
    return [Window(format_duration(d), now - d, now) for d in durations]


def ended_at(deployment: Deployment, now: datetime) -> datetime | None:
    """When a deployment ended as seen at ``now``; None while it runs (or started after ``now``).

    A deployment that ended without a ``finished_at`` (some tools leave it empty when a deploy
    is canceled before it starts) ends at its ``started_at``.
    """
    if deployment.result is RunResult.RUNNING or deployment.started_at > now:
        return None
    end = deployment.finished_at or deployment.started_at
    return end if end <= now else None


def seconds_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()
