"""Configuration of a PagerDuty source: the key, the services to read and how they map."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr, field_validator

from streamgauge.config import Duration, SourceConfig, Span, Strict, format_duration
from streamgauge.model import Severity

# PagerDuty refuses a `since`/`until` range longer than six months; 180 days always fits.
MAX_SLICE = timedelta(days=180)
_SERVICE_ID = re.compile(r"^[A-Z0-9]{2,20}$")
_URL = re.compile(r"^https?://[^\s/]+(/[^\s]*)?$")

DEFAULT_PRIORITIES: dict[str, Severity] = {
    "P1": Severity.CRITICAL,
    "P2": Severity.HIGH,
    "P3": Severity.MEDIUM,
    "P4": Severity.LOW,
    "P5": Severity.LOW,
}
DEFAULT_URGENCIES: dict[str, Severity] = {"high": Severity.HIGH, "low": Severity.LOW}


def _slice(value: timedelta) -> timedelta:
    if value > MAX_SLICE:
        raise ValueError(
            f"PagerDuty answers at most six months a request: use at most "
            f"{format_duration(MAX_SLICE)}, e.g. '30d' (got {format_duration(value)})"
        )
    if value < timedelta(hours=1):
        raise ValueError(f"must be at least 1h, e.g. '30d' (got {format_duration(value)})")
    return value


class ServiceMapping(Strict):
    """Where the incidents of one PagerDuty service belong."""

    app: str | None = None  # else the source's `app`
    team: str | None = None  # else the team whose `apps` list the app, else the source's `team`


class PagerdutyConfig(SourceConfig):
    """Keys of a ``type: pagerduty`` source; docs/pagerduty.md explains each with an example."""

    type: Literal["pagerduty"]
    base_url: str = "https://api.pagerduty.com"  # EU service region: https://api.eu.pagerduty.com
    token: SecretStr  # a REST API key (read-only is enough) or a user token
    # service id (the last part of the service's URL, e.g. PIJ90N7) -> its app and team
    services: dict[str, ServiceMapping]
    urgencies: tuple[Literal["high", "low"], ...] = ("high", "low")  # which incidents to read
    priorities: dict[str, Severity] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    urgency_severities: dict[str, Severity] = Field(
        default_factory=lambda: dict(DEFAULT_URGENCIES)
    )  # for incidents without a priority, or with one `priorities` does not name
    history: Span = timedelta(days=90)  # how far back the first sync reads
    overlap: Duration = timedelta(minutes=10)
    slice: Annotated[Span, AfterValidator(_slice)] = timedelta(days=30)
    page_size: int = Field(default=100, ge=1, le=100)
    timeout: float = Field(default=30.0, gt=0)
    retries: int = Field(default=4, ge=0)
    backoff: float = Field(default=1.0, ge=0)  # seconds, doubled per retry
    max_rate_limit_wait: float = Field(default=60.0, ge=0)  # longer waits pause the source

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not _URL.match(value):
            raise ValueError(
                f"{value!r} is not an http(s) URL: use https://api.pagerduty.com, or "
                "https://api.eu.pagerduty.com for an account in the EU service region"
            )
        return value

    @field_validator("services", mode="before")
    @classmethod
    def _mapping_form(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            raise ValueError(
                "write each service id as a key with its app (and team), e.g. "
                "{PIJ90N7: {app: checkout}}; {PIJ90N7: {}} reads a service with the source's app"
            )
        return value

    @field_validator("services")
    @classmethod
    def _service_ids(cls, value: dict[str, ServiceMapping]) -> dict[str, ServiceMapping]:
        if not value:
            raise ValueError(
                "give at least one service id, e.g. {PIJ90N7: {app: checkout}}, so the "
                "incidents read are bounded and land in an app"
            )
        for service in value:
            if not _SERVICE_ID.match(service):
                raise ValueError(
                    f"{service!r} is not a PagerDuty service id: use the upper-case id at the "
                    "end of the service's URL, e.g. PIJ90N7"
                )
        return value

    @field_validator("urgencies")
    @classmethod
    def _some_urgency(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("give high, low or both; none would read no incident")
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is empty: give a PagerDuty REST API key, e.g. '${PAGERDUTY_TOKEN}'")
        return value

    def priority_severity(self, name: str) -> Severity | None:
        """The severity a priority name maps to, without regard to case; None when unnamed."""
        folded = name.casefold()
        for key, severity in self.priorities.items():
            if key.casefold() == folded:
                return severity
        return None
