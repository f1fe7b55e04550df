"""Facts as columns: windows, groups, quantiles and histograms, checked by hand and against the
plain-Python order statistics of :mod:`streamgauge.metrics.stats`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from streamgauge.metrics.catalog import QUANTILES
from streamgauge.metrics.columns import (
    Frame,
    distinct_days,
    histogram,
    micros,
    type7,
)
from streamgauge.metrics.stats import histogram as plain_histogram
from streamgauge.metrics.stats import quantiles
from streamgauge.metrics.windows import Window

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@dataclass
class Fact:
    at: datetime | None
    group: tuple[str, str]
    seconds: float
    kind: str = "feature"


def frame(facts: list[Fact]) -> Frame:
    return Frame(
        facts,
        lambda f: f.at,
        lambda f: f.group,
        {"seconds": lambda f: f.seconds},
        kind=lambda f: f.kind,
    )


def test_a_window_is_half_open_and_facts_without_an_instant_are_in_none() -> None:
    # Window (NOW - 1d, NOW]: a fact exactly at NOW is in, one exactly a day earlier is out,
    # one a microsecond later than that is in, one with no instant is nowhere at all.
    day = timedelta(days=1)
    facts = [
        Fact(NOW, ("pay", "api"), 1.0),
        Fact(NOW - day, ("pay", "api"), 2.0),
        Fact(NOW - day + timedelta(microseconds=1), ("pay", "web"), 3.0),
        Fact(None, ("pay", "api"), 4.0),
    ]
    f = frame(facts)
    assert len(f) == 3
    rows = f.within(Window("1d", NOW - day, NOW))
    assert sorted(f["seconds"][rows].tolist()) == [1.0, 3.0]


def test_each_fact_counts_in_the_whole_its_team_and_its_pair() -> None:
    # pay/api 10 and 30, pay/web 20, ops/api 40: the whole has all four, team pay three,
    # team ops one, each pair its own.
    facts = [
        Fact(NOW, ("pay", "api"), 10.0),
        Fact(NOW, ("pay", "web"), 20.0, "defect"),
        Fact(NOW, ("pay", "api"), 30.0),
        Fact(NOW, ("ops", "api"), 40.0),
    ]
    f = frame(facts)
    groups = {
        g: sorted(f["seconds"][rows].tolist()) for g, rows in f.by_group(f.everything()).items()
    }
    assert groups == {
        ("all", "all"): [10.0, 20.0, 30.0, 40.0],
        ("pay", "all"): [10.0, 20.0, 30.0],
        ("ops", "all"): [40.0],
        ("pay", "api"): [10.0, 30.0],
        ("pay", "web"): [20.0],
        ("ops", "api"): [40.0],
    }
    cuts = f.by_cut(f.everything())
    assert sorted(f["seconds"][cuts[("pay", "all"), "defect"]].tolist()) == [20.0]
    assert sorted(f["seconds"][cuts[("pay", "all"), "feature"]].tolist()) == [10.0, 30.0]
    assert len(cuts[("all", "all"), "all"]) == 4
    assert ((("ops", "all"), "defect")) not in cuts


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=40))
def test_type7_is_the_plain_quantiles(values: list[float]) -> None:
    assert type7(np.array(values, dtype=np.float64), QUANTILES) == quantiles(values, QUANTILES)


@given(st.lists(st.sampled_from([0.0, 1.0, 2.0, 2.5, 3.0, 7.0, 100.0]), max_size=40))
def test_histogram_is_the_plain_histogram(values: list[float]) -> None:
    edges = (1.0, 2.5, 7.0)
    assert histogram(np.array(values, dtype=np.float64), edges) == plain_histogram(values, edges)


def test_distinct_days_are_utc_dates() -> None:
    # 23:59:59.999999 and 00:00 the next day are two dates; two instants of one date are one.
    late = datetime(2026, 3, 9, 23, 59, 59, 999999, tzinfo=UTC)
    instants = [late, late + timedelta(microseconds=1), late - timedelta(hours=3)]
    assert distinct_days(np.array([micros(t) for t in instants], dtype=np.int64)) == 2
