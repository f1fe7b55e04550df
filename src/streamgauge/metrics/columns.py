"""Facts as columns: windows, groups, sums, quantiles and histograms in a few array passes.

A :class:`Frame` holds one kind of fact (production deployments by when they ended, lead times
by when they were deployed, done items by when they were done ...) as numpy arrays: the
instant that puts a fact in a window (microseconds since the epoch, so comparisons are exact),
the fact's folded ``(team, app)`` pair, and its values. Every window family is then a mask
``start < instant <= end`` and a split of the masked facts into the groups of
:mod:`.dimensions`: the whole organisation, each team, each pair. Nothing is kept between
computations: a frame is made again from the facts each time, which costs a few array copies,
so a computation from scratch and an update aggregate the very same way.

Sums that reach a ratio or an exposed sum are exact-rounded (:func:`math.fsum`), so they never
depend on the order the facts came in; quantiles are :func:`.stats.quantile`'s type 7 over the
sorted values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from streamgauge.metrics.dimensions import ALL, WHOLE, Group
from streamgauge.metrics.stats import Histogram, bucket_counts, cumulative, quantile
from streamgauge.metrics.windows import Window

F = TypeVar("F")
K = TypeVar("K")
Index = npt.NDArray[np.intp]
Array = npt.NDArray[Any]

NEVER = np.iinfo(np.int64).min  # the instant of a fact that is in no window
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS_PER_DAY = 86_400_000_000


def micros(instant: datetime | None) -> int:
    """``instant`` as whole microseconds since the epoch (exact); :data:`NEVER` for None."""
    if instant is None:
        return int(NEVER)
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Frame(Generic[F]):
    """One kind of fact as columns, with its groups.

    ``instant(fact)`` places a fact in windows (None: in none, nor in the whole history);
    ``pair(fact)`` is its folded ``(team, app)``; ``values`` name the other columns, each a
    function of a fact. ``kind(fact)``, when given, cuts every group further (a work item's
    flow type) and adds the cut ``all`` of every kind.
    """

    def __init__(
        self,
        facts: Sequence[F],
        instant: Callable[[F], datetime | None],
        pair: Callable[[F], Group],
        values: Mapping[str, Callable[[F], Any]] | None = None,
        *,
        kind: Callable[[F], str] | None = None,
    ) -> None:
        n = len(facts)
        at = np.fromiter(map(micros, map(instant, facts)), np.int64, n)
        keep = np.flatnonzero(at != NEVER)
        kept = [facts[i] for i in keep.tolist()] if len(keep) != n else list(facts)
        self.facts = kept
        self.at = at[keep]
        pairs = list(map(pair, kept))
        self.pairs: list[Group] = sorted(set(pairs))
        codes = {p: i for i, p in enumerate(self.pairs)}
        self.pair = np.fromiter(map(codes.__getitem__, pairs), np.intp, len(kept))
        teams = sorted({team for team, _ in self.pairs})
        team_codes = {t: i for i, t in enumerate(teams)}
        self._team_groups: list[Group] = [(t, ALL) for t in teams]
        self._team_of_pair = np.array([team_codes[t] for t, _ in self.pairs], dtype=np.intp)
        self.kinds: list[str] = []
        self.kind: Array | None = None
        if kind is not None:
            names = list(map(kind, kept))
            self.kinds = sorted(set(names))
            kind_codes = {k: i for i, k in enumerate(self.kinds)}
            self.kind = np.fromiter(map(kind_codes.__getitem__, names), np.intp, len(kept))
        self.values: dict[str, Array] = {}
        for name, get in (values or {}).items():
            # bools, ints, floats or strings: numpy finds the type; None is never a value
            self.values[name] = np.array(list(map(get, kept)))

    def __len__(self) -> int:
        return len(self.facts)

    def __getitem__(self, name: str) -> Array:
        return self.values[name]

    def everything(self) -> Index:
        """Every fact: the whole history."""
        return np.arange(len(self.facts), dtype=np.intp)

    def within(self, window: Window) -> Index:
        """The facts whose instant is in ``(window.start, window.end]``."""
        start, end = micros(window.start), micros(window.end)
        return np.flatnonzero((self.at > start) & (self.at <= end))

    def by_pair(self, rows: Index) -> dict[Group, Index]:
        """``rows`` split by their pair (the grain of counters and histograms)."""
        return _split(rows, self.pair[rows], self.pairs)

    def by_group(self, rows: Index) -> dict[Group, Index]:
        """``rows`` in each group they count in: the whole, their team, their pair."""
        out: dict[Group, Index] = {WHOLE: rows} if len(rows) else {}
        out.update(_split(rows, self._team_of_pair[self.pair[rows]], self._team_groups))
        out.update(self.by_pair(rows))
        return out

    def by_cut(self, rows: Index) -> dict[tuple[Group, str], Index]:
        """``rows`` in each (group, kind) they count in, kind ``all`` included."""
        if self.kind is None:
            raise ValueError("this frame has no kinds")
        out: dict[tuple[Group, str], Index] = {}
        for group, found in self.by_group(rows).items():
            out[group, ALL] = found
            for kind, of_kind in _split(found, self.kind[found], self.kinds).items():
                out[group, kind] = of_kind
        return out


def _split(rows: Index, codes: Array, names: Sequence[K]) -> dict[K, Index]:
    """``rows`` by their code in ``codes``, each part keeping the rows' order."""
    if not len(rows):
        return {}
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    return {names[ordered[a]]: rows[order[a:b]] for a, b in zip(starts, ends, strict=True)}


def exact_sum(values: Array) -> float:
    """The exact-rounded sum of ``values`` (independent of their order)."""
    return math.fsum(values.tolist())


def count(flags: Array) -> int:
    """How many of ``flags`` are true."""
    return int(np.count_nonzero(flags))


def ordered(values: Array) -> list[float]:
    """``values`` sorted, as floats: what :func:`type7` and order statistics read."""
    return np.sort(values.astype(np.float64)).tolist()  # type: ignore[no-any-return]


def type7(values: Array, ps: Iterable[float]) -> dict[float, float]:
    """Each probability in ``ps`` to its type 7 quantile of ``values`` (see :mod:`.stats`)."""
    if not len(values):
        return {}
    sorted_values = ordered(values)
    out: dict[float, float] = {}
    for p in ps:
        value = quantile(sorted_values, p)
        if value is not None:
            out[p] = value
    return out


def histogram(values: Array, edges: Sequence[float]) -> Histogram:
    """The cumulative histogram of ``values`` over ``edges`` (a value on a bound is in it)."""
    if not len(values):
        return cumulative(bucket_counts((), edges), edges, 0.0)
    buckets = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    per_bucket = np.bincount(buckets, minlength=len(edges) + 1).tolist()
    return cumulative(per_bucket, edges, exact_sum(values))


def distinct_days(instants: Array) -> int:
    """How many distinct UTC dates the instants (microseconds since the epoch) fall on."""
    return int(np.unique(instants // MICROS_PER_DAY).size)
