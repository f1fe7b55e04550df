"""APScheduler wiring: one sync job per source, a recompute after a sync that changed data, and
one on a timer so that the snapshot's "now" keeps moving."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from streamgauge.app import App

log = logging.getLogger(__name__)

RECOMPUTE = "recompute"
# A source whose credentials or scope were refused is tried again this rarely: often enough
# to recover after a secret is rotated, rarely enough not to hammer the API with bad tokens.
FATAL_RETRY = timedelta(hours=1)


def jitter_for(interval: timedelta) -> int:
    """Up to a tenth of the interval, at most a minute, so replicas and sources spread out."""
    return int(min(interval.total_seconds() / 10, 60))


class Scheduler:
    def __init__(self, app: App) -> None:
        self.app = app
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(2, len(app.connectors) + 1))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    def start(self) -> None:
        now = datetime.now(UTC)
        for source in self.app.settings.sources:
            if source.name not in self.app.connectors:
                continue
            self._scheduler.add_job(
                self._sync,
                IntervalTrigger(
                    seconds=source.interval.total_seconds(), jitter=jitter_for(source.interval)
                ),
                args=[source.name],
                id=f"sync:{source.name}",
                name=f"sync {source.name}",
                next_run_time=now,
            )
        every = self.app.settings.server.recompute_interval
        self._scheduler.add_job(
            self._request_recompute,
            IntervalTrigger(seconds=every.total_seconds()),
            id="recompute:timer",
            name="recompute as time moves",
            next_run_time=now + every,
        )
        if not self.app.connectors:
            self._request_recompute()
        self._scheduler.start()
        for intake in self.app.intakes.values():
            intake.start(on_change=self._request_recompute)

    def _sync(self, source: str) -> None:
        outcome = self.app.sync(source)
        job = self._scheduler.get_job(f"sync:{source}")
        if outcome.paused_until is not None and job is not None:
            log.warning(
                "%s: next sync after the API budget resets at %s", source, outcome.paused_until
            )
            job.modify(next_run_time=outcome.paused_until)
        elif outcome.fatal and job is not None:
            retry_at = datetime.now(UTC) + FATAL_RETRY
            log.error("%s: will try again at %s; fix the source's configuration", source, retry_at)
            job.modify(next_run_time=retry_at)
        if outcome.changed or not self.app.readiness()[0]:
            self._request_recompute()

    def _request_recompute(self) -> None:
        if self.app.stop.is_set():
            return
        # One pending recompute at a time: a burst of syncs coalesces into one computation.
        # Two instances: one may be running on older data while the next waits for its lock.
        self._scheduler.add_job(
            self._recompute, id=RECOMPUTE, name="recompute", replace_existing=True, max_instances=2
        )

    def _recompute(self) -> None:
        try:
            self.app.recompute()
        except Exception:  # the job boundary: keep serving the previous snapshot
            log.exception("recompute failed; the previous snapshot stays served")

    def shutdown(self) -> None:
        """Stop taking new jobs and wait for running ones; a sync stops at its next page."""
        self.app.stop.set()
        for intake in self.app.intakes.values():
            intake.stop()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
