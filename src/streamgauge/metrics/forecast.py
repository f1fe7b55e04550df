"""Forecasts by Monte Carlo over daily throughput: how many items by a date, when N items are done.

* **Daily throughput** of a team (``all``: every team) and flow item type (``all``: every type):
  the work items done in each of the last ``forecast.history`` days ending at ``now``, zero days
  included; day ``k`` back is ``(now - (k + 1) d, now - k d]``, so the days together are the
  window ``(now - history, now]``, and an item counts on the day it was (last) done.
* **A trial** is one simulated future: each day after ``now`` takes the throughput of a day of
  the history drawn uniformly at random, with replacement (``forecast.trials`` trials, numpy's
  ``default_rng`` seeded through :func:`zlib.crc32` from ``forecast.seed`` and the team for
  items by a horizon, whose trials draw the same days for every type of the team, and from the
  seed, team, type and backlog for days until a backlog is done; so every number is the same
  for the same records whatever their order).
* **Items by a horizon** of ``h`` days at confidence ``c``: the largest count ``v`` that at
  least a share ``c`` of the trials reach, ``P(X >= v) >= c`` with ``X`` the items done in the
  first ``h`` days of a trial: with the totals sorted ascending ``x[0] <= ... <= x[T-1]``,
  ``v = x[T - ceil(c T)]``, a lower percentile.
* **Days until N done** at confidence ``c``: the smallest ``d`` with ``P(D <= d) >= c``, ``D``
  the first day on which a trial's running total reaches ``N`` (day 1 is the day after
  ``now``): with the days sorted ascending, ``d = D[ceil(c T) - 1]``. A backlog of 0 items is
  done in 0 days. A trial is simulated for at most :data:`MAX_DAYS` days; when the percentile
  falls on a trial that did not reach ``N`` by then, that confidence has no days forecast.
* **Guard**: a throughput of zeros only forecasts 0 items at every horizon and no days.

The backlogs (``forecast.backlogs``) count the work items not done (new, waiting or active) at
``now`` that match every selector of the backlog (:mod:`streamgauge.config_forecast`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from streamgauge.config_forecast import (
    MAX_DAYS,
    Backlog,
    ForecastConfig,
    confidence_label,
    horizon_label,
)
from streamgauge.metrics.catalog import DAY
from streamgauge.metrics.columns import MICROS_PER_DAY, Frame, micros
from streamgauge.metrics.dimensions import ALL
from streamgauge.metrics.items import ItemFlow
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.metrics.windows import Window
from streamgauge.model import FlowState, FlowType

ITEMS = "streamgauge_forecast_items"
DONE_SECONDS = "streamgauge_forecast_done_seconds"
BACKLOG_ITEMS = "streamgauge_forecast_backlog_items"
TYPES: tuple[str, ...] = (*(t.value for t in FlowType), ALL)
NOT_DONE = (FlowState.NEW, FlowState.WAITING, FlowState.ACTIVE)
# at most this many draws at once while simulating days: a few tens of megabytes
_BLOCK_DRAWS = 4_000_000

Cut = tuple[str, str]  # (team, type)
Daily = npt.NDArray[np.int64]
Totals = npt.NDArray[np.int32]  # one per trial


def rng_for(seed: int, *parts: str) -> np.random.Generator:
    """The generator of one simulation: from the configured seed and what is simulated."""
    return np.random.default_rng([seed, zlib.crc32("/".join(parts).encode())])


def needed(confidence: float, trials: int) -> int:
    """``ceil(c T)``: the trials a share ``c`` of ``T`` trials is (1 at least)."""
    # rounded first, so 0.7 * 10000 = 7000.000000000001 does not ask for 7001 trials
    return max(1, math.ceil(round(confidence * trials, 9)))


def daily_throughput(
    done: Frame[ItemFlow], teams: Iterable[str], *, now: datetime, days: int
) -> dict[Cut, Daily]:
    """Each (team, type)'s items done per day, oldest day first, zero days included."""
    end = micros(now)
    rows = done.within(Window("", now - timedelta(days=days), now))
    out: dict[Cut, Daily] = {
        (team, kind): np.zeros(days, dtype=np.int64) for team in teams for kind in TYPES
    }
    for (group, kind), found in done.by_cut(rows).items():
        if group[1] != ALL or (group[0], kind) not in out:
            continue
        back = (end - done.at[found]) // MICROS_PER_DAY  # 0: the day ending at now
        out[group[0], kind] = np.bincount(days - 1 - back, minlength=days).astype(np.int64)
    return out


def simulate_totals(
    daily: Daily, horizons: Sequence[int], trials: int, rng: np.random.Generator
) -> dict[int, Totals]:
    """Each horizon's simulated totals, one per trial: the first ``h`` days of each trial."""
    return simulate_team_totals([daily], horizons, trials, rng)[0]


def simulate_team_totals(
    dailies: Sequence[Daily], horizons: Sequence[int], trials: int, rng: np.random.Generator
) -> list[dict[int, Totals]]:
    """:func:`simulate_totals` of each of one team's types (of one history's length), the
    trials drawing the same days of the history for every type: a trial's day is one day of
    the team's past, so the types of a trial add up to its ``all``, and one draw serves all."""
    longest = max(horizons)
    days = len(dailies[0])
    edges = sorted(set(horizons))
    starts = [0, *edges[:-1]]
    totals = np.zeros((len(dailies), len(edges), trials), dtype=np.int32)
    counts = [daily.astype(np.int32) for daily in dailies]
    rows = max(1, _BLOCK_DRAWS // longest)  # trials drawn at once: long horizons in parts
    for first in range(0, trials, rows):
        size = min(rows, trials - first)
        # drawn as int16 (half the time of the default int64; a history is at most MAX_DAYS
        # days), made intp once for every type's take, with int32 counts (56 days of them fit)
        drawn = rng.integers(0, days, size=(size, longest), dtype=np.int16).astype(np.intp)
        for k, daily in enumerate(counts):
            parts = np.add.reduceat(daily.take(drawn), starts, axis=1).cumsum(axis=1)
            totals[k, :, first : first + size] = parts.T
    return [{h: totals[k, i] for i, h in enumerate(edges)} for k in range(len(dailies))]


def ranked(values: npt.NDArray[np.integer[Any]], ranks: Sequence[int]) -> list[int]:
    """The ``ranks``-th smallest of ``values`` (from 0), as sorting them would give: from the
    running count of each value, since the values are small whole numbers."""
    running = np.cumsum(np.bincount(values))
    return [int(v) for v in np.searchsorted(running, ranks, side="right")]


def items_at(totals: Totals, confidences: Sequence[float]) -> list[int]:
    """For each confidence ``c``, the largest ``v`` with at least a share ``c`` of ``totals``
    at ``v`` or more: ``x[T - ceil(c T)]`` of the totals sorted ascending."""
    trials = len(totals)
    return ranked(totals, [trials - needed(c, trials) for c in confidences])


def simulate_days(
    daily: Daily, items: int, trials: int, rng: np.random.Generator, *, cap: int = MAX_DAYS
) -> npt.NDArray[np.int64]:
    """Each trial's first day on which its running total reaches ``items`` (``cap + 1``: not
    within ``cap`` days). Days are drawn in blocks for the trials still running."""
    reached = np.full(trials, cap + 1, dtype=np.int64)
    if items <= 0:
        return np.zeros(trials, dtype=np.int64)
    mean = float(daily.mean())
    if mean == 0:
        return reached
    running = np.arange(trials)
    totals = np.zeros(trials, dtype=np.int64)
    elapsed = 0
    while running.size and elapsed < cap:
        left = items - int(totals.min())
        block = max(7, math.ceil(1.25 * left / mean) + 7)
        block = min(block, cap - elapsed, max(1, _BLOCK_DRAWS // running.size))
        draws = daily[rng.integers(0, len(daily), size=(running.size, block), dtype=np.int32)]
        sums = totals[:, None] + draws.cumsum(axis=1)
        done = sums[:, -1] >= items
        first = np.argmax(sums[done] >= items, axis=1)
        reached[running[done]] = elapsed + first + 1
        running, totals = running[~done], sums[~done, -1]
        elapsed += block
    return reached


def days_at(
    days: npt.NDArray[np.int64], confidences: Sequence[float], *, cap: int = MAX_DAYS
) -> list[int | None]:
    """For each confidence ``c``, the smallest ``d`` with at least a share ``c`` of ``days`` at
    ``d`` or fewer, ``D[ceil(c T) - 1]`` of the days sorted ascending; None beyond ``cap``."""
    trials = len(days)
    found = ranked(days, [needed(c, trials) - 1 for c in confidences])
    return [d if d <= cap else None for d in found]


def in_backlog(flow: ItemFlow, backlog: Backlog) -> bool:
    """Whether a work item is in the backlog at ``now``: not done, and every selector holds."""
    item = flow.item
    return (
        flow.state in NOT_DONE
        and (backlog.team is None or item.team == backlog.team)
        and (backlog.type is None or item.type is backlog.type)
        and all(label in item.labels for label in backlog.labels)
        and (backlog.parent is None or item.parent == backlog.parent)
        and (backlog.project is None or item.project == backlog.project)
        and (not backlog.keys or item.key in backlog.keys)
    )


def backlog_counts(flows: Iterable[ItemFlow], backlog: Backlog) -> dict[Cut, int]:
    """The backlog's items now in each (team, type) they count in; the teams it has items of
    (and ``all``) get every type, zeros included."""
    counts: dict[Cut, int] = {(ALL, kind): 0 for kind in TYPES}
    for flow in flows:
        if not in_backlog(flow, backlog):
            continue
        team = flow.group[0]
        for kind in TYPES:
            counts.setdefault((team, kind), 0)
        for cut in ((ALL, ALL), (ALL, flow.item.type.value), (team, ALL)):
            counts[cut] += 1
        counts[team, flow.item.type.value] += 1
    return counts


@dataclass(frozen=True, slots=True)
class Forecasts:
    """Every forecast of one computation, as the families export them."""

    throughput: dict[Cut, Daily]
    items: dict[tuple[str, str, int, float], int]  # (team, type, horizon days, confidence)
    backlogs: dict[tuple[str, str, str], int]  # (team, type, backlog) -> items now
    days: dict[tuple[str, str, str, float], int]  # (team, type, backlog, confidence)


def forecasts(
    flows: Sequence[ItemFlow], done: Frame[ItemFlow], config: ForecastConfig, *, now: datetime
) -> Forecasts:
    """Items by each horizon for every team and type with work items, and days until each
    backlog is done."""
    teams = sorted({f.group[0] for f in flows} | {ALL}) if flows else []
    throughput = daily_throughput(done, teams, now=now, days=config.history.days)
    horizons = config.horizon_days
    items: dict[tuple[str, str, int, float], int] = {}
    for team in teams:
        kinds = [k for k in TYPES if throughput[team, k].any()]
        for kind in TYPES:  # the guard: a type with nothing done forecasts 0 items
            for h in horizons:
                for c in config.confidences:
                    items[team, kind, h, c] = 0
        if not kinds:
            continue
        rng = rng_for(config.seed, team)
        dailies = [throughput[team, k] for k in kinds]
        simulated = simulate_team_totals(dailies, horizons, config.trials, rng)
        for kind, totals in zip(kinds, simulated, strict=True):
            for h in horizons:
                found = items_at(totals[h], config.confidences)
                for c, count in zip(config.confidences, found, strict=True):
                    items[team, kind, h, c] = count
    backlogs: dict[tuple[str, str, str], int] = {}
    days: dict[tuple[str, str, str, float], int] = {}
    # the items not done: a few of the history's, and all any backlog looks at
    open_flows = [f for f in flows if f.state in NOT_DONE] if config.backlogs else []
    for backlog in config.backlogs:
        for (team, kind), n in sorted(backlog_counts(open_flows, backlog).items()):
            backlogs[team, kind, backlog.name] = n
            daily = throughput.get((team, kind), np.zeros(1, dtype=np.int64))
            if n and not daily.any():
                continue  # the guard: a team that finishes nothing has no date
            rng = rng_for(config.seed, team, kind, backlog.name)
            reached = simulate_days(daily, n, config.trials, rng)
            percentiles = days_at(reached, config.confidences)
            for c, day in zip(config.confidences, percentiles, strict=True):
                if day is not None:
                    days[team, kind, backlog.name, c] = day
    return Forecasts(throughput, items, backlogs, days)


def add_forecast_metrics(
    snapshot: Snapshot,
    flows: Sequence[ItemFlow],
    done: Frame[ItemFlow],
    config: ForecastConfig,
    *,
    now: datetime,
) -> None:
    """Add ``streamgauge_forecast_items``, ``_done_seconds`` (whole days, in seconds) and
    ``_backlog_items``."""
    if not flows:
        return  # no work items at all: no flow source configured, so no forecast
    found = forecasts(flows, done, config, now=now)
    for (team, kind, h, c), value in found.items.items():
        snapshot.add(
            ITEMS, value, team=team, type=kind, horizon=horizon_label(h),
            confidence=confidence_label(c),
        )  # fmt: skip
    for (team, kind, name), n in found.backlogs.items():
        snapshot.add(BACKLOG_ITEMS, n, team=team, type=kind, backlog=name)
    for (team, kind, name, c), value in found.days.items():
        snapshot.add(
            DONE_SECONDS, value * DAY, team=team, type=kind, backlog=name,
            confidence=confidence_label(c),
        )  # fmt: skip
