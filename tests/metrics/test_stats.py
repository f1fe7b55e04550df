"""Quantiles (type 7, linear interpolation) and cumulative histograms on hand-checked values."""

from __future__ import annotations

import pytest

from streamgauge.metrics.stats import (
    format_percentile,
    histogram,
    quantile,
    quantiles,
)


def test_quantile_interpolates_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    # n = 4: h = (n - 1) * p
    # p = 0.5  -> h = 1.5  -> 20 + 0.5 * (30 - 20) = 25
    # p = 0.85 -> h = 2.55 -> 30 + 0.55 * (40 - 30) = 35.5
    # p = 0.95 -> h = 2.85 -> 30 + 0.85 * (40 - 30) = 38.5
    assert quantile(values, 0.5) == pytest.approx(25.0)
    assert quantile(values, 0.85) == pytest.approx(35.5)
    assert quantile(values, 0.95) == pytest.approx(38.5)
    # the ends are the smallest and the largest value
    assert quantile(values, 0.0) == 10.0
    assert quantile(values, 1.0) == 40.0


def test_quantile_of_odd_count_hits_the_middle_value() -> None:
    # n = 5, p = 0.5 -> h = 2 -> the third value exactly
    assert quantile([1.0, 2.0, 7.0, 8.0, 100.0], 0.5) == 7.0


def test_one_value_is_every_quantile_and_none_has_none() -> None:
    assert quantile([42.0], 0.95) == 42.0
    assert quantile([], 0.5) is None
    assert quantiles([], (0.5, 0.95)) == {}


def test_quantiles_sorts_its_input() -> None:
    # sorted: 1, 3, 5 -> p = 0.5: h = 1 -> 3; p = 0.85: h = 1.7 -> 3 + 0.7 * 2 = 4.4
    out = quantiles([5.0, 1.0, 3.0], (0.5, 0.85))
    assert out[0.5] == pytest.approx(3.0)
    assert out[0.85] == pytest.approx(4.4)


def test_quantile_refuses_a_probability_outside_0_1() -> None:
    with pytest.raises(ValueError, match="outside"):
        quantile([1.0], 1.5)


def test_percentile_labels_have_no_float_noise() -> None:
    # 0.85 * 100 is 85.00000000000001 in binary floating point; the label is "85"
    assert [format_percentile(p) for p in (0.5, 0.85, 0.95, 0.999)] == ["50", "85", "95", "99.9"]


def test_histogram_is_cumulative_and_a_bound_includes_its_value() -> None:
    # bounds 10, 20, 30; values 5, 10, 15, 30, 99
    #   <= 10: 5 and 10 (equal to the bound counts)  -> 2
    #   <= 20: + 15                                   -> 3
    #   <= 30: + 30                                   -> 4
    #   +Inf : + 99                                   -> count 5, sum 5+10+15+30+99 = 159
    h = histogram([15.0, 5.0, 99.0, 10.0, 30.0], (10, 20, 30))
    assert h.bounds == (10.0, 20.0, 30.0)
    assert h.counts == (2, 3, 4)
    assert h.count == 5
    assert h.sum == pytest.approx(159.0)


def test_empty_histogram_has_zero_buckets() -> None:
    h = histogram([], (1.0, 2.0))
    assert (h.counts, h.count, h.sum) == ((0, 0), 0, 0.0)


def test_histogram_refuses_unordered_bounds() -> None:
    with pytest.raises(ValueError, match="ascending"):
        histogram([1.0], (2.0, 1.0))
