"""APScheduler wiring: one sync job per source, a recompute after a sync that changed data, one
on a timer so that the snapshot's "now" keeps moving, and a cheap look for other writers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from streamgauge.app import App
from streamgauge.store import StoreError
from streamgauge.store.faults import store_reason
from streamgauge.store.leadership import source_duty

log = logging.getLogger(__name__)

RECOMPUTE = "recompute"
# A source whose credentials or scope were refused is tried again this rarely: often enough
# to recover after a secret is rotated, rarely enough not to hammer the API with bad tokens.
FATAL_RETRY = timedelta(hours=1)
# `serve` stops within 5 s of SIGTERM: the HTTP workers get 1 s, the running jobs this long.
STOP_JOBS_WITHIN = 2.0


def jitter_for(interval: timedelta) -> int:
    """Up to a tenth of the interval, at most a minute, so replicas and sources spread out."""
    return int(min(interval.total_seconds() / 10, 60))


class DaemonThreadExecutor(BaseExecutor):  # type: ignore[misc]  # APScheduler is unannotated
    """Runs each job in a daemon thread of its own, which a stop can wait for with a bound.

    APScheduler's thread pool uses :mod:`concurrent.futures`, whose worker threads the
    interpreter joins at exit without a limit: a job stuck in a slow request would hold the
    process for as long as the request lasts. A daemon thread is abandoned at exit instead; what
    it was writing is one transaction, which the database then rolls back.
    """

    def __init__(self) -> None:
        super().__init__()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def _do_submit_job(self, job: Any, run_times: Sequence[datetime]) -> None:
        def run() -> None:
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)
            finally:
                with self._threads_lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"job {job.id}", daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def shutdown(self, wait: bool = True) -> None:
        if wait:
            self.join(None)

    def join(self, timeout: float | None) -> list[str]:
        """Wait for the running jobs, at most ``timeout`` seconds; the names of those left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return sorted(t.name for t in threads if t.is_alive())


class Scheduler:
    def __init__(self, app: App) -> None:
        self.app = app
        self._executor = DaemonThreadExecutor()
        self._scheduler = BackgroundScheduler(
            executors={"default": self._executor},
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
        check = self.app.settings.server.store_check_interval
        self._scheduler.add_job(
            self._check_store,
            IntervalTrigger(seconds=check.total_seconds()),
            id="store:check",
            name="look for other writers",
            next_run_time=now + check,
        )
        if not self.app.connectors:
            self._request_recompute()
        self._scheduler.start()
        for intake in self.app.intakes.values():
            intake.start(on_change=self._request_recompute, leads=self._leads(intake.source))

    def _leads(self, source: str) -> Callable[[], bool]:
        duty = source_duty(source)
        return lambda: self.app.leadership.hold(duty)

    def _check_store(self) -> None:
        if self.app.stop.is_set():
            return
        try:
            if self.app.follow():  # another replica computes: serve what it stored
                return
            changed = self.app.store_changed()
        except Exception as exc:  # the job boundary: the next recompute counts the cause
            log.error("store check failed (%s): %s", store_reason(exc) or "error", exc)
            return
        if changed:
            log.info("the store changed outside this process; recomputing")
            self._request_recompute()

    def _sync(self, source: str) -> None:
        if self.app.stop.is_set():
            return
        outcome = self.app.sync(source)
        if self.app.stop.is_set():
            return  # the scheduler is shutting down: leave its jobs alone
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
        if outcome.changed or not self.app.computed_after_sync:
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
        if self.app.stop.is_set():
            return
        try:
            self.app.recompute()
        except StoreError as exc:  # its message names the cause and the fix
            log.error(
                "recompute failed (%s); the previous snapshot stays served: %s",
                store_reason(exc) or "store",
                exc,
            )
        except Exception as exc:  # the job boundary: keep serving the previous snapshot
            reason = store_reason(exc) or "error"
            log.exception("recompute failed (%s); the previous snapshot stays served", reason)

    def shutdown(self, *, timeout: float = STOP_JOBS_WITHIN) -> list[str]:
        """Stop taking new jobs and wait at most ``timeout`` seconds for the running ones.

        Syncs end at their next page or wait (the stop event), computations are left at exit.
        Never ``shutdown(wait=True)`` here: it waits holding the scheduler's job-store lock,
        which a finishing sync job needs. Returns the names of jobs still running.
        """
        self.app.stop.set()
        for intake in self.app.intakes.values():
            intake.stop()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        left = self._executor.join(timeout)
        if left:
            log.warning("stopping without waiting longer for: %s", ", ".join(left))
        return left
