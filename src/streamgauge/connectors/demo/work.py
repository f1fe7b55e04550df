"""One day's cohort of work items, each drawn with its whole lifecycle and its pull requests."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from streamgauge.connectors.demo.config import App, Team
from streamgauge.connectors.demo.draws import day_rng, office_hours, poisson, wait
from streamgauge.connectors.demo.plans import ItemPlan
from streamgauge.model import FlowType

if TYPE_CHECKING:
    from streamgauge.connectors.demo.world import World

_TYPES = (FlowType.FEATURE, FlowType.DEFECT, FlowType.RISK, FlowType.DEBT)
_TYPE_WEIGHTS = (55, 25, 8, 12)
_TRACKER_TYPE = {
    FlowType.FEATURE: "Story",
    FlowType.DEFECT: "Bug",
    FlowType.RISK: "Vulnerability",
    FlowType.DEBT: "Tech Debt",
}
# Mean hours in Backlog, in Ready, and of the first stretch of development, per type:
# defects are picked up fast, debt waits longest.
_PACE = {
    FlowType.FEATURE: (72.0, 24.0, 30.0),
    FlowType.DEFECT: (12.0, 6.0, 10.0),
    FlowType.RISK: (24.0, 12.0, 16.0),
    FlowType.DEBT: (120.0, 36.0, 20.0),
}
_VERBS = {
    FlowType.FEATURE: ("Add", "Support", "Introduce"),
    FlowType.DEFECT: ("Fix",),
    FlowType.RISK: ("Patch vulnerability in", "Upgrade library behind", "Harden"),
    FlowType.DEBT: ("Refactor", "Remove legacy", "Simplify"),
}
_BRANCH = {
    FlowType.FEATURE: "feature",
    FlowType.DEFECT: "fix",
    FlowType.RISK: "security",
    FlowType.DEBT: "chore",
}
_SUBJECTS = (
    "currency rounding",
    "login throttling",
    "search ranking",
    "invoice export",
    "cart totals",
    "address validation",
    "session timeout",
    "retry budget",
    "audit log",
    "rate limiter",
    "email templates",
    "image cache",
    "order history",
    "feature flags",
    "health checks",
    "refund flow",
    "tax rules",
    "webhook delivery",
    "password reset",
    "report scheduler",
)
_MAX_DEV_CYCLES = 3  # Testing sends an item back to In Progress at most twice
_MAX_REVIEW_BOUNCES = 3


def generate_cohort(world: World, day: int) -> None:
    """Draw the work items every team starts on ``day``."""
    rng = day_rng(world.config.seed, "work", day)
    for team in world.teams:
        for _ in range(poisson(rng, world.config.items_per_team_per_day)):
            _item(world, rng, team, office_hours(rng, day, team.shift))


def _item(world: World, rng: random.Random, team: Team, created: int) -> None:
    kind = rng.choices(_TYPES, _TYPE_WEIGHTS)[0]
    app = rng.choice(team.apps)
    key = f"{team.project}-{world.next(f'key:{team.project}')}"
    subject = rng.choice(_SUBJECTS)
    title = f"{rng.choice(_VERBS[kind])} {subject}"
    backlog, ready, _ = _PACE[kind]
    times, statuses = [created], ["Backlog"]
    cancel = world.config.cancel_rate / 2  # half leave from Backlog, half from Ready
    t = created + wait(rng, backlog)
    if rng.random() < cancel:
        times.append(t)
        statuses.append("Canceled")
    else:
        times.append(t)
        statuses.append("Ready")
        t += wait(rng, ready)
        if rng.random() < cancel:
            times.append(t)
            statuses.append("Canceled")
        else:
            branch = f"{_BRANCH[kind]}/{key}-{subject.replace(' ', '-')}"
            _develop(world, rng, team, app, key, kind, title, branch, t, times, statuses)
    world.items.append(
        ItemPlan(
            key=key,
            team=team.name,
            app=app.name,
            project=team.project,
            type=kind,
            original_type=_TRACKER_TYPE[kind],
            title=title,
            events=times,
            statuses=statuses,
        )
    )


def _develop(
    world: World,
    rng: random.Random,
    team: Team,
    app: App,
    key: str,
    kind: FlowType,
    title: str,
    branch: str,
    t: int,
    times: list[int],
    statuses: list[str],
) -> None:
    """Development cycles from In Progress to Done; each cycle merges one pull request.

    Review may send the change back to In Progress (a review round); Testing may send the
    item back to In Progress, and the fix is a follow-up pull request.
    """
    config = world.config
    author = rng.choice(team.people)

    def move(at: int, status: str) -> None:
        times.append(at)
        statuses.append(status)

    for cycle in range(_MAX_DEV_CYCLES):
        move(t, "In Progress")
        took = wait(rng, _PACE[kind][2] if cycle == 0 else 6.0, 600)
        dev = [(t, t + took)]
        t += took
        move(t, "In Review")
        reviews, bounces = [t], list[int]()
        first_review: int | None = None
        while True:
            t += wait(rng, 5.0, 300)
            if first_review is None:
                first_review = t
            if len(bounces) == _MAX_REVIEW_BOUNCES or rng.random() >= config.review_rework_rate:
                break
            bounces.append(t)
            move(t, "In Progress")
            took = wait(rng, 4.0, 300)
            dev.append((t, t + took))
            t += took
            move(t, "In Review")
            reviews.append(t)
        suffix = "" if cycle == 0 else f" (follow-up {cycle})"
        change = world.add_change(
            rng,
            app=app,
            author=author,
            keys=(key,),
            title=f"{key}: {title}{suffix}",
            branch=branch if cycle == 0 else f"{branch}-{cycle + 1}",
            dev=dev,
            reviews=reviews,
            first_review=first_review,
            bounces=bounces,
            approved=t,
        )
        t = change.merged
        move(t, "Testing")
        t += wait(rng, 8.0, 600)
        if cycle + 1 < _MAX_DEV_CYCLES and rng.random() < config.testing_rework_rate:
            continue
        move(t, "Done")
        return
