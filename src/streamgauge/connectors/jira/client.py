"""The `jira` library behind one small facade: deployment detection, retries, errors in three kinds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from jira import JIRA, JIRAError

from streamgauge.connectors.base import (
    ConnectorError,
    FatalError,
    RateLimited,
    RetriableError,
    RetryPolicy,
    SourceStats,
    call_with_retries,
    classify_http,
)
from streamgauge.connectors.jira.config import JiraConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


class JiraClient:
    """Talks to one Jira site through the `jira` library.

    The library's own retries are switched off (``max_retries=0``): it sleeps inside the
    request with no way to inject the sleep, retries neither 500 nor 502, and cannot read an
    HTTP-date ``Retry-After``. :func:`call_with_retries` does it instead, with the sync's policy
    and ``sleep`` (an interruptible wait); a ``Retry-After`` longer than ``max_rate_limit_wait``
    pauses the source instead (:class:`RateLimited`).
    """

    def __init__(
        self,
        config: JiraConfig,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.stats = SourceStats()
        self._jira: JIRA | None = None
        self._time_zone: tzinfo | None = None

    # --- connection --------------------------------------------------------------------------

    def _build(self, **options: Any) -> JIRA:
        config = self.config
        auth: dict[str, Any] = {}
        if config.token is not None:
            auth["token_auth"] = config.token.get_secret_value()
        else:
            assert config.email is not None  # JiraConfig refuses Cloud without both
            assert config.api_token is not None
            auth["basic_auth"] = (config.email, config.api_token.get_secret_value())
        self.stats.api_calls += 1  # the constructor's serverInfo request
        jira = JIRA(
            config.url,
            options=options or None,
            get_server_info=True,  # deploymentType decides Cloud or Data Center
            max_retries=0,
            timeout=config.timeout.total_seconds(),
            **auth,
        )
        # Count every request the library makes (it fetches the field list on its own), from a
        # standard `requests` response hook on the library's session.
        jira._session.hooks["response"].append(self._on_response)
        return jira

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.stats.api_calls += 1
        remaining = response.headers.get("X-RateLimit-Remaining")
        if remaining is not None and remaining.isdigit():
            self.stats.rate_limit_remaining = int(remaining)

    @property
    def jira(self) -> JIRA:
        if self._jira is None:
            first = self._call(self._build, "server info")
            if first.deploymentType == "Cloud":
                # Cloud's current search (/search/jql) and changelog APIs are version 3.
                first.close()  # type: ignore[no-untyped-call]  # the library leaves it unannotated
                first = self._call(lambda: self._build(rest_api_version="3"), "server info")
            self._jira = first
        return self._jira

    @property
    def cloud(self) -> bool:
        return bool(self.jira.deploymentType == "Cloud")

    @property
    def time_zone(self) -> tzinfo:
        """The API user's time zone: JQL dates are read in it."""
        if self._time_zone is None:
            me = self._call(self.jira.myself, "user profile")
            name = me.get("timeZone") if isinstance(me, dict) else None
            try:
                self._time_zone = ZoneInfo(name) if isinstance(name, str) else UTC
            except (ZoneInfoNotFoundError, ValueError):
                log.warning("Jira user time zone %r unknown; JQL dates are written in UTC", name)
                self._time_zone = UTC
        return self._time_zone

    def close(self) -> None:
        if self._jira is not None:
            self._jira.close()  # type: ignore[no-untyped-call]
            self._jira = None

    # --- endpoints ---------------------------------------------------------------------------

    def statuses(self) -> list[dict[str, Any]]:
        return [s.raw for s in self._call(self.jira.statuses, "statuses")]

    def search_cloud(self, jql: str, token: str | None, fields: list[str]) -> dict[str, Any]:
        return self._json(
            lambda: self.jira.enhanced_search_issues(
                jql,
                nextPageToken=token,
                maxResults=self.config.page_size,
                fields=list(fields),
                expand="changelog",
                json_result=True,
            ),
            "issue search",
        )

    def search_datacenter(self, jql: str, start_at: int, fields: list[str]) -> dict[str, Any]:
        return self._json(
            lambda: self.jira.search_issues(
                jql,
                startAt=start_at,
                maxResults=self.config.page_size,
                fields=list(fields),
                expand="changelog",
                json_result=True,
            ),
            "issue search",
        )

    def bulk_changelog(self, issue_ids: list[str], token: str | None) -> dict[str, Any]:
        """Cloud ``POST /rest/api/3/changelog/bulkfetch``, filtered to status changes."""
        body: dict[str, Any] = {
            "issueIdsOrKeys": issue_ids,
            "fieldIds": ["status"],
            "maxResults": 1000,
        }
        if token:
            body["nextPageToken"] = token
        # The library has no method for this endpoint; _get_json is its own JSON request helper.
        return self._json(
            lambda: self.jira._get_json("changelog/bulkfetch", params=body, use_post=True),
            "bulk changelog",
        )

    def issue_changelog(self, key: str, start_at: int) -> dict[str, Any]:
        """``GET /rest/api/3/issue/{key}/changelog``, oldest first, 100 a page."""
        return self._json(
            lambda: self.jira._get_json(
                f"issue/{key}/changelog", params={"startAt": start_at, "maxResults": 100}
            ),
            "issue changelog",
        )

    def issue_with_changelog(self, key: str) -> dict[str, Any]:
        """The issue with ``expand=changelog``: on Data Center it carries the whole history."""
        issue = self._call(
            lambda: self.jira.issue(key, fields="status", expand="changelog"), "issue"
        )
        raw = issue.raw
        return raw if isinstance(raw, dict) else {}

    # --- calling -----------------------------------------------------------------------------

    def _json(self, fn: Callable[[], Any], what: str) -> dict[str, Any]:
        result = self._call(fn, what)
        if not isinstance(result, dict):
            raise RetriableError(f"{what}: Jira answered something that is not a JSON object")
        return result

    def _call(self, fn: Callable[[], T], what: str) -> T:
        def attempt() -> T:
            try:
                return fn()
            except JIRAError as exc:
                raise self._translate(exc, what) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise RetriableError(
                    f"{what}: no answer from Jira ({type(exc).__name__})"
                ) from None
            except (requests.RequestException, ValueError) as exc:
                # A body cut short (ChunkedEncodingError) or JSON that does not parse.
                raise RetriableError(
                    f"{what}: incomplete answer from Jira ({type(exc).__name__})"
                ) from None

        return call_with_retries(attempt, policy=self.policy, what=f"Jira {what}", sleep=self.sleep)

    def _translate(self, exc: JIRAError, what: str) -> ConnectorError:
        """Jira's error as one of the three kinds. Never ``str(exc)``: it holds request headers."""
        status = exc.status_code
        text = exc.text if isinstance(exc.text, str) else ""
        headers = dict(exc.response.headers) if exc.response is not None else {}
        if status is None:
            return RetriableError(f"{what}: {text or 'no answer'}")
        if status == 400 and what == "issue search":
            return FatalError(
                f"Jira refused the search (HTTP 400): {text[:300]}. Check that every project in "
                "`projects` exists and that the user may browse it, and that `jql` is valid."
            )
        if status == 410:
            return FatalError(f"{what}: Jira says this API was removed (HTTP 410): {text[:300]}")
        found = classify_http(status, text, headers)
        wait = found.retry_after if isinstance(found, RetriableError) else None
        if wait is not None and wait > min(self.policy.max_delay, self.config.max_rate_limit_wait):
            # A long wait belongs to the scheduler (pause the source), not to a sleeping request.
            reset_at = self.clock() + timedelta(seconds=wait)
            self.stats.rate_limit_reset_at = reset_at
            return RateLimited(
                f"{what}: Jira rate limit; retry after {reset_at.isoformat()}", reset_at=reset_at
            )
        if found is None:
            return RetriableError(f"{what}: HTTP {status}")
        if isinstance(found, FatalError):
            return FatalError(f"Jira {what}: {found}")
        return found
