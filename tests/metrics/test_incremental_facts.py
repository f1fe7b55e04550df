"""The calculator's facts, update after update, are a fresh computation's, in the same order.

A seeded simulation makes a small organisation and then changes it the way syncs do: new
records, and records replaced (a running deployment that finishes, or fails after all; a change
that gets merged or renamed; an incident resolved; a work item done; a status change moved to
another item), while ``now`` moves on and sometimes back. After every update the calculator's
facts must equal :func:`compute_facts` over the same records, list by list, and every fact equal
to one of the previous computation must be that very object.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.builders import (
    at,
    change,
    commit,
    deployment,
    incident,
    pipeline_run,
    status_change,
    work_item,
)

from streamgauge.config import Settings
from streamgauge.metrics import Facts, compute_facts
from streamgauge.metrics.incremental import Calculator
from streamgauge.model import (
    Change,
    ChangeState,
    Dataset,
    Deployment,
    DeploymentKind,
    Environment,
    FlowState,
    Incident,
    Record,
    RunResult,
    Severity,
    StatusChange,
    WorkItem,
)

SETTINGS = Settings(
    teams={"payments": {"apps": ["checkout", "ledger"]}}, windows=["1d", "7d", "30d"]
)
# the definition rules away from their defaults: some incidents and failed jobs count, some not
STRICT = SETTINGS.model_copy(
    update={
        "metrics": SETTINGS.metrics.model_copy(
            update={"incident_min_severity": Severity.MEDIUM, "failed_attempts_are_failures": True}
        )
    }
)
SEVERITIES = list(Severity)
APPS = ("checkout", "ledger", "search")
STAGES = {  # by source: "other" maps no status to a stage, "ops" names two like delivery stages
    "test": {
        FlowState.NEW: "backlog",
        FlowState.ACTIVE: "development",
        FlowState.WAITING: "review",
        FlowState.DONE: None,
        FlowState.CANCELED: None,
    },
    "ops": {
        FlowState.NEW: "backlog",
        FlowState.ACTIVE: "coding",
        FlowState.WAITING: "deploy",
        FlowState.DONE: None,
        FlowState.CANCELED: None,
    },
}


class World:
    """Records made and changed at random, by id in the order they first appeared."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.records: dict[str, Record] = {}
        self.now = at(days=10)
        self.serial = 0
        self.shas: list[str] = []  # shas of merged changes and of direct pushes

    def next(self) -> int:
        self.serial += 1
        return self.serial

    def of(self, kind: type[Any]) -> list[Any]:
        return [r for r in self.records.values() if isinstance(r, kind)]

    def moment(self, back: float = 3, ahead: float = 0.3) -> datetime:
        """Mostly before ``now``, sometimes a little after it."""
        return self.now + timedelta(hours=self.rng.uniform(-back * 24, ahead * 24))

    def update(self, size: int) -> list[Record]:
        """A batch of new and replaced records, as one sync brings them."""
        makers: list[Callable[[], Record | None]] = [
            self.new_item,
            self.new_status_change,
            self.new_status_change,
            self.new_change,
            self.new_change,
            self.new_commit,
            self.new_deployment,
            self.new_deployment,
            self.new_incident,
            self.replace_item,
            self.replace_change,
            self.replace_deployment,
            self.replace_incident,
            self.replace_status_change,
            self.same_again,
            self.new_run,
        ]
        batch: list[Record] = []
        for _ in range(size):
            record = self.rng.choice(makers)()
            if record is not None:
                self.records[record.id] = record
                batch.append(record)
        return batch

    # --- new records ----------------------------------------------------------------------

    def new_item(self) -> Record:
        n = self.next()
        state = self.rng.choice(list(FlowState))
        created = self.moment(back=8)
        return work_item(
            created_at=created,
            flow_state=state,
            key=f"{self.rng.choice(['PAY', 'OPS'])}-{n}",
            native_id=n,
            source=self.rng.choice(["test", "test", "ops", "other"]),
            app=self.rng.choice(APPS),
            stage=self.rng.choice([None, "development"]),
            done_at=created + timedelta(hours=5) if state is FlowState.DONE else None,
            history_complete=self.rng.random() > 0.1,
        )

    def new_status_change(self) -> Record | None:
        items = self.of(WorkItem)
        if not items:
            return None
        item = self.rng.choice(items)
        before, after = self.rng.choice(list(FlowState)), self.rng.choice(list(FlowState))
        stages = STAGES.get(item.source)
        return status_change(
            item=item,
            at=self.moment(),
            from_state=self.rng.choice([before, None]),
            to_state=after,
            native_id=self.next(),
            from_stage=stages[before] if stages else None,
            to_stage=stages[after] if stages else None,
        )

    def new_change(self) -> Record:
        n = self.next()
        created = self.moment(back=6)
        merged = self.rng.random() < 0.8
        keys = [i.key for i in self.rng.sample(self.of(WorkItem), min(2, len(self.of(WorkItem))))]
        keys += [i.key for i in self.of(Incident)[:1] if self.rng.random() < 0.2]
        merge_sha = f"m{n}"
        if merged:
            self.shas.append(merge_sha)
        return change(
            created_at=created,
            first_commit_at=created + timedelta(hours=self.rng.uniform(-30, 5)),
            merged_at=created + timedelta(hours=self.rng.uniform(1, 30)) if merged else None,
            merge_sha=merge_sha,
            commit_shas=tuple(f"c{n}-{i}" for i in range(self.rng.randint(0, 2))),
            native_id=n,
            work_item_keys=tuple(self.rng.sample(keys, self.rng.randint(0, len(keys)))),
            first_review_at=created + timedelta(hours=self.rng.uniform(-2, 20))
            if self.rng.random() < 0.7
            else None,
            review_rounds=self.rng.choice([0, 0, 1]),
            app=self.rng.choice(APPS),
        )

    def new_commit(self) -> Record:
        # a direct push (a sha no change lists), or a commit of a change's, or an unrelated one
        n = self.next()
        sha = self.rng.choice([f"p{n}", f"p{n}", f"x{n}", *self.shas[-3:]])
        if sha.startswith("p"):
            self.shas.append(sha)
        return commit(
            sha=sha,
            authored_at=self.moment(back=5),
            parents=tuple(f"q{i}" for i in range(self.rng.choice([0, 1, 1, 2]))),
            app=self.rng.choice(APPS),
        )

    def new_deployment(self) -> Record:
        n = self.next()
        running = self.rng.random() < 0.25
        # most finish after every known deployment; some finish earlier than the last one
        finish = self.now + timedelta(hours=self.rng.uniform(-1, 0.5))
        if self.rng.random() < 0.15:
            finish = self.moment(back=4)
        shas = tuple(self.rng.sample(self.shas[-8:], min(len(self.shas[-8:]), 2)))
        return deployment(
            started_at=finish - timedelta(minutes=20),
            finished_at=None if running else finish,
            result=None
            if running
            else self.rng.choice([RunResult.SUCCESS] * 4 + [RunResult.FAILURE]),
            environment=self.rng.choice([Environment.PRODUCTION] * 3 + [Environment.STAGING]),
            kind=self.rng.choice([DeploymentKind.REGULAR] * 4 + list(DeploymentKind)),
            commit_shas=shas,
            native_id=n,
            app=self.rng.choice(APPS),
            # one in seven names an incident it fixes
            incident_keys=tuple(i.key for i in self.of(Incident)[-1:] if n % 7 == 0),
        )

    def new_incident(self) -> Record:
        n = self.next()
        deployments = self.of(Deployment)
        named: str | None = None
        roll = self.rng.random()
        if roll < 0.3 and deployments:
            named = self.rng.choice(deployments).id
        elif roll < 0.4:
            named = f"test:deployment:{self.serial + self.rng.randint(1, 6)}"  # one to come
        opened = self.moment(back=2)
        return incident(
            opened_at=opened,
            resolved_at=opened + timedelta(hours=self.rng.uniform(-1, 10))
            if self.rng.random() < 0.6
            else None,
            deployment_id=named,
            native_id=n,
            app=self.rng.choice(APPS),
            severity=SEVERITIES[n % len(SEVERITIES)],
        )

    def new_run(self) -> Record:
        start = self.moment()
        return pipeline_run(started_at=start, finished_at=start + timedelta(minutes=5))

    # --- replaced records -----------------------------------------------------------------

    def pick(self, kind: type[Any]) -> Any | None:
        found = self.of(kind)
        return self.rng.choice(found) if found else None

    def replace_item(self) -> Record | None:
        item = self.pick(WorkItem)
        if item is None:
            return None
        state = self.rng.choice(list(FlowState))
        key = item.key if self.rng.random() < 0.9 else f"OPS-{self.next()}"
        return replace(
            item,
            flow_state=state,
            key=key,
            done_at=self.now if state is FlowState.DONE else None,
            stage=self.rng.choice([None, "review"]),
        )

    def replace_change(self) -> Record | None:
        found = self.pick(Change)
        if found is None:
            return None
        roll = self.rng.random()
        if found.state is ChangeState.OPEN or roll < 0.3:
            merged = self.moment(back=1)
            if found.merge_sha:
                self.shas.append(found.merge_sha)
            return replace(found, state=ChangeState.MERGED, merged_at=merged)
        if roll < 0.6:
            keys = [i.key for i in self.of(WorkItem)[-3:]]
            return replace(found, work_item_keys=tuple(keys[: self.rng.randint(0, 2)]))
        return replace(found, commit_shas=(*found.commit_shas[1:], f"c{self.next()}"))

    def replace_deployment(self) -> Record | None:
        found = self.pick(Deployment)
        if found is None:
            return None
        if found.result is RunResult.RUNNING:
            finish = max(self.now - timedelta(minutes=5), found.started_at)
            return replace(found, finished_at=finish, result=RunResult.SUCCESS)
        if self.rng.random() < 0.5:
            return replace(found, result=RunResult.FAILURE)
        return replace(found, deployment_kind=DeploymentKind.HOTFIX)

    def replace_incident(self) -> Record | None:
        found = self.pick(Incident)
        if found is None:
            return None
        if found.resolved_at is None:
            return replace(found, resolved_at=self.now)
        # an earlier opening, and a severity one step further along the order
        severity = SEVERITIES[(SEVERITIES.index(found.severity) + 1) % len(SEVERITIES)]
        return replace(found, opened_at=found.opened_at - timedelta(hours=1), severity=severity)

    def replace_status_change(self) -> Record | None:
        found = self.pick(StatusChange)
        item = self.pick(WorkItem)
        if found is None or item is None:
            return None
        if self.rng.random() < 0.5:
            return replace(found, item_id=item.id)
        return replace(found, at=found.at - timedelta(hours=2))

    def same_again(self) -> Record | None:
        """A record synced again unchanged: a new object equal to the one it replaces."""
        if not self.records:
            return None
        found = self.rng.choice(list(self.records.values()))
        return replace(found)

    def dataset(self) -> Dataset:
        data = Dataset()
        for record in self.records.values():
            data.add(record)
        return data


def same_facts(got: Facts, expected: Facts) -> None:
    """Every list equal, record by record and in order (floats to the last bit)."""
    for name in (
        "lead_times",
        "outcomes",
        "never_deployed",
        "clamped_parts",
        "negative_lead_times",
        "too_long_lead_times",
        "negative_recoveries",
    ):
        assert getattr(got.dora, name) == getattr(expected.dora, name), name
    assert got.incident_fixes == expected.incident_fixes
    assert got.flows == expected.flows
    assert got.streams == expected.streams
    for stream in (*got.streams, *expected.streams):  # names are not compared above
        assert stream.names == {stage for stage, _ in stream.times} | set(stream.accurate)
    assert got.problems == expected.problems
    assert got.links.blame == expected.links.blame
    assert got.links.incidents_of == expected.links.incidents_of
    assert got.links.set_aside == expected.links.set_aside


def kept_when_equal(
    before: Sequence[Any], after: Sequence[Any], key: Callable[[Any], Hashable]
) -> int:
    """How many facts were kept; fails on a fact equal to the previous one but a new object."""
    previous = {key(f): f for f in before}
    kept = 0
    for fact in after:
        old = previous.get(key(fact))
        if old is not None and old == fact:
            assert old is fact, fact
            kept += 1
    return kept


def lead_key(lead: Any) -> Hashable:
    return lead.change.id if lead.change is not None else lead.commit.id


@pytest.mark.parametrize(
    ("seed", "rules"),
    [*((seed, SETTINGS) for seed in range(8)), *((seed, STRICT) for seed in range(3))],
)
def test_every_update_gives_the_facts_of_a_fresh_computation(seed: int, rules: Settings) -> None:
    world = World(seed)
    world.update(120)
    calculator = Calculator(rules)
    calculator.load(world.dataset())
    before = calculator.facts(world.now)
    same_facts(before, compute_facts(world.dataset(), now=world.now, settings=rules))
    kept = extended = 0
    for step in range(14):
        # now moves on by minutes to a day, and every fourth step back by half a day
        world.now += timedelta(hours=-12 if step % 4 == 3 else world.rng.uniform(0.1, 24))
        batch = world.update(world.rng.randint(0, 25))
        links = calculator.links
        calculator.upsert(batch)
        facts = calculator.facts(world.now)
        extended += calculator.links is links
        same_facts(facts, compute_facts(world.dataset(), now=world.now, settings=rules))
        kept += kept_when_equal(before.dora.lead_times, facts.dora.lead_times, lead_key)
        kept += kept_when_equal(
            before.dora.outcomes, facts.dora.outcomes, lambda o: o.deployment.id
        )
        kept += kept_when_equal(before.flows, facts.flows, lambda f: f.item.id)
        kept += kept_when_equal(before.streams, facts.streams, lambda s: s.flow.item.id)
        before = facts
    assert kept  # the facts that did not move were kept
    assert extended >= 6, extended  # and most updates were taken in place
