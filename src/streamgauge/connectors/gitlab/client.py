"""One GitLab session for REST and GraphQL: auth, retries, offset paging and the rate limit."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import gitlab
import gitlab.exceptions
import requests

from streamgauge.connectors.base import (
    Clock,
    FatalError,
    Paginator,
    RateLimited,
    RetriableError,
    RetryPolicy,
    SyncContext,
    call_with_retries,
    parse_retry_after,
)
from streamgauge.connectors.gitlab.config import GitlabConfig

log = logging.getLogger(__name__)

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def project_path(path: str) -> str:
    """A project's or group's full path as the REST API takes it in a URL: URL-encoded."""
    return quote(path, safe="")


class ProjectRefused(FatalError):
    """A 403 or 404 on one project or group: fatal for that scope only, the others go on."""


@dataclass(frozen=True, slots=True)
class Answer:
    data: Any
    headers: Mapping[str, str]
    next_url: str | None


class GitlabClient:
    """Every request of a GitLab source goes through here, so one policy governs them all.

    python-gitlab retries 5xx answers, resets and time-outs itself (``retry_transient_errors``,
    off by default there). A 429 is handled here instead: python-gitlab would sleep whatever
    ``Retry-After`` says, so a wait up to ``max_rate_limit_wait`` is slept (through the injected
    ``sleep``) and a longer one pauses the source as :class:`RateLimited`.
    """

    def __init__(
        self, config: GitlabConfig, *, clock: Clock, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.session = requests.Session()
        self._calls = 0  # HTTP requests sent, retries included
        self._last: requests.Response | None = None
        self.session.hooks["response"].append(self._keep)
        self.gitlab = gitlab.Gitlab(
            config.url,
            private_token=config.token.get_secret_value(),
            timeout=config.timeout,
            per_page=100,
            retry_transient_errors=True,
            session=self.session,
        )
        self.graphql_url = f"{config.url}/api/graphql"
        self.remaining: int | None = None
        self.reset_at: datetime | None = None
        self.policy = RetryPolicy(attempts=config.retries + 1, base_delay=config.backoff)

    def close(self) -> None:
        self.session.close()

    def _keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last = response
        self._calls += 1

    # --- budget ------------------------------------------------------------------------------

    def _guard(self) -> None:
        """Pause before a request when the budget is nearly spent, instead of failing mid-way."""
        if self.remaining is None or self.reset_at is None:
            return
        if self.remaining <= self.config.min_rate_limit_remaining and self.reset_at > self.clock():
            raise RateLimited(
                f"GitLab rate limit nearly spent ({self.remaining} left) until "
                f"{self.reset_at:%H:%M:%S}Z",
                reset_at=self.reset_at,
            )

    def _note(self, headers: Mapping[str, str], ctx: SyncContext) -> None:
        # GitLab's projects, groups and users limiters send no RateLimit-* headers at all
        remaining, reset = headers.get("RateLimit-Remaining"), headers.get("RateLimit-Reset")
        if remaining is None or reset is None:
            return
        try:
            self.remaining = int(remaining)
            self.reset_at = datetime.fromtimestamp(int(reset), UTC)
        except ValueError:
            return
        stats = ctx.stats
        if stats.rate_limit_remaining is None or self.remaining < stats.rate_limit_remaining:
            stats.rate_limit_remaining, stats.rate_limit_reset_at = self.remaining, self.reset_at

    def _too_many(self, headers: Mapping[str, str], what: str) -> Exception:
        """A 429: retried after ``Retry-After`` when that is short enough, else a pause."""
        wait = parse_retry_after(headers.get("Retry-After"), now=self.clock())
        if wait is None and headers.get("RateLimit-Reset", "").isdigit():
            reset = datetime.fromtimestamp(int(headers["RateLimit-Reset"]), UTC)
            wait = max(0.0, (reset - self.clock()).total_seconds())
        if wait is not None and wait > self.config.max_rate_limit_wait:
            reset_at = self.clock() + timedelta(seconds=wait)
            return RateLimited(
                f"GitLab rate limit reached while reading {what}; resumes at "
                f"{reset_at:%Y-%m-%d %H:%M:%S}Z",
                reset_at=reset_at,
            )
        return RetriableError(f"{what}: GitLab answered 429 Too Many Requests", retry_after=wait)

    # --- errors ------------------------------------------------------------------------------

    def _translate(self, exc: Exception, what: str) -> Exception:
        """python-gitlab's and requests' exceptions as the connector's three kinds; no secrets."""
        headers: Mapping[str, str] = self._last.headers if self._last is not None else {}
        if isinstance(exc, gitlab.exceptions.GitlabError):
            status = exc.response_code or 0
            message = str(exc.error_message or "")[:200]
            if status == 429:
                return self._too_many(headers, what)
            if status == 401:
                return FatalError(
                    f"GitLab refused the token ({status} {message}) reading {what}: check that "
                    "it is valid, not expired, and has the read_api scope"
                )
            if status == 403:
                return ProjectRefused(
                    f"GitLab refused access to {what} (403 {message}): the token lacks the "
                    "read_api scope or its user the Reporter role; see docs/gitlab.md"
                )
            if status == 404:
                return ProjectRefused(f"{what} was not found or is not visible to this token")
            if status >= 500:
                return RetriableError(f"{what}: GitLab answered {status}")
            return FatalError(f"{what}: GitLab answered {status} {message}")
        if isinstance(exc, requests.RequestException | ValueError | OSError):
            return RetriableError(f"{what}: {type(exc).__name__} talking to GitLab")
        return exc

    # --- requests ----------------------------------------------------------------------------

    def _request(
        self,
        ctx: SyncContext,
        verb: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Answer:
        def once() -> Answer:
            self._guard()
            before = self._calls
            try:
                response = self.gitlab.http_request(
                    verb,
                    path,
                    query_data=dict(params or {}),
                    post_data=dict(body) if body is not None else None,
                    obey_rate_limit=False,
                    max_retries=self.config.retries,
                )
                data = response.json()
            except Exception as exc:  # translated into the three kinds right here
                ctx.stats.api_calls += self._calls - before
                # a 429's RateLimit-Remaining is 0 until Retry-After; the retry decides, not it
                if self._last is not None and self._last.status_code != 429:
                    self._note(self._last.headers, ctx)
                raise self._translate(exc, what) from None
            ctx.stats.api_calls += self._calls - before
            self._note(response.headers, ctx)
            return Answer(data, response.headers, _next_url(response))

        return call_with_retries(once, policy=self.policy, what=what, sleep=self.sleep)

    def get(
        self, ctx: SyncContext, path: str, *, what: str, params: Mapping[str, Any] | None = None
    ) -> Answer:
        return self._request(ctx, "get", path, what=what, params=params)

    def pages(
        self, ctx: SyncContext, path: str, *, what: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[Any]]:
        """The pages of an offset-paged listing, following ``Link: rel=next`` or ``x-next-page``.

        Above 10,000 results GitLab drops ``x-total``, ``x-total-pages`` and ``rel="last"``
        (docs.gitlab.com/api/rest/#pagination), so paging never relies on a total.
        """
        paginator = Paginator(what=what)
        answer = self.get(ctx, path, what=what, params={"per_page": 100, **(params or {})})
        while True:
            yield [item for item in answer.data or [] if item]
            if answer.next_url is None:
                return
            paginator.advance(answer.next_url)
            answer = self.get(ctx, self._on_our_host(answer.next_url), what=what)

    def _on_our_host(self, url: str) -> str:
        """A ``Link`` URL on the configured host: behind a proxy GitLab may name its own host
        (python-gitlab's ``keep_base_url`` does the same for its listings)."""
        at = url.find("/api/v4/")
        return f"{self.config.url}{url[at:]}" if at >= 0 else url

    def graphql(
        self, ctx: SyncContext, query: str, variables: Mapping[str, Any], *, what: str
    ) -> dict[str, Any]:
        """Run a GraphQL query at /api/graphql on the same session; errors in the answer raise."""
        answer = self._request(
            ctx,
            "post",
            self.graphql_url,
            what=what,
            body={"query": query, "variables": dict(variables)},
        )
        data = answer.data if isinstance(answer.data, dict) else {}
        errors = data.get("errors") or []
        if errors:
            text = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
            raise FatalError(f"{what}: GitLab GraphQL refused the query: {text[:300]}")
        result: dict[str, Any] = data.get("data") or {}
        return result


def _next_url(response: requests.Response) -> str | None:
    match = _NEXT.search(response.headers.get("Link", ""))
    if match:
        return match.group(1)
    page = response.headers.get("x-next-page", "")
    if page.isdigit():
        url = re.sub(r"([?&])page=\d+", rf"\g<1>page={page}", response.url)
        return url if url != response.url else f"{response.url}&page={page}"
    return None
