"""One `requests` session to PagerDuty's REST API v2: auth, retries, errors, the rate limit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import requests

from streamgauge import __version__
from streamgauge.connectors.base import (
    Clock,
    FatalError,
    RateLimited,
    RetriableError,
    RetryPolicy,
    SyncContext,
    call_with_retries,
    parse_retry_after,
)
from streamgauge.connectors.pagerduty.config import PagerdutyConfig

log = logging.getLogger(__name__)

ACCEPT = "application/vnd.pagerduty+json;version=2"


class ServiceRefused(FatalError):
    """403 or 404 for one service: that service stops, the others are still read."""


class NotFound(FatalError):
    """403 or 404 for one record: an incident merged, deleted or moved out of sight."""


def error_text(body: Any) -> str:
    """PagerDuty's error object (``{"error": {"message", "code", "errors"}}``) as one line."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ""
    text = str(error.get("message") or "")
    if error.get("code") is not None:
        text += f" (code {error['code']})"
    details = error.get("errors")
    if isinstance(details, list) and details:
        text += ": " + "; ".join(str(d) for d in details)
    return " ".join(text.split())[:300]


class PagerdutyClient:
    """Every request of a PagerDuty source goes through here, so one policy governs them all.

    ``requests`` retries nothing by itself; :func:`call_with_retries` retries 5xx answers,
    connection resets, time-outs and bodies cut short, with backoff. A 429 is waited out when
    its ``ratelimit-reset`` (seconds, PagerDuty's "REST API Rate Limits" page) is at most
    ``max_rate_limit_wait`` away; a longer one pauses the source until the reset.
    """

    def __init__(
        self,
        config: PagerdutyConfig,
        *,
        clock: Clock,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.base_url = config.base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Token token={config.token.get_secret_value()}",
                "Accept": ACCEPT,
                "User-Agent": f"streamgauge/{__version__}",
            }
        )
        self.policy = RetryPolicy(
            attempts=config.retries + 1,
            base_delay=config.backoff,
            max_delay=max(60.0, config.max_rate_limit_wait),
        )

    def close(self) -> None:
        self.session.close()

    # --- endpoints ---------------------------------------------------------------------------

    def incidents(
        self,
        ctx: SyncContext,
        service: str,
        since: datetime,
        until: datetime,
        *,
        offset: int,
        total: bool = False,
    ) -> dict[str, Any]:
        """One page of ``GET /incidents`` of one service created in ``[since, until)``."""
        params: dict[str, Any] = {
            "service_ids[]": [service],
            "urgencies[]": list(self.config.urgencies),
            "since": _iso(since),
            "until": _iso(until),
            "limit": self.config.page_size,
            "offset": offset,
            "time_zone": "UTC",
        }
        if total:
            params["total"] = "true"
        what = f"incidents of service {service} from {_iso(since)} to {_iso(until)}"
        return self.get(ctx, "/incidents", params, what=what, service=service)

    def incident(self, ctx: SyncContext, incident_id: str) -> dict[str, Any]:
        """``GET /incidents/{id}``: the incident as the list shows it."""
        answer = self.get(ctx, f"/incidents/{incident_id}", {}, what=f"incident {incident_id}")
        found = answer.get("incident")
        if not isinstance(found, dict):
            raise RetriableError(f"incident {incident_id}: the answer holds no incident")
        return found

    # --- calling -----------------------------------------------------------------------------

    def get(
        self,
        ctx: SyncContext,
        path: str,
        params: Mapping[str, Any],
        *,
        what: str,
        service: str | None = None,
    ) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            try:
                response = self.session.get(
                    self.base_url + path, params=dict(params), timeout=self.config.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise RetriableError(
                    f"{what}: no answer from PagerDuty ({type(exc).__name__})"
                ) from None
            except requests.RequestException as exc:  # a body cut short
                raise RetriableError(
                    f"{what}: incomplete answer from PagerDuty ({type(exc).__name__})"
                ) from None
            ctx.stats.api_calls += 1
            self._note(response.headers, ctx)
            try:
                body = response.json()
            except ValueError:
                body = None
            if response.status_code >= 400:
                raise self._classify(response.status_code, body, response.headers, what, service)
            if not isinstance(body, dict):
                raise RetriableError(f"{what}: PagerDuty answered something that is not JSON")
            return body

        return call_with_retries(once, policy=self.policy, what=what, sleep=self.sleep)

    def _note(self, headers: Mapping[str, str], ctx: SyncContext) -> None:
        """Keep the smallest ``ratelimit-remaining`` seen, for the health metrics."""
        remaining = headers.get("ratelimit-remaining")
        reset = parse_retry_after(headers.get("ratelimit-reset"))
        if remaining is None or not remaining.strip().isdigit():
            return
        left = int(remaining)
        stats = ctx.stats
        if stats.rate_limit_remaining is None or left <= stats.rate_limit_remaining:
            stats.rate_limit_remaining = left
            if reset is not None:
                stats.rate_limit_reset_at = self.clock() + timedelta(seconds=reset)

    def _classify(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str],
        what: str,
        service: str | None,
    ) -> Exception:
        """PagerDuty's answer as the connector's three kinds. Never the request: it holds the key."""
        text = error_text(body) or f"HTTP {status}"
        if status == 429:
            wait = parse_retry_after(headers.get("ratelimit-reset"))
            if wait is None:
                wait = parse_retry_after(headers.get("Retry-After"))
            if wait is not None and wait > self.config.max_rate_limit_wait:
                reset_at = self.clock() + timedelta(seconds=wait)
                return RateLimited(
                    f"PagerDuty rate limit reached while reading {what}; resumes at "
                    f"{reset_at:%Y-%m-%d %H:%M:%S}Z",
                    reset_at=reset_at,
                )
            return RetriableError(f"{what}: PagerDuty rate limit ({text})", retry_after=wait)
        if status >= 500:
            return RetriableError(f"{what}: PagerDuty answered {status} ({text})")
        if status == 401:
            return FatalError(
                f"PagerDuty refused the token (401 {text}) reading {what}: check that `token` "
                "is a current REST API key"
            )
        if status in (403, 404) and service is not None:
            return ServiceRefused(
                f"PagerDuty refused service {service} ({status} {text}): check the id in "
                "`services` and that the key's user may see the service"
            )
        if status in (403, 404):
            return NotFound(f"{what}: not found or not visible to this key ({status} {text})")
        return FatalError(f"{what}: PagerDuty answered {status} ({text})")


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
