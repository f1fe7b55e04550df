"""Order statistics shared by every metric: quantiles and cumulative histograms.

Quantiles use linear interpolation between closest ranks, Hyndman & Fan's type 7 (the default
of numpy.quantile, R's quantile and Excel's PERCENTILE.INC): for ``n`` sorted values ``x[0..n-1]``
and probability ``p``, ``h = (n - 1) * p`` and the quantile is
``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``. One value is every quantile
of itself; no values have no quantile (the caller emits no sample rather than a made-up 0).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise


def quantile(ordered: Sequence[float], p: float) -> float | None:
    """Type 7 quantile of already sorted values; None when there are none."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"quantile probability {p} is outside [0, 1]")
    if not ordered:
        return None
    h = (len(ordered) - 1) * p
    low = math.floor(h)
    if low + 1 >= len(ordered):
        return float(ordered[len(ordered) - 1])
    return float(ordered[low] + (h - low) * (ordered[low + 1] - ordered[low]))


def quantiles(values: Iterable[float], ps: Sequence[float]) -> dict[float, float]:
    """Each probability in ``ps`` to its type 7 quantile; empty when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return {}
    out: dict[float, float] = {}
    for p in ps:
        value = quantile(ordered, p)
        if value is not None:
            out[p] = value
    return out


def format_percentile(p: float) -> str:
    """Label value of a quantile as a percentile: 0.5 -> '50', 0.85 -> '85' (no float noise).

    Prometheus reserves the label ``quantile`` for summaries, so gauges say ``percentile``.
    """
    return f"{p * 100:.10g}"


@dataclass(frozen=True, slots=True)
class Histogram:
    """Cumulative bucket counts as Prometheus exposes them: ``counts[i]`` values <= ``bounds[i]``.

    The ``+Inf`` bucket is ``count``. ``sum`` is exact-rounded (:func:`math.fsum`), so it does
    not depend on the order the values came in.
    """

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float


def histogram(values: Iterable[float], bounds: Sequence[float]) -> Histogram:
    """Cumulative histogram of ``values`` over ascending upper ``bounds``."""
    edges = bucket_edges(bounds)
    kept = list(values)
    return cumulative(bucket_counts(kept, edges), edges, math.fsum(kept))


def bucket_edges(bounds: Sequence[float]) -> tuple[float, ...]:
    """``bounds`` as floats, checked to be strictly ascending."""
    edges = tuple(float(b) for b in bounds)
    if any(a >= b for a, b in pairwise(edges)):
        raise ValueError("histogram bounds must be strictly ascending")
    return edges


def bucket_counts(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """How many values fall in each bucket (not cumulative); the last one is ``+Inf``'s own."""
    per_bucket = [0] * (len(edges) + 1)
    for value in values:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le = "<=").
        per_bucket[bisect_left(edges, value)] += 1
    return per_bucket


def cumulative(per_bucket: Sequence[int], edges: Sequence[float], total: float) -> Histogram:
    """The histogram of :func:`bucket_counts` (or several added up) and the values' sum."""
    counts: list[int] = []
    running = 0
    for n in per_bucket[:-1]:
        running += n
        counts.append(running)
    return Histogram(tuple(edges), tuple(counts), running + per_bucket[-1], total)
