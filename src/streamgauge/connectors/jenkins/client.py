"""One requests session to Jenkins' JSON API: basic auth with an API token, retries, errors."""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import requests

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
from streamgauge.connectors.jenkins.config import JenkinsConfig

log = logging.getLogger(__name__)

_TAGS = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.S | re.I)


class JobUnreadable(FatalError):
    """A job or folder answered 403 or 404: fatal for that job only, the others are read."""


def job_url_path(path: str) -> str:
    """``a/b`` -> ``/job/a/job/b``: each part of a job's full name is its own ``job/`` segment."""
    return "".join(f"/job/{quote(part, safe='')}" for part in path.split("/") if part)


def _snippet(body: str) -> str:
    """An error body as one short line: Jenkins answers errors with HTML pages or JSON."""
    text = html.unescape(_TAGS.sub(" ", body))
    return " ".join(text.split())[:200]


class JenkinsClient:
    """Every request of a Jenkins source goes through here, so one policy governs them all.

    Reads with an API token need no CSRF crumb (Jenkins 2.96+, 2.107 LTS): only POSTs do.
    Connection errors, resets, bodies cut short, 5xx and 429 are retried with a backoff, a
    ``Retry-After`` honoured; a wait longer than ``max_retry_wait`` pauses the source instead.
    """

    def __init__(
        self, config: JenkinsConfig, *, clock: Clock, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.session = requests.Session()
        self.session.auth = (config.user, config.api_token.get_secret_value())
        self.session.headers["Accept"] = "application/json"
        self.policy = RetryPolicy(
            attempts=config.retries + 1, base_delay=config.backoff, max_delay=config.max_retry_wait
        )

    def close(self) -> None:
        self.session.close()

    def api(
        self, ctx: SyncContext, path: str, tree: str, *, what: str, suffix: str = "api/json"
    ) -> dict[str, Any]:
        """GET ``<url><path>/api/json?tree=<tree>`` as a JSON object."""
        url = f"{self.config.url}{path}/{suffix}"

        def once() -> dict[str, Any]:
            try:
                response = self.session.get(
                    url, params={"tree": tree} if tree else None, timeout=self.config.timeout
                )
                ctx.stats.api_calls += 1
                body = response.text
            except requests.RequestException as exc:
                # never the exception's text: it may quote the request
                raise RetriableError(f"{what}: {type(exc).__name__} talking to Jenkins") from None
            if response.status_code >= 400:
                raise self._error(response.status_code, body, response.headers, what, path)
            try:
                data = response.json()
            except ValueError:
                raise RetriableError(
                    f"{what}: Jenkins sent a body that is not whole JSON"
                ) from None
            if not isinstance(data, dict):
                raise FatalError(f"{what}: Jenkins sent {type(data).__name__}, not an object")
            return data

        return call_with_retries(once, policy=self.policy, what=what, sleep=self.sleep)

    def _error(
        self, status: int, body: str, headers: Mapping[str, str], what: str, path: str
    ) -> Exception:
        text = _snippet(body)
        if status == 429 or status >= 500:
            wait = parse_retry_after(headers.get("Retry-After"))
            if wait is not None and wait > self.config.max_retry_wait:
                reset_at = self.clock() + timedelta(seconds=wait)
                return RateLimited(
                    f"{what}: Jenkins asks to wait {wait:.0f}s (HTTP {status}); resumes at "
                    f"{reset_at:%Y-%m-%d %H:%M:%S}Z",
                    reset_at=reset_at,
                )
            return RetriableError(f"{what}: Jenkins answered {status}: {text}", retry_after=wait)
        if status == 401:
            return FatalError(
                f"Jenkins refused the credentials (401) reading {what}: check `user` and "
                "`api_token` (an API token from the user's Security page, not a password)"
            )
        if status in (403, 404) and path:
            kind = "refused access to" if status == 403 else "does not show"
            return JobUnreadable(
                f"Jenkins {kind} {what} ({status}: {text}); the user needs Job/Read on it"
            )
        if status == 403:
            return FatalError(
                f"Jenkins refused access to {what} (403: {text}): the user needs Overall/Read"
            )
        return FatalError(f"{what}: Jenkins answered {status}: {text}")
