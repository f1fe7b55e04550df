"""Facts bucketed by the UTC day of an instant, each day's tally kept while its facts stay put.

Every window family adds up facts whose instant falls in ``(now - w, now]``, and every
counter or histogram adds up all of them. :class:`DayTallies` cuts the facts into UTC days and
tallies each day once: a window is then its whole days' tallies plus the tallies of the facts
of the two days it cuts through, and the whole history is every day's tally. When the facts
are computed again at a later ``now`` (the server does it after every sync), a day whose facts
are the very same objects as last time keeps its tally, so an update tallies the few days that
moved, not the history.

A tally must not depend on the order of the facts within a day (so sums are taken with
:func:`math.fsum`, lists are sorted): a day's facts come in the order they arrived, which
differs between the server and a fresh computation, and both must give the same numbers to the
last bit.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import chain, compress, count
from operator import is_, is_not
from typing import Any, Generic, TypeVar

from streamgauge.metrics.stats import Histogram, SortedUnion, cumulative
from streamgauge.metrics.windows import Window

F = TypeVar("F")
T = TypeVar("T")
K = TypeVar("K")


class DayTallies(Generic[F, T]):
    """Facts by the UTC day of ``instant(fact)``, and ``tally(facts_of_a_day, context)`` per day.

    ``context`` is what a tally depends on besides the facts (a configured limit, a set of
    ids); a new one drops every kept tally.
    """

    def __init__(
        self,
        instant: Callable[[F], datetime | None],
        tally: Callable[[Sequence[F], object], T],
    ) -> None:
        self._instant = instant
        self._tally = tally
        self._context: object = None
        self._known: list[F] = []  # the facts of the last refresh
        self._facts: dict[int, dict[int, F]] = {}  # day -> its facts by id()
        self._tallies: dict[int, T] = {}
        self._days: list[int] = []  # the keys of _facts, in order

    def refresh(self, facts: Sequence[F], context: object = None) -> None:
        """Take the facts of a new computation; keep the tallies of the days that did not move.

        The facts are told apart by identity: those that are not the very objects of the last
        refresh are new, and only their days (and the days of the facts gone) are tallied
        again. Holding the last facts keeps their ids from being reused meanwhile.
        """
        # Facts come in record order: usually a long run of the very same objects, then the
        # ones that moved. Only from the first difference on are facts told apart by id().
        before = self._known
        same = next(compress(count(), map(is_not, before, facts)), min(len(before), len(facts)))
        old = dict(zip(map(id, before[same:]), before[same:], strict=True))
        current = dict(zip(map(id, facts[same:]), facts[same:], strict=True))
        if context != self._context:
            self._context = context
            self._tallies = {}
        instant = self._instant
        days = self._facts
        for key in old.keys() - current.keys():
            moment = instant(old[key])
            if moment is not None:
                day = moment.toordinal()
                del days[day][key]
                self._tallies.pop(day, None)
        for key in current.keys() - old.keys() if old else current:
            moment = instant(current[key])
            if moment is not None:
                day = moment.toordinal()
                found = days.get(day)
                if found is None:
                    days[day] = {key: current[key]}
                else:
                    found[key] = current[key]
                self._tallies.pop(day, None)
        for day in [day for day, found in days.items() if not found]:
            del days[day]
        self._known = list(facts)
        self._days = sorted(days)

    def _day(self, day: int) -> T:
        found = self._tallies.get(day)
        if found is None:
            found = self._tally(list(self._facts[day].values()), self._context)
            self._tallies[day] = found
        return found

    def split(self, window: Window, recent: int) -> tuple[list[T], list[T]]:
        """:meth:`within` cut in two: the whole days older than the last ``recent`` days of the
        window, which rarely change, and the rest."""
        first, last = window.start.toordinal(), window.end.toordinal()
        cutoff = last - recent
        older: list[T] = []
        rest: list[T] = []
        for day in self._days_of(first, last):
            tally = self._in_window(day, window, first, last)
            if tally is not None:
                (older if first < day < cutoff else rest).append(tally)
        return older, rest

    def whole(self) -> list[T]:
        """Every day's tally, in day order: the whole history."""
        return [self._day(day) for day in self._days]

    def within(self, window: Window) -> list[T]:
        """Tallies that together cover exactly the facts in ``window``, in day order."""
        first, last = window.start.toordinal(), window.end.toordinal()
        out: list[T] = []
        for day in self._days_of(first, last):
            tally = self._in_window(day, window, first, last)
            if tally is not None:
                out.append(tally)
        return out

    def _days_of(self, first: int, last: int) -> list[int]:
        days = self._days
        return days[bisect_left(days, first) : bisect_right(days, last)]

    def _in_window(self, day: int, window: Window, first: int, last: int) -> T | None:
        if first < day < last:
            return self._day(day)
        # a day the window cuts through: its facts inside, unless that is all of them
        facts = self._facts[day]
        instant = self._instant
        inside = [f for f in facts.values() if window.contains(instant(f))]
        if len(inside) == len(facts):
            return self._day(day)
        return self._tally(inside, self._context) if inside else None


def by_pair(facts: Iterable[F], key: Callable[[F], K]) -> dict[K, list[F]]:
    """Facts split by their folded (team, app) pair, or another ``key``."""
    out: dict[K, list[F]] = {}
    for fact in facts:
        k = key(fact)
        found = out.get(k)
        if found is None:
            out[k] = [fact]
        else:
            found.append(fact)
    return out


def rolled(
    per_key: dict[K, T], into: Callable[[K], Iterable[K]], add: Callable[[Sequence[T]], T]
) -> dict[K, T]:
    """Tallies added up (``add``) into every key each one counts in (see ``groups_of``).

    A day's tallies are rolled up once, when the day is tallied, so that a window adds up a
    tally per day and group, not one per day and pair.
    """
    return {key: add(found) for key, found in merged([per_key], into).items()}


def merged(
    days: Iterable[dict[K, T]], into: Callable[[K], Iterable[K]] | None = None
) -> dict[K, list[T]]:
    """Each key's tallies of several days, in day order (each also under ``into(key)``)."""
    out: dict[K, list[T]] = {}
    for day in days:
        for key, tally in day.items():
            for target in (key,) if into is None else into(key):
                found = out.get(target)
                if found is None:
                    out[target] = [tally]
                else:
                    found.append(tally)
    return out


def joined(lists: Iterable[list[float]]) -> list[float]:
    """The values of several lists in one (the concatenation runs in C)."""
    return list(chain.from_iterable(lists))


def added_buckets(buckets: Sequence[Sequence[int]]) -> list[int]:
    """Per-bucket counts of several histograms added up (all over the same bounds)."""
    return [sum(column) for column in zip(*buckets, strict=True)]


class SortedValues(Generic[K, T]):
    """Each group's values in a window, for order statistics, without sorting them all again.

    The values of a window's older whole days are kept sorted between computations (while those
    days keep the very same tallies); only the last days' values are sorted anew, and order
    statistics look into both (:class:`.stats.SortedUnion`). ``values(tally)`` gives a tally's sorted values.
    """

    RECENT_DAYS = 3

    def __init__(self, values: Callable[[T], list[float]]) -> None:
        self._values = values
        self._kept: dict[tuple[str, K], tuple[list[T], list[float]]] = {}

    def of(self, days: DayTallies[Any, dict[K, T]], window: Window) -> dict[K, SortedUnion]:
        older, rest = days.split(window, self.RECENT_DAYS)
        values = self._values
        out: dict[K, SortedUnion] = {}
        recent = merged(rest)
        kept = self._kept
        for key, tallies in merged(older).items():
            found = kept.get((window.label, key))
            if (
                found is None
                or len(found[0]) != len(tallies)
                or not all(map(is_, found[0], tallies))
            ):
                found = (tallies, sorted(joined(values(t) for t in tallies)))
                kept[window.label, key] = found
            out[key] = SortedUnion(found[1], sorted(joined(values(t) for t in recent.get(key, ()))))
        for key, tallies in recent.items():
            if key not in out:
                out[key] = SortedUnion([], sorted(joined(values(t) for t in tallies)))
        return out


def histogram_of(tallies: Sequence[Any], edges: tuple[float, ...]) -> Histogram:
    """The histogram of several tallies, each with per-bucket ``buckets`` and a ``total``."""
    per_bucket = added_buckets([t.buckets for t in tallies]) or [0] * (len(edges) + 1)
    return cumulative(per_bucket, edges, math.fsum([t.total for t in tallies]))
