"""The demo connector: streams that view the simulated world at the sync's start."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, cast

from streamgauge.config import Settings, SourceConfig
from streamgauge.connectors.base import (
    Clock,
    Connector,
    Page,
    RawRecord,
    SkippableRecord,
    Stream,
    SyncContext,
    system_clock,
)
from streamgauge.connectors.demo.config import DemoConfig
from streamgauge.connectors.demo.plans import Frame, ItemPlan, last_event
from streamgauge.connectors.demo.world import World
from streamgauge.model import Record, RecordError, from_json, to_json

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
# A later sync re-reads records whose last event is this close before the cursor; writes are
# idempotent, so the overlap costs nothing and covers records that share the cursor's second.
OVERLAP = timedelta(minutes=5)


class _Plan(Protocol):
    def build(self, frame: Frame, t: int) -> Record: ...


def _cursor(anchor: datetime, until: datetime) -> str:
    return json.dumps({"anchor": anchor.isoformat(), "until": until.isoformat()})


def _parse_cursor(cursor: str | None) -> tuple[datetime, datetime] | None:
    if not cursor:
        return None
    try:
        data = json.loads(cursor)
        return datetime.fromisoformat(data["anchor"]), datetime.fromisoformat(data["until"])
    except (ValueError, KeyError, TypeError):
        log.warning("demo cursor %r is not readable; the stream starts over", cursor[:80])
        return None


class DemoStream(Stream):
    """The records of one kind, oldest last event first, so each page's cursor is safe."""

    name: ClassVar[str] = ""

    def __init__(self, connector: DemoConnector) -> None:
        self.connector = connector

    def candidates(self, world: World, lo: int, t: int) -> Iterator[tuple[int, _Plan, int]]:
        """(last event at ``t``, plan, part) of each record with an event in (lo, t]."""
        for plan in self.plans(world):
            last = last_event(plan.events, t)
            if last is not None and last > lo:
                yield last, plan, 0

    def plans(self, world: World) -> Sequence[Any]:
        raise NotImplementedError

    def build(self, plan: Any, part: int, frame: Frame, t: int) -> Record:
        record: Record = plan.build(frame, t)
        return record

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        anchor = self.connector.anchor(ctx)
        t = int((ctx.started_at - anchor).total_seconds() // 1)
        lo = -1
        previous = _parse_cursor(cursor)
        if previous is not None and previous[0] == anchor:
            lo = int((previous[1] - OVERLAP - anchor).total_seconds() // 1)
        if t < 0:  # the configured start is still ahead: nothing has happened yet
            yield Page([], _cursor(anchor, ctx.started_at))
            return
        world = self.connector.world(anchor, t)
        frame = Frame(self.connector.name, anchor)
        found = sorted(self.candidates(world, lo, t), key=lambda c: c[0])
        for begin in range(0, len(found), PAGE_SIZE):
            chunk = found[begin : begin + PAGE_SIZE]
            raws = []
            for _, plan, part in chunk:
                record = self.build(plan, part, frame, t)
                raws.append(
                    RawRecord(
                        stream=self.name,
                        native_id=record.id.split(":", 2)[2],
                        payload=to_json(record),
                        fetched_at=ctx.started_at,
                    )
                )
            last_page = begin + PAGE_SIZE >= len(found)
            until = ctx.started_at if last_page else frame.at(chunk[-1][0])
            yield Page(raws, _cursor(anchor, until))
        if not found:
            yield Page([], _cursor(anchor, ctx.started_at))


class WorkItems(DemoStream):
    name = "work_items"

    def plans(self, world: World) -> Sequence[Any]:
        return world.items


class StatusChanges(DemoStream):
    name = "status_changes"

    def candidates(self, world: World, lo: int, t: int) -> Iterator[tuple[int, _Plan, int]]:
        for item in world.items:
            for i, at in enumerate(item.events):
                if lo < at <= t:
                    yield at, item, i

    def build(self, plan: Any, part: int, frame: Frame, t: int) -> Record:
        item: ItemPlan = plan
        return item.status_change(frame, part)


class Changes(DemoStream):
    name = "changes"

    def plans(self, world: World) -> Sequence[Any]:
        return world.changes


class Commits(DemoStream):
    name = "commits"

    def candidates(self, world: World, lo: int, t: int) -> Iterator[tuple[int, _Plan, int]]:
        for commit in world.commits:
            if lo < commit.visible <= t:
                yield commit.visible, commit, 0


class PipelineRuns(DemoStream):
    name = "pipeline_runs"

    def plans(self, world: World) -> Sequence[Any]:
        return world.runs


class Deployments(DemoStream):
    name = "deployments"

    def plans(self, world: World) -> Sequence[Any]:
        return world.deployments


class Incidents(DemoStream):
    name = "incidents"

    def plans(self, world: World) -> Sequence[Any]:
        return world.incidents


_STREAMS = (WorkItems, StatusChanges, Changes, Commits, PipelineRuns, Deployments, Incidents)


class DemoConnector(Connector):
    """A simulated toolchain: a pure function of (seed, config, anchor) viewed at a time."""

    type = "demo"
    config_model = DemoConfig

    def __init__(self, config: SourceConfig, settings: Settings, *, clock: Clock = system_clock):
        super().__init__(config, settings, clock=clock)
        self.demo = cast(DemoConfig, config)  # checked by Connector.__init__
        self._world: World | None = None

    def anchor(self, ctx: SyncContext) -> datetime:
        """Where the world begins: the configured start, else the one an earlier sync chose
        (any stream's cursor, so a sync cut short still agrees), else midnight `days` ago."""
        if self.demo.start is not None:
            return self.demo.start
        for stream in _STREAMS:
            stored = _parse_cursor(ctx.cursors.get(stream.name))
            if stored is not None:
                return stored[0]
        first = ctx.started_at - timedelta(days=self.demo.days)
        return first.replace(hour=0, minute=0, second=0, microsecond=0)

    def world(self, anchor: datetime, t: int) -> World:
        """The world generated at least up to offset ``t``; kept between syncs, since days
        generated later never change what came before."""
        if self._world is None or self._world.anchor != anchor:
            self._world = World(self.demo, anchor)
        self._world.advance(t)
        return self._world

    def streams(self) -> Sequence[Stream]:
        return [stream(self) for stream in _STREAMS]

    def normalize(self, raw: RawRecord) -> Iterable[Record]:
        """The payload is the model's JSON form already."""
        if not isinstance(raw.payload, dict):
            raise SkippableRecord(f"{raw.stream} {raw.native_id}: payload is not an object")
        try:
            return [from_json(raw.payload)]
        except (RecordError, ValueError, TypeError) as exc:
            raise SkippableRecord(f"{raw.stream} {raw.native_id}: {exc}") from None
