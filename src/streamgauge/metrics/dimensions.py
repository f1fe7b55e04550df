"""Bounded label values (folding into ``other``) and the groups every window metric is cut by.

Folding: a team label value is kept when it is allowed, else it becomes ``other`` (so does a
record with no team). Allowed teams are ``labels.teams`` when set, else the names under
``teams``. Allowed apps are ``labels.apps`` when set, else the names under ``apps`` and every
app listed under ``teams.*.apps``. At most ``labels.max_values`` names are allowed per label, in
the order configured. ``all`` is reserved for the aggregate groups below and folds to ``other``.

Records are folded *before* they are grouped, so a quantile is always computed from the raw
observations of its group and never aggregated from other quantiles.

Groups: every window gauge is computed for three groupings of the same folded observations:

* ``team="all", app="all"``: the whole organisation;
* ``team=T, app="all"``: everything of team T, whatever the app (including app ``other``);
* ``team=T, app=A``: one app of one team.

Counters and histograms are exposed at the ``(team, app)`` grain only: PromQL sums them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from streamgauge.config import Settings

ALL = "all"
OTHER = "other"

Group = tuple[str, str]  # (team, app) label values
WHOLE: Group = (ALL, ALL)


def _bounded(names: Iterable[str], limit: int) -> frozenset[str]:
    kept: list[str] = []
    for name in names:
        if name != ALL and name not in kept:
            kept.append(name)
    return frozenset(kept[:limit])


class LabelFolder:
    """Maps raw team and app values onto bounded label values."""

    def __init__(self, teams: Iterable[str], apps: Iterable[str], *, max_values: int = 50) -> None:
        self.teams = _bounded(teams, max_values)
        self.apps = _bounded(apps, max_values)
        # Folding runs once per record; a memo keeps it a dict lookup on large datasets.
        self._pairs: dict[tuple[str | None, str | None], Group] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> LabelFolder:
        limits = settings.labels
        teams: Sequence[str] = limits.teams if limits.teams is not None else list(settings.teams)
        apps: Sequence[str]
        if limits.apps is not None:
            apps = limits.apps
        else:
            apps = list(settings.apps)
            for team in settings.teams.values():
                apps.extend(team.apps)
        return cls(teams, apps, max_values=limits.max_values)

    def team(self, value: str | None) -> str:
        return value if value is not None and value in self.teams else OTHER

    def app(self, value: str | None) -> str:
        return value if value is not None and value in self.apps else OTHER

    def pair(self, team: str | None, app: str | None) -> Group:
        """The folded ``(team, app)`` of a record."""
        key = (team, app)
        folded = self._pairs.get(key)
        if folded is None:
            folded = (self.team(team), self.app(app))
            self._pairs[key] = folded
        return folded


def groups_of(pair: Group) -> tuple[Group, Group, Group]:
    """The three groups a folded ``(team, app)`` observation counts in."""
    return WHOLE, (pair[0], ALL), pair


def all_groups(pairs: Iterable[Group]) -> set[Group]:
    """Every group that folded pairs reach: the whole, each team, each (team, app)."""
    out: set[Group] = {WHOLE}
    for pair in pairs:
        out.update(groups_of(pair))
    return out


def roll_up(per_pair: dict[Group, float]) -> dict[Group, float]:
    """Pair-level sums added up into every group they count in."""
    out: dict[Group, float] = defaultdict(float)
    for pair, value in per_pair.items():
        for group in groups_of(pair):
            out[group] += value
    return out


def roll_up_lists(per_pair: dict[Group, list[float]]) -> dict[Group, list[float]]:
    """Pair-level observations gathered into every group they count in."""
    out: dict[Group, list[float]] = defaultdict(list)
    for pair, values in per_pair.items():
        for group in groups_of(pair):
            out[group].extend(values)
    return out
