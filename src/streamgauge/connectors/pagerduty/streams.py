"""The incidents stream: each service read in time slices that stay under the offset cap."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from streamgauge.connectors.base import (
    FatalError,
    Page,
    Paginator,
    RawRecord,
    Stream,
    SyncContext,
)
from streamgauge.connectors.pagerduty.client import NotFound, PagerdutyClient, ServiceRefused
from streamgauge.connectors.pagerduty.config import PagerdutyConfig

log = logging.getLogger(__name__)

# Classic paging stops where offset + limit would pass 10,000 (PagerDuty's "Pagination" page):
# a slice holding more incidents is split in halves instead of paged past the cap.
OFFSET_CAP = 10_000
REFRESH_PAGE = 50  # open incidents re-read one by one, this many per stored page


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open range ``[since, until)`` of incident creation times."""

    since: datetime
    until: datetime

    def halves(self) -> tuple[Window, Window] | None:
        """Two windows of whole seconds covering this one, or None when it cannot be split."""
        seconds = int((self.until - self.since).total_seconds())
        if seconds < 2:
            return None
        middle = self.since + timedelta(seconds=seconds // 2)
        return Window(self.since, middle), Window(middle, self.until)


def slices(since: datetime, until: datetime, span: timedelta) -> list[Window]:
    """``[since, until)`` cut into consecutive windows of at most ``span``, oldest first."""
    out: list[Window] = []
    start = since.replace(microsecond=0)
    while start < until:
        end = min(start + span, until)
        out.append(Window(start, end))
        start = end
    return out


@dataclass(slots=True)
class ServiceCursor:
    """Per service: creation times before ``since`` are read, and which of them were open."""

    since: datetime
    open: list[str]

    def dump(self) -> dict[str, Any]:
        return {"since": self.since.isoformat(), "open": sorted(set(self.open))}


def load_cursor(cursor: str | None) -> dict[str, ServiceCursor]:
    state: dict[str, ServiceCursor] = {}
    for service, entry in (json.loads(cursor) if cursor else {}).items():
        state[service] = ServiceCursor(
            datetime.fromisoformat(entry["since"]), list(entry.get("open") or [])
        )
    return state


def dump_cursor(state: dict[str, ServiceCursor]) -> str:
    return json.dumps({s: c.dump() for s, c in sorted(state.items())}, sort_keys=True)


class IncidentsStream(Stream):
    """Incidents of each configured service created since its cursor, plus those still open.

    PagerDuty filters ``since``/``until`` on creation, so an incident resolved after it was read
    would never be read again: the cursor keeps the ids of incidents that were open, and each
    sync re-reads those its slices did not cover with ``GET /incidents/{id}``.
    """

    name: ClassVar[str] = "incidents"

    def __init__(
        self, config: PagerdutyConfig, client: PagerdutyClient, *, offset_cap: int = OFFSET_CAP
    ) -> None:
        self.config = config
        self.client = client
        self.offset_cap = offset_cap

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        state = load_cursor(cursor)
        refused: list[str] = []
        for service in self.config.services:
            try:
                yield from self._service(service, state, ctx)
            except ServiceRefused as exc:
                # one hidden or mistyped service must not keep the others from being read
                log.error("%s: %s", ctx.source, exc)
                refused.append(str(exc))
        if refused:
            raise FatalError(
                "; ".join(refused) + f" (the other {len(self.config.services) - len(refused)} "
                "services were read)"
            )

    def _service(
        self, service: str, state: dict[str, ServiceCursor], ctx: SyncContext
    ) -> Iterator[Page]:
        end = ctx.started_at
        previous = state.get(service)
        if previous is None:
            start = end - self.config.history
            pending: set[str] = set()
        else:
            start = previous.since - self.config.overlap
            pending = set(previous.open)  # open when last read: their resolution is wanted
            end = max(end, previous.since)  # a clock set back never moves the cursor back
        open_now: set[str] = set()
        for window in slices(start, end, self.config.slice):
            for incidents in self._window(service, window, ctx):
                raws = []
                for incident in incidents:
                    raw = self._raw(incident, ctx)
                    if raw is None:
                        continue
                    pending.discard(raw.native_id)
                    if incident.get("status") == "resolved":
                        open_now.discard(raw.native_id)
                    else:
                        open_now.add(raw.native_id)
                    raws.append(raw)
                yield Page(raws)
            # the window is read whole: the service's cursor moves to its end
            state[service] = ServiceCursor(window.until, [*pending, *open_now])
            yield Page([], dump_cursor(state))
        todo = sorted(pending)
        for start_at in range(0, len(todo), REFRESH_PAGE):
            raws = []
            for incident_id in todo[start_at : start_at + REFRESH_PAGE]:
                pending.discard(incident_id)
                try:
                    incident = self.client.incident(ctx, incident_id)
                except NotFound as exc:  # merged into another incident, or deleted
                    log.warning("%s: open incident no longer readable: %s", ctx.source, exc)
                    continue
                raw = self._raw(incident, ctx)
                if raw is None:
                    continue
                if incident.get("status") != "resolved":
                    open_now.add(raw.native_id)
                raws.append(raw)
            state[service] = ServiceCursor(end, [*pending, *open_now])
            yield Page(raws, dump_cursor(state))

    def _window(self, service: str, window: Window, ctx: SyncContext) -> Iterator[list[Any]]:
        """Pages of the incidents created in ``window``, split when it holds too many to page."""
        limit = self.config.page_size
        answer = self.client.incidents(
            ctx, service, window.since, window.until, offset=0, total=True
        )
        total = answer.get("total")
        if isinstance(total, int) and total > self.offset_cap:
            yield from self._split(service, window, ctx, total)
            return
        pages = Paginator(what=f"incidents of service {service}")
        offset = 0
        while True:
            incidents = answer.get("incidents")
            if not isinstance(incidents, list):
                raise FatalError(f"incidents of service {service}: the answer has no `incidents`")
            yield incidents
            if not answer.get("more") or not incidents:
                return
            offset += limit
            if offset + limit > self.offset_cap:
                # PagerDuty did not say its total: read the window again in halves
                yield from self._split(service, window, ctx, None)
                return
            pages.advance(offset)
            answer = self.client.incidents(ctx, service, window.since, window.until, offset=offset)

    def _split(
        self, service: str, window: Window, ctx: SyncContext, total: int | None
    ) -> Iterator[list[Any]]:
        halves = window.halves()
        if halves is None:
            raise FatalError(
                f"service {service} has more than {self.offset_cap:,} incidents created between "
                f"{window.since.isoformat()} and {window.until.isoformat()}; PagerDuty cannot "
                "page past them"
            )
        log.debug(
            "incidents of %s from %s to %s (%s) split in halves",
            service,
            window.since.isoformat(),
            window.until.isoformat(),
            total if total is not None else "more than the cap",
        )
        for half in halves:
            yield from self._window(service, half, ctx)

    def _raw(self, incident: Any, ctx: SyncContext) -> RawRecord | None:
        native_id = incident.get("id") if isinstance(incident, dict) else None
        if not isinstance(native_id, str) or not native_id:
            ctx.stats.skipped += 1
            log.warning("%s: PagerDuty incident without an id skipped", ctx.source)
            return None
        url = incident.get("html_url")
        return RawRecord(
            stream=self.name,
            native_id=native_id,
            payload=incident,
            fetched_at=ctx.started_at,
            url=url if isinstance(url, str) else None,
        )
