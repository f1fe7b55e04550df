"""Deployments to staging and production, and the incidents, rollbacks and hotfixes after them."""

from __future__ import annotations

import heapq
import random
from typing import TYPE_CHECKING

from streamgauge.connectors.demo.config import App
from streamgauge.connectors.demo.draws import day_rng, office_hours, poisson, wait
from streamgauge.connectors.demo.plans import DAY
from streamgauge.connectors.demo.runs import DeployPlan, IncidentPlan
from streamgauge.model import DeploymentKind, Environment, Severity

if TYPE_CHECKING:
    from streamgauge.connectors.demo.world import World

_PROD, _STAGING = Environment.PRODUCTION, Environment.STAGING
_SEVERITIES = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
_SEVERITY_WEIGHTS = (1, 3, 4, 2)
_INCIDENT_TITLES = (
    "Elevated error rate in {app}",
    "Latency spike on {app}",
    "{app} pods crash-looping",
    "Requests to {app} time out",
)

# (start, sequence, app, environment, kind, incident index or -1): the sequence makes the
# order total, so equal start times never compare the rest.
_Scheduled = tuple[int, int, str, Environment, DeploymentKind, int]


class Delivery:
    """Deploys in time order; a deployment ships every merge made before it starts that no
    earlier successful deployment of the app to that environment shipped."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._apps = {app.name: app for team in world.teams for app in team.apps}
        self._people = {team.name: team.people for team in world.teams}
        self._schedule: list[_Scheduled] = []
        self._sequence = 0
        self._pending: dict[tuple[str, Environment], list[tuple[int, str]]] = {}
        self._live: dict[tuple[str, Environment], list[str]] = {}  # shas deployed, newest last
        self._rollback_to: dict[int, str] = {}  # incident index -> sha to go back to

    def merged(self, repo: str, at: int, merge_sha: str) -> None:
        for env in (_PROD, _STAGING):
            heapq.heappush(self._pending.setdefault((repo, env), []), (at, merge_sha))

    def run_day(self, day: int) -> None:
        """Draw the day's planned deployments, then run every deployment starting that day."""
        config = self.world.config
        rng = day_rng(config.seed, "deploy", day)
        rates = (
            (_PROD, config.deployments_per_app_per_day),
            (_STAGING, config.staging_deployments_per_app_per_day),
        )
        for app in self._apps.values():
            for env, rate in rates:
                for _ in range(poisson(rng, rate)):
                    at = office_hours(rng, day, app.shift)
                    self._plan(at, app.name, env, DeploymentKind.REGULAR)
        while self._schedule and self._schedule[0][0] < (day + 1) * DAY:
            at, _, name, env, kind, incident = heapq.heappop(self._schedule)
            self._deploy(rng, at, self._apps[name], env, kind, incident)

    def _plan(
        self, at: int, app: str, env: Environment, kind: DeploymentKind, incident: int = -1
    ) -> None:
        self._sequence += 1
        heapq.heappush(self._schedule, (at, self._sequence, app, env, kind, incident))

    def _deploy(
        self,
        rng: random.Random,
        at: int,
        app: App,
        env: Environment,
        kind: DeploymentKind,
        incident: int,
    ) -> None:
        pending = self._pending.setdefault((app.repo, env), [])
        live = self._live.setdefault((app.name, env), [])
        shipped: list[tuple[int, str]] = []
        while pending and pending[0][0] < at:
            shipped.append(heapq.heappop(pending))
        if kind is DeploymentKind.ROLLBACK:
            sha = self._rollback_to.pop(incident)
        elif shipped:
            sha = shipped[-1][1]
        elif kind is DeploymentKind.REGULAR or not live:
            return  # nothing merged since the last deployment: nothing to ship
        else:
            sha = live[-1]  # a hotfix whose merge a regular deployment already shipped
        failed = (
            kind is DeploymentKind.REGULAR
            and rng.random() < self.world.config.deployment_failure_rate
        )
        finished = at + rng.randint(180, 900)
        if failed or kind is DeploymentKind.ROLLBACK:
            for merge in shipped:  # not shipped after all: the next deployment takes them
                heapq.heappush(pending, merge)
            shipped = []
        if failed:
            self._plan(finished + wait(rng, 1.5, 900), app.name, env, DeploymentKind.REGULAR)
        else:
            live.append(sha)
        number = self.world.next(f"deploy:{app.name}")
        deployment = DeployPlan(
            native=f"{app.name}/{env.value}/{number}",
            team=app.team,
            app=app.name,
            repo=app.repo,
            environment=env,
            kind=kind,
            sha=sha,
            events=[at, finished],
            failed=failed,
            commit_shas=tuple(merge_sha for _, merge_sha in shipped),
            incident_keys=(self.world.incidents[incident].key,) if incident >= 0 else (),
        )
        self.world.deployments.append(deployment)
        if incident >= 0:
            self.world.incidents[incident].resolve(finished + rng.randint(300, 1800))
        elif env is _PROD and not failed and rng.random() < self.world.config.incident_rate:
            self._incident(rng, app, deployment, live[-2] if len(live) > 1 else None)

    def _incident(
        self, rng: random.Random, app: App, deployment: DeployPlan, previous: str | None
    ) -> None:
        """An incident after ``deployment``, remedied by a rollback to ``previous`` or a hotfix."""
        world, config = self.world, self.world.config
        opened = deployment.events[1] + wait(rng, 1.0, 120)
        key = f"INC-{world.next('incident')}"
        title = rng.choice(_INCIDENT_TITLES).format(app=app.name)
        explicit = rng.random() < config.explicit_incident_link_share
        index = len(world.incidents)
        world.incidents.append(
            IncidentPlan(
                key=key,
                team=app.team,
                app=app.name,
                title=title,
                events=[opened],
                severity=rng.choices(_SEVERITIES, _SEVERITY_WEIGHTS)[0],
                deployment=deployment.native if explicit else None,
            )
        )
        if previous is not None and rng.random() < config.rollback_share:
            self._rollback_to[index] = previous
            self._plan(
                opened + wait(rng, 0.7, 300), app.name, _PROD, DeploymentKind.ROLLBACK, index
            )
            return
        created = opened + rng.randint(600, 2400)
        approved = created + wait(rng, 0.75, 600)
        hotfix = world.add_change(
            rng,
            app=app,
            author=rng.choice(self._people[app.team]),
            keys=(),
            title=f"Hotfix {key}: {title}",
            branch=f"hotfix/{key.lower()}",
            dev=[(opened + 60, created - 60)],
            reviews=[created],
            first_review=rng.randint(created + 60, approved),
            bounces=[],
            approved=approved,
        )
        self._plan(
            hotfix.merged + rng.randint(300, 900), app.name, _PROD, DeploymentKind.HOTFIX, index
        )
