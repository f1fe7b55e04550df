"""The facts of one computation as the columns every window family aggregates.

Each kind of fact is put in windows by one instant (:mod:`.columns`):

* production deployments by when they ended (frequency, failure rates, deployment days,
  rework, the deployments and failed-deployments counters);
* lead times by when their change was deployed (lead time and its parts, the histogram);
* failed deployments by when they recovered (recovery time and its histogram);
* done work items by when they were done (:mod:`.flow`), and their value streams
  (:mod:`.stage_metrics`), whose stages are rows of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from streamgauge.metrics.columns import Frame
from streamgauge.metrics.delivery import FAILURE_REASONS, IncidentFixes, rework_reasons
from streamgauge.metrics.deployments import DeploymentOutcome
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.leadtime import PARTS, DoraFacts, LeadTime
from streamgauge.metrics.stages import ItemStream

_group = attrgetter("group")
T = TypeVar("T")


@dataclass(slots=True)
class StageRows:
    """Each done item's stages, one row per (stream, stage, part) time and per stage visited.

    ``stream`` holds the row of the stream (in :attr:`Frames.streams`) each row belongs to;
    stage names outside the kept ones are folded into ``other`` (:meth:`.ItemStream.fold`).
    """

    time_stream: npt.NDArray[np.intp]
    time_key: npt.NDArray[np.intp]  # index into time_keys
    seconds: npt.NDArray[np.float64]
    time_keys: list[tuple[str, str]]  # (stage, part)
    visit_stream: npt.NDArray[np.intp]
    visit_stage: npt.NDArray[np.intp]  # index into stages
    accurate: npt.NDArray[np.bool_]
    stages: list[str]

    @classmethod
    def of(cls, streams: Sequence[ItemStream], kept: frozenset[str]) -> StageRows:
        time_stream: list[int] = []
        keys: list[tuple[str, str]] = []
        seconds: list[float] = []
        visit_stream: list[int] = []
        stages: list[str] = []
        accurate: list[bool] = []
        for row, stream in enumerate(streams):
            times, visits = stream.fold(kept)
            time_stream.extend(repeat(row, len(times)))
            keys.extend(times)
            seconds.extend(times.values())
            visit_stream.extend(repeat(row, len(visits)))
            stages.extend(visits)
            accurate.extend(visits.values())
        key_names, key_codes = _codes(keys)
        stage_names, stage_codes = _codes(stages)
        return cls(
            np.array(time_stream, dtype=np.intp),
            key_codes,
            np.array(seconds, dtype=np.float64),
            key_names,
            np.array(visit_stream, dtype=np.intp),
            stage_codes,
            np.array(accurate, dtype=np.bool_),
            stage_names,
        )


def _codes(values: list[T]) -> tuple[list[T], npt.NDArray[np.intp]]:
    """The distinct ``values`` in order of appearance, and each value's index among them."""
    distinct = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return list(distinct), np.fromiter(map(distinct.__getitem__, values), np.intp, len(values))


@dataclass(slots=True)
class Frames:
    outcomes: Frame[DeploymentOutcome]
    leads: Frame[LeadTime]
    recoveries: Frame[DeploymentOutcome]
    done: Frame[ItemFlow]
    streams: Frame[ItemStream]
    stages: StageRows


def frames_of(
    dora: DoraFacts,
    fixes: IncidentFixes,
    flows: Sequence[ItemFlow],
    streams: Sequence[ItemStream],
    kept_stages: frozenset[str],
) -> Frames:
    """Every kind of fact of one computation as columns."""
    done = Frame(
        flows,
        attrgetter("done_at"),
        _group,
        {
            "flow": lambda f: f.flow_seconds or 0.0,
            # active and waiting time, for the items whose both are known
            "active": lambda f: f.active_seconds or 0.0,
            "spent": lambda f: (
                (f.active_seconds or 0.0) + (f.waiting_seconds or 0.0)
                if f.active_seconds is not None
                else 0.0
            ),
        },
        kind=lambda f: f.item.type.value,
    )
    streams_done = stream_frame(streams)
    return Frames(
        outcome_frame(dora.outcomes, fixes),
        lead_frame(dora.lead_times),
        recovery_frame(dora.outcomes),
        done,
        streams_done,
        StageRows.of(streams_done.facts, kept_stages),
    )


def stream_frame(streams: Sequence[ItemStream]) -> Frame[ItemStream]:
    """Done items' value streams by when the item was done, with their lead and process time."""
    return Frame(
        streams,
        attrgetter("flow.done_at"),
        attrgetter("flow.group"),
        {"lead": attrgetter("lead_seconds"), "process": attrgetter("process_seconds")},
    )


def outcome_frame(
    outcomes: Sequence[DeploymentOutcome], fixes: IncidentFixes
) -> Frame[DeploymentOutcome]:
    """Production deployments by when they ended, with what each counts as."""
    values: dict[str, Callable[[DeploymentOutcome], object]] = {
        "result": lambda o: o.deployment.result.value,
        "reached": lambda o: not o.attempt_only,  # what the change failure rate counts over
        "failed": lambda o: bool(o.failure_reasons),
        "unplanned": lambda o: bool(rework_reasons(o.deployment, fixes)),
    }
    for reason in FAILURE_REASONS:
        values[reason] = _has_reason(reason)
    return Frame(outcomes, attrgetter("ended_at"), _group, values)


def _has_reason(reason: str) -> Callable[[DeploymentOutcome], object]:
    return lambda o: reason in o.failure_reasons


def lead_frame(leads: Sequence[LeadTime]) -> Frame[LeadTime]:
    """Lead times by when their change was deployed, with their parts."""
    values: dict[str, Callable[[LeadTime], object]] = {"seconds": attrgetter("seconds")}
    for i, part in enumerate(PARTS):
        values[part] = _part(i)
    return Frame(leads, attrgetter("deployed_at"), _group, values)


def _part(i: int) -> Callable[[LeadTime], object]:
    return lambda lt: lt.parts[i]


def recovery_frame(outcomes: Sequence[DeploymentOutcome]) -> Frame[DeploymentOutcome]:
    """Failed deployments by when they recovered, with their recovery time."""
    return Frame(
        outcomes,
        attrgetter("recovered_at"),
        _group,
        {"seconds": lambda o: o.recovery_seconds or 0.0},
    )
