"""Monte Carlo forecasts on worked examples whose exact distributions are computed by hand, and
by numpy convolution for a bigger one; determinism, the all-zero guard, the cap, backlogs."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from tests.builders import work_item
from tests.metrics.helpers import NOW, gauge, settings

from streamgauge.config_forecast import MAX_DAYS, Backlog
from streamgauge.metrics import compute_all, compute_facts
from streamgauge.metrics.forecast import (
    days_at,
    in_backlog,
    items_at,
    rng_for,
    simulate_days,
    simulate_team_totals,
    simulate_totals,
)
from streamgauge.metrics.snapshot import Snapshot
from streamgauge.model import Dataset, FlowState, FlowType, WorkItem

ITEMS = "streamgauge_forecast_items"
DONE_IN = "streamgauge_forecast_done_seconds"
BACKLOG = "streamgauge_forecast_backlog_items"
DONE = FlowState.DONE
# Worked example: the share of trials sampled estimates each exact probability within about
# sqrt(p (1 - p) / T) <= 0.0025 for T = 40000; every confidence below is at least 0.0125
# (five such errors) from every exact probability it is compared with, so the Monte Carlo
# percentile is the exact one.
CONFIDENCES = [0.2, 0.6, 0.7, 0.85, 0.95]
TRIALS = 40_000


def done_at(hours_before_now: float, **fields: Any) -> WorkItem:
    when = NOW - timedelta(hours=hours_before_now)
    return work_item(created_at=when - timedelta(days=5), flow_state=DONE, done_at=when, **fields)


def tiny() -> Dataset:
    """A 2-day history of team payments: day 1 back (NOW-2d, NOW-1d] has 0 items done, day 0
    back (NOW-1d, NOW] has 2; so the daily throughput is {0, 2}. Three items not done yet carry
    the label release-1."""
    data = Dataset()
    for record in (
        done_at(6),  # day 0 back
        done_at(23),  # day 0 back
        done_at(48),  # exactly NOW - 2d: outside the history (its start is excluded)
        done_at(72),  # day 2 back: outside
        *(work_item(created_at=NOW - timedelta(days=3), labels=("release-1",)) for _ in range(3)),
        # done: not in the backlog even with the label
        done_at(100, labels=("release-1",)),
    ):
        data.add(record)
    return data


def tiny_settings(**forecast: Any) -> Any:
    base: dict[str, Any] = {
        "history": "2d",
        "horizons": ["2d"],
        "confidences": CONFIDENCES,
        "trials": TRIALS,
        "backlogs": [{"name": "release-1", "labels": ["release-1"]}],
    }
    base.update(forecast)
    return settings(forecast=base)


def series(snap: Snapshot, name: str, **fixed: str) -> dict[str, float]:
    """The family's values of one cut, by confidence."""
    out: dict[str, float] = {}
    for key, value in snap.values(name).items():
        found = dict(key)
        if all(found.get(k) == v for k, v in fixed.items()):
            out[found["confidence"]] = value
    return out


def test_items_by_horizon_equal_the_exact_percentiles_of_the_tiny_history() -> None:
    snap = compute_all(tiny(), now=NOW, settings=tiny_settings())
    # Two days drawn from {0, 2}: totals 0+0, 0+2, 2+0, 2+2, so X is 0, 2, 4 with probability
    # 1/4, 1/2, 1/4, and P(X >= 0) = 1, P(X >= 2) = 3/4, P(X >= 4) = 1/4. The largest v with
    # P(X >= v) >= c: c = 0.2 -> 4 (1/4 >= 0.2); 0.6, 0.7 -> 2 (3/4 >= c > 1/4);
    # 0.85, 0.95 -> 0 (3/4 < c).
    expected = {"0.2": 4.0, "0.6": 2.0, "0.7": 2.0, "0.85": 0.0, "0.95": 0.0}
    for team in ("payments", "all"):
        for kind in ("feature", "all"):
            assert series(snap, ITEMS, team=team, type=kind, horizon="2d") == expected
    # defects: none done in the history, so the guard forecasts 0 at every confidence
    assert set(series(snap, ITEMS, team="payments", type="defect", horizon="2d").values()) == {0}


def test_days_until_the_backlog_is_done_equal_the_exact_percentiles() -> None:
    snap = compute_all(tiny(), now=NOW, settings=tiny_settings())
    common = {"team": "payments", "type": "all", "backlog": "release-1"}
    assert gauge(snap, BACKLOG, **common) == 3.0
    # N = 3 items from days of 0 or 2 (each 1/2): done once two days gave 2, so D <= d when
    # at least 2 of the first d days did: P(D <= d) = 1 - (1/2)^d - d (1/2)^d = 1 - (d+1)/2^d:
    #   d=1: 0, d=2: 1/4, d=3: 1/2, d=4: 11/16 = 0.6875, d=5: 26/32 = 0.8125,
    #   d=6: 57/64 = 0.890625, d=7: 120/128 = 0.9375, d=8: 247/256 = 0.96484375.
    # The smallest d with P(D <= d) >= c: 0.2 -> 2, 0.6 -> 4, 0.7 -> 5, 0.85 -> 6, 0.95 -> 8.
    # exported in seconds: whole days of 86400 s
    expected = {
        c: d * 86400 for c, d in {"0.2": 2, "0.6": 4, "0.7": 5, "0.85": 6, "0.95": 8}.items()
    }
    assert series(snap, DONE_IN, **common) == expected
    assert series(snap, DONE_IN, **{**common, "team": "all"}) == expected
    # the backlog's items are features: none of another type, done in 0 days
    assert gauge(snap, BACKLOG, team="payments", type="debt", backlog="release-1") == 0.0
    assert set(
        series(snap, DONE_IN, team="payments", type="debt", backlog="release-1").values()
    ) == {0.0}


def exact_items(daily: list[int], horizon: int, c: float) -> tuple[int, list[float]]:
    """The largest v with P(X >= v) >= c, X the sum of ``horizon`` days drawn from ``daily``,
    from the exact distribution (the daily distribution convolved ``horizon`` times); and the
    tail probabilities P(X >= v) it was chosen among."""
    pmf = exact_sum_pmf(daily, horizon)
    tails = np.cumsum(pmf[::-1])[::-1]  # tails[v] = P(X >= v)
    return int(np.flatnonzero(tails >= c - 1e-12).max()), tails.tolist()


def exact_sum_pmf(daily: list[int], days: int) -> npt.NDArray[np.float64]:
    one = np.bincount(daily).astype(np.float64) / len(daily)
    pmf = np.array([1.0])
    for _ in range(days):
        pmf = np.convolve(pmf, one)
    return pmf


def far_from(c: float, probabilities: list[float], trials: int) -> bool:
    """Whether ``c`` is more than five standard errors from each probability: then the share
    of trials estimating it falls on the same side of ``c`` as the exact one."""
    return all(abs(p - c) > 5 * math.sqrt(max(p * (1 - p), 1e-9) / trials) for p in probabilities)


def test_bigger_history_checked_against_numpy_convolution() -> None:
    # a week of throughput; horizons of 3 and 5 days, 100000 trials
    daily = [0, 1, 3, 0, 2, 1, 5]
    trials = 100_000
    confidences = [0.5, 0.7, 0.85, 0.95]
    totals = simulate_totals(
        np.array(daily, dtype=np.int64), [3, 5], trials, rng_for(1, "payments", "feature")
    )
    for horizon in (3, 5):
        simulated = items_at(totals[horizon], confidences)
        for c, value in zip(confidences, simulated, strict=True):
            exact, tails = exact_items(daily, horizon, c)
            assert far_from(c, tails, trials), (horizon, c)
            assert value == exact, (horizon, c)
    # days until 25 items: D <= d exactly when the first d days sum to 25 or more
    reached = simulate_days(np.array(daily, dtype=np.int64), 25, trials, rng_for(1, "x"))
    cumulative = [float(exact_sum_pmf(daily, d)[25:].sum()) for d in range(1, 40)]
    for c, value in zip(confidences, days_at(reached, confidences), strict=True):
        exact = 1 + next(d for d, p in enumerate(cumulative) if p >= c)
        assert far_from(c, cumulative, trials), c
        assert value == exact, c


def test_same_records_give_the_same_forecasts_whatever_their_order() -> None:
    config = tiny_settings(history="7d", horizons=["14d", "28d"], confidences=[0.5, 0.85])
    data = tiny()
    first = compute_all(data, now=NOW, settings=config)
    again = compute_all(data, now=NOW, settings=config)
    reordered = Dataset()
    for item in reversed(data.work_items):
        reordered.add(item)
    other_order = compute_all(reordered, now=NOW, settings=config)
    for name in (ITEMS, DONE_IN, BACKLOG):
        assert first.values(name) == again.values(name) == other_order.values(name)
        assert first.values(name)
    # the same seed and team draw the same trials, another team other ones
    a = simulate_totals(np.array([0, 1, 2]), [5], 1000, rng_for(1, "payments"))[5]
    b = simulate_totals(np.array([0, 1, 2]), [5], 1000, rng_for(1, "search"))[5]
    c = simulate_totals(np.array([0, 1, 2]), [5], 1000, rng_for(1, "payments"))[5]
    assert not np.array_equal(a, b)
    assert np.array_equal(a, c)


def test_a_trial_draws_the_same_days_for_every_type_of_the_team() -> None:
    # features and defects of a 4-day history; "all" is their sum day by day
    features = np.array([0, 2, 1, 3], dtype=np.int64)
    defects = np.array([1, 0, 0, 2], dtype=np.int64)
    every = features + defects
    f, d, a = simulate_team_totals([features, defects, every], [3, 7], 500, rng_for(1, "t"))
    for h in (3, 7):
        # each trial's types add up to its total of every type
        assert np.array_equal(f[h] + d[h], a[h])
    # drawn apart, with generators of their own, they would not
    apart = simulate_totals(features, [3], 500, rng_for(1, "x"))[3]
    apart = apart + simulate_totals(defects, [3], 500, rng_for(1, "y"))[3]
    assert not np.array_equal(apart, a[3])


def test_a_team_that_finished_nothing_forecasts_zero_items_and_no_date() -> None:
    data = Dataset()
    # the only item done was done before the 2-day history; three items wait in the backlog
    data.add(done_at(72))
    for _ in range(3):
        data.add(work_item(created_at=NOW, labels=("release-1",)))
    snap = compute_all(data, now=NOW, settings=tiny_settings())
    assert set(series(snap, ITEMS, team="payments", type="all", horizon="2d").values()) == {0.0}
    assert gauge(snap, BACKLOG, team="payments", type="all", backlog="release-1") == 3.0
    assert series(snap, DONE_IN, team="payments", type="all", backlog="release-1") == {}
    # the simulation itself stops at once rather than running for ever
    assert (simulate_days(np.zeros(84, dtype=np.int64), 5, 100, rng_for(1)) == MAX_DAYS + 1).all()


def test_a_backlog_beyond_ten_years_has_no_days_forecast() -> None:
    # one item in 84 days: 100 items take about 8400 days, past the 3650 days simulated; after
    # 3650 days a trial has Binomial(3650, 1/84) items, mean 43.5, so none reaches 100
    daily = np.array([0] * 83 + [1], dtype=np.int64)
    reached = simulate_days(daily, 100, 1000, rng_for(1))
    assert days_at(reached, [0.5, 0.95]) == [None, None]
    # and 30 items, about 2520 days, are within it
    assert all(d is not None for d in days_at(simulate_days(daily, 30, 1000, rng_for(1)), [0.5]))


@pytest.mark.parametrize(
    ("selectors", "selected"),
    [
        ({"labels": ["release-1"]}, {"A", "B"}),
        ({"labels": ["release-1", "ui"]}, {"A"}),  # every label listed
        ({"parent": "PAY-1"}, {"A", "C"}),
        ({"project": "PAY"}, {"A", "B", "C"}),
        ({"keys": ["B", "D", "E"]}, {"B"}),  # D is done, E canceled
        ({"type": "defect"}, {"C"}),
        ({"team": "payments", "parent": "PAY-1"}, {"A"}),  # C is of team search
    ],
)
def test_a_backlog_holds_the_items_not_done_that_match_every_selector(
    selectors: dict[str, Any], selected: set[str]
) -> None:
    base = {"created_at": NOW - timedelta(days=1), "project": "PAY"}
    items = [
        work_item(key="A", labels=("release-1", "ui"), parent="PAY-1", **base),
        work_item(key="B", labels=("release-1",), flow_state=FlowState.ACTIVE, **base),
        work_item(key="C", type=FlowType.DEFECT, parent="PAY-1", team="search", **base),
        work_item(key="D", flow_state=DONE, done_at=NOW, **base),
        work_item(key="E", flow_state=FlowState.CANCELED, **base),
    ]
    data = Dataset()
    for item in items:
        data.add(item)
    facts = compute_facts(data, now=NOW, settings=settings())
    backlog = Backlog(name="b", **selectors)
    assert {f.item.key for f in facts.flows if in_backlog(f, backlog)} == selected


def test_explain_lists_the_throughput_sampled_and_each_percentile() -> None:
    from streamgauge.explain import explain

    config = tiny_settings()
    found = explain(compute_facts(tiny(), now=NOW, settings=config), "forecast", config)
    assert found.summary["trials"] == TRIALS
    by_type = {row["type"]: row for row in found.tables["throughput"]}
    # the two days, oldest first: 0 items, then 2
    assert by_type["all"]["daily_oldest_first"] == "0 2"
    assert by_type["all"]["zero_days"] == 1
    assert by_type["defect"]["items_done"] == 0
    items = {(r["type"], r["forecast"]): r for r in found.rows}
    # the same numbers as the families (worked out in the tests above)
    assert items["all", "items"]["0.2"] == 4
    assert items["all", "days"]["0.95"] == 8
    assert items["all", "days"]["items_now"] == 3
    # the guard says why: no defect was done in the history, so 0 items at every confidence
    assert items["defect", "items"]["why"] == "no item done in the history: 0 forecast"
    assert [items["defect", "items"][c] for c in ("0.2", "0.6", "0.7", "0.85", "0.95")] == [0] * 5
    # and a team that finished nothing has no date for its backlog, with why
    data = Dataset()
    data.add(done_at(72))
    data.add(work_item(created_at=NOW, labels=("release-1",)))
    found = explain(compute_facts(data, now=NOW, settings=config), "forecast", config)
    (days,) = [r for r in found.rows if r["type"] == "all" and r["forecast"] == "days"]
    assert days["why"] == "no item done in the history: no date can be forecast"
    assert days["0.6"] is None


def test_long_horizons_are_drawn_in_parts_and_every_trial_is_filled() -> None:
    # 3650 days: at most 4,000,000 draws at once is 1095 trials a part, so 3000 trials take 3
    # parts. A history of 1 and 3 items a day: every trial's total over h days lies between
    # h and 3h, and is h plus twice the days that drew 3, so it has the parity of h.
    daily = np.array([1, 3], dtype=np.int64)
    totals = simulate_totals(daily, [7, 3650], 3000, rng_for(1, "long"))
    for h in (7, 3650):
        assert len(totals[h]) == 3000
        assert (totals[h] >= h).all()  # a trial left unfilled would hold 0
        assert (totals[h] <= 3 * h).all()
        assert ((totals[h] - h) % 2 == 0).all()
    # about half the days drew 3: the mean over 3650 days is near 2 * 3650 = 7300
    assert abs(float(totals[3650].mean()) - 7300) < 50
