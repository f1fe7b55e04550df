"""The configured targets as ``streamgauge_target`` series: what boards and alert rules compare
each team's and app's numbers with (the future-state map)."""

from __future__ import annotations

from streamgauge.config import Settings
from streamgauge.metrics.dimensions import LabelFolder
from streamgauge.metrics.snapshot import Snapshot

TARGET = "streamgauge_target"


def add_target_metrics(snapshot: Snapshot, settings: Settings, fold: LabelFolder) -> None:
    """One series per target: a team's with ``app=""``, an app's under its owning team."""
    placed = [(fold.team(team), "", conf.targets) for team, conf in settings.teams.items()]
    placed += [
        (fold.team(settings.team_of_app(app)), fold.app(app), conf.targets)
        for app, conf in settings.apps.items()
    ]
    for team, app, targets in placed:
        for target in targets:
            snapshot.add(
                TARGET,
                target.value,
                team=team,
                app=app,
                metric=target.metric,
                stage=target.stage or "",
                percentile=target.quantile or "",
                bound=target.bound,
            )
