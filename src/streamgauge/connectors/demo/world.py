"""The simulated world: day cohorts generated in order, each from its own seeded generator."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime

from streamgauge.connectors.demo.config import App, DemoConfig, Team, build_org
from streamgauge.connectors.demo.delivery import Delivery
from streamgauge.connectors.demo.plans import DAY, ChangePlan, CommitPlan, ItemPlan
from streamgauge.connectors.demo.runs import DeployPlan, IncidentPlan, RunPlan
from streamgauge.connectors.demo.work import generate_cohort

_CI_FAILURE_RATE = 0.1  # a CI run on a pull request fails and is re-run
_MAIN_CI_FAILURE_RATE = 0.05


class World:
    """Everything that happens from the anchor on. Generating day ``d`` draws every cohort
    born that day with its whole future, then runs that day's deployments; so the world up to
    any moment is the same however many days were generated after it."""

    def __init__(self, config: DemoConfig, anchor: datetime) -> None:
        self.config = config
        self.anchor = anchor
        self.teams: list[Team] = build_org(config)
        self.items: list[ItemPlan] = []
        self.changes: list[ChangePlan] = []
        self.commits: list[CommitPlan] = []
        self.runs: list[RunPlan] = []
        self.deployments: list[DeployPlan] = []
        self.incidents: list[IncidentPlan] = []
        self.days = 0  # day cohorts generated so far
        self._counters: dict[str, int] = {}
        self.delivery = Delivery(self)

    def advance(self, t: int) -> None:
        """Generate every day up to and including the one holding offset ``t``."""
        while self.days <= t // DAY:
            generate_cohort(self, self.days)
            self.delivery.run_day(self.days)
            self.days += 1

    def next(self, counter: str) -> int:
        """The next number of a sequence (a project's keys, a repository's pull requests)."""
        value = self._counters.get(counter, 0) + 1
        self._counters[counter] = value
        return value

    def sha(self, *parts: object) -> str:
        text = ":".join(str(p) for p in (self.config.seed, *parts))
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    def add_change(
        self,
        rng: random.Random,
        *,
        app: App,
        author: str,
        keys: tuple[str, ...],
        title: str,
        branch: str,
        dev: list[tuple[int, int]],
        reviews: list[int],
        first_review: int,
        bounces: list[int],
        approved: int,
    ) -> ChangePlan:
        """A pull request with 1-5 commits written during ``dev`` (periods of work), opened at
        ``reviews[0]``, CI on each push for review, approved at ``approved`` and merged (and
        built on main) a little later."""
        repo = app.repo
        number = self.next(f"pr:{repo}")
        first = dev[0][0] + rng.randint(0, max(0, min(dev[0][1] - dev[0][0], 3600) - 1))
        times = [first] + [rng.randint(*rng.choice(dev)) for _ in range(rng.randint(0, 4))]
        times.sort()
        commits = [(at, self.sha(repo, number, i)) for i, at in enumerate(times)]
        merge_sha = self.sha(repo, number, "merge")
        merged = approved + rng.randint(60, 1800)
        change = ChangePlan(
            repo=repo,
            number=number,
            team=app.team,
            app=app.name,
            title=title,
            author=author,
            keys=keys,
            head_branch=branch,
            created=reviews[0],
            commits=commits,
            first_review=first_review,
            bounces=bounces,
            approved=approved,
            merged=merged,
            merge_sha=merge_sha,
        )
        self.changes.append(change)
        subject = title.split(": ", 1)[-1]
        key = f"{keys[0]} " if keys else ""
        parent: tuple[str, ...] = ()
        for i, (at, sha) in enumerate(commits):
            message = f"{key}{subject}" if i == 0 else f"{key}Address review: {subject.lower()}"
            self.commits.append(
                CommitPlan(
                    repo=repo,
                    sha=sha,
                    team=app.team,
                    app=app.name,
                    authored=at,
                    visible=merged,
                    message=message,
                    keys=keys,
                    parents=parent,
                )
            )
            parent = (sha,)
        self.commits.append(
            CommitPlan(
                repo=repo,
                sha=merge_sha,
                team=app.team,
                app=app.name,
                authored=merged,
                visible=merged,
                message=f"Merge pull request #{number} from {app.repo.split('/')[0]}/{branch}",
                keys=keys,
                parents=parent,
            )
        )
        for entry in reviews:
            head = next((sha for at, sha in reversed(commits) if at <= entry), commits[0][1])
            self._ci(
                rng, app, head, branch, "pull_request", entry + 30, _CI_FAILURE_RATE, rerun=True
            )
        self._ci(
            rng, app, merge_sha, "main", "push", merged + 20, _MAIN_CI_FAILURE_RATE, rerun=False
        )
        self.delivery.merged(repo, merged, merge_sha)
        return change

    def _ci(
        self,
        rng: random.Random,
        app: App,
        sha: str,
        branch: str,
        event: str,
        start: int,
        failure_rate: float,
        *,
        rerun: bool,
    ) -> None:
        attempt = 1
        while True:
            finished = start + rng.randint(240, 1200)
            failed = rng.random() < failure_rate and attempt == 1
            native = f"{app.repo}/runs/{self.next(f'run:{app.repo}')}"
            self.runs.append(
                RunPlan(
                    native=native,
                    repo=app.repo,
                    team=app.team,
                    app=app.name,
                    sha=sha,
                    branch=branch,
                    event=event,
                    events=[start, finished],
                    failed=failed,
                    attempt=attempt,
                )
            )
            if not (failed and rerun):
                return
            attempt += 1
            start = finished + rng.randint(60, 600)
