"""One GitHub session for REST and GraphQL: auth, retries, ETags and the rate-limit budget."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from github import Auth, Github, GithubException

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
from streamgauge.connectors.github.config import GithubConfig

log = logging.getLogger(__name__)

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True, slots=True)
class RestAnswer:
    status: int  # 200 or 304
    data: Any  # None on 304
    etag: str | None
    next_url: str | None
    url: str


class GithubClient:
    """Every request of a GitHub source goes through here, so one policy governs them all.

    PyGithub's own retries are switched off (``retry=0``): its :class:`GithubRetry` sleeps inside
    the request through urllib3, where no stop can reach it, and sleeps a secondary limit's
    ``Retry-After`` whatever its length. Transient failures (5xx, connection errors, a body cut
    short, secondary rate limits) are retried by :func:`call_with_retries` instead, with ``sleep``
    (an interruptible wait). A wait longer than ``max_rate_limit_wait`` (a primary limit until its
    reset, a long ``Retry-After``) is never slept: it becomes :class:`RateLimited` and the source
    pauses.
    """

    def __init__(
        self, config: GithubConfig, *, clock: Clock, sleep: Callable[[float], None] = time.sleep
    ):
        self.config = config
        self.clock = clock
        self.sleep = sleep
        auth: Auth.Auth
        if config.token is not None:
            auth = Auth.Token(config.token.get_secret_value())
        else:
            # the config's validator made sure all three are there
            assert config.app_id is not None
            assert config.private_key is not None
            assert config.installation_id is not None
            auth = Auth.AppAuth(
                config.app_id, config.private_key.get_secret_value()
            ).get_installation_auth(config.installation_id)
        self.github = Github(
            base_url=config.base_url.rstrip("/"),
            auth=auth,
            per_page=100,
            retry=0,
            timeout=int(config.timeout),
            lazy=True,
            seconds_between_requests=config.request_spacing or None,
            seconds_between_writes=config.request_spacing or None,
        )
        self.requester = self.github.requester
        self.budgets: dict[str, tuple[int, datetime]] = {}  # resource -> (remaining, reset_at)
        self.policy = RetryPolicy(
            attempts=config.retries + 1,
            base_delay=config.backoff,
            max_delay=max(config.max_rate_limit_wait, config.backoff),
        )

    def close(self) -> None:
        self.github.close()

    # --- budget ------------------------------------------------------------------------------

    def _guard(self, resource: str) -> None:
        """Pause before a request when the budget is nearly spent, instead of failing mid-way."""
        known = self.budgets.get(resource)
        if known is None:
            return
        remaining, reset_at = known
        if remaining <= self.config.min_rate_limit_remaining and reset_at > self.clock():
            raise RateLimited(
                f"GitHub {resource} rate limit nearly spent ({remaining} left) until {reset_at:%H:%M:%S}Z",
                reset_at=reset_at,
            )

    def _note(self, headers: Mapping[str, Any], ctx: SyncContext, default: str) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        resource = str(lower.get("x-ratelimit-resource") or default)
        if "x-ratelimit-remaining" in lower and "x-ratelimit-reset" in lower:
            remaining = int(float(lower["x-ratelimit-remaining"]))
            reset_at = datetime.fromtimestamp(int(float(lower["x-ratelimit-reset"])), UTC)
            self.budgets[resource] = (remaining, reset_at)
            stats = ctx.stats
            if stats.rate_limit_remaining is None or remaining < stats.rate_limit_remaining:
                stats.rate_limit_remaining, stats.rate_limit_reset_at = remaining, reset_at

    def _rate_limited(self, headers: Mapping[str, Any] | None, what: str) -> RateLimited:
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        reset = lower.get("x-ratelimit-reset")
        retry_after = lower.get("retry-after")
        if reset is not None:
            reset_at = datetime.fromtimestamp(int(float(reset)), UTC)
        else:
            reset_at = self.clock() + timedelta(seconds=float(retry_after or 60))
        return RateLimited(
            f"GitHub rate limit reached while reading {what}; resumes at "
            f"{reset_at:%Y-%m-%d %H:%M:%S}Z",
            reset_at=reset_at,
        )

    def _paused_for(self, wait: float, what: str) -> RateLimited:
        """A ``Retry-After`` longer than ``max_rate_limit_wait``: the source pauses that long."""
        reset_at = self.clock() + timedelta(seconds=wait)
        return RateLimited(
            f"GitHub asked to wait {wait:.0f}s (more than max_rate_limit_wait) reading {what}; "
            f"resumes at {reset_at:%Y-%m-%d %H:%M:%S}Z",
            reset_at=reset_at,
        )

    # --- errors ------------------------------------------------------------------------------

    def _translate(self, exc: Exception, what: str) -> Exception:
        """PyGithub's and requests' exceptions as the connector's three kinds; no secrets."""
        if isinstance(exc, GithubException):
            message = exc.message or (exc.data.get("message") if isinstance(exc.data, dict) else "")
            return self._classify(exc.status, str(message or ""), exc.headers, what)
        if isinstance(exc, requests.RequestException | ValueError | OSError):
            return RetriableError(f"{what}: {type(exc).__name__} talking to GitHub")
        return exc

    def _classify(
        self, status: int, message: str, headers: Mapping[str, Any] | None, what: str
    ) -> Exception:
        lowered = message.lower()
        if status == 401:
            return FatalError(
                f"GitHub refused the credentials ({status} {message}) reading {what}: "
                "check the token or the App installation"
            )
        if status in (403, 429) and ("rate limit" in lowered or status == 429):
            lower = {k.lower(): v for k, v in (headers or {}).items()}
            if "secondary" in lowered or "retry-after" in lower:
                wait = parse_retry_after(str(lower.get("retry-after") or "")) or 60.0
                if wait > self.config.max_rate_limit_wait:
                    return self._paused_for(wait, what)
                return RetriableError(f"{what}: secondary rate limit", retry_after=wait)
            return self._rate_limited(headers, what)
        if status == 403:
            return FatalError(
                f"GitHub refused access to {what} (403 {message}): the token lacks a "
                "scope or the App a permission; see docs/github.md"
            )
        if status == 404:
            return FatalError(f"{what} was not found or is not visible to these credentials")
        if status >= 500:
            return RetriableError(f"{what}: GitHub answered {status}")
        return FatalError(f"{what}: GitHub answered {status} {message}")

    # --- requests ----------------------------------------------------------------------------

    def rest(
        self,
        ctx: SyncContext,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        etag: str | None = None,
        what: str,
    ) -> RestAnswer:
        """GET a REST path (or a ``Link`` URL), conditionally when ``etag`` is given."""
        headers = {"If-None-Match": etag} if etag else {}

        def once() -> RestAnswer:
            self._guard("core")
            try:
                status, response_headers, body = self.requester.requestJson(
                    "GET", path, parameters=dict(params or {}) or None, headers=headers
                )
                ctx.stats.api_calls += 1
                self._note(response_headers, ctx, "core")
                if status == 304:
                    ctx.stats.not_modified += 1
                    return RestAnswer(304, None, etag, None, path)
                data = json.loads(body) if body else None
            except Exception as exc:  # translated into the three kinds right here
                raise self._translate(exc, what) from None
            if status >= 400:
                message = data.get("message", "") if isinstance(data, dict) else ""
                raise self._classify(status, str(message), response_headers, what)
            lower = {k.lower(): v for k, v in response_headers.items()}
            match = _NEXT.search(str(lower.get("link", "")))
            return RestAnswer(
                status, data, lower.get("etag"), match.group(1) if match else None, path
            )

        return call_with_retries(once, policy=self.policy, what=what, sleep=self.sleep)

    def graphql(
        self, ctx: SyncContext, query: str, variables: Mapping[str, Any], *, what: str
    ) -> dict[str, Any]:
        """Run a GraphQL query through PyGithub; any error in the answer raises."""

        def once() -> dict[str, Any]:
            self._guard("graphql")
            try:
                headers, answer = self.requester.graphql_query(query, dict(variables))
            except GithubException as exc:
                ctx.stats.api_calls += 1
                self._note(exc.headers or {}, ctx, "graphql")
                errors = exc.data.get("errors") if isinstance(exc.data, dict) else None
                if not errors:
                    raise self._translate(exc, what) from None
                # GitHub answers a spent GraphQL budget with HTTP 200 and errors[].type RATE_LIMITED
                if any(e.get("type") == "RATE_LIMITED" for e in errors):
                    raise self._rate_limited(exc.headers, what) from None
                text = "; ".join(str(e.get("message", "")) for e in errors)[:300]
                raise FatalError(f"{what}: {text}") from None
            except Exception as exc:
                raise self._translate(exc, what) from None
            ctx.stats.api_calls += 1
            self._note(headers, ctx, "graphql")
            return answer

        return call_with_retries(once, policy=self.policy, what=what, sleep=self.sleep)
