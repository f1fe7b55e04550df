"""Configuration of a GitLab source: which server, which token, which projects, how to read them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from streamgauge.config import Duration, SourceConfig


class GitlabConfig(SourceConfig):
    """Keys of a ``type: gitlab`` source; docs/gitlab.md explains each with an example."""

    type: Literal["gitlab"] = "gitlab"
    url: str = "https://gitlab.com"  # a self-managed instance: its root URL, without /api/v4
    token: SecretStr  # personal, group or project access token with the read_api scope
    groups: tuple[str, ...] = ()  # full paths; each is expanded to its projects
    projects: tuple[str, ...] = ()  # full paths "group/subgroup/name"; added to the groups'
    exclude_projects: tuple[str, ...] = ()
    include_subgroups: bool = True
    project_apps: dict[str, str] = Field(
        default_factory=dict
    )  # "group/name" -> app; else Settings.apps rules, else `app`, else the project's name
    project_teams: dict[str, str] = Field(
        default_factory=dict
    )  # "group/name" -> team; else Settings rules, else `team`
    production_environments: tuple[str, ...] = ("production", "prod")
    staging_environments: tuple[str, ...] = ("staging", "stage", "preprod")
    work_items: bool = False  # issues other than incidents become work items
    severity_labels: dict[str, str] = Field(
        default_factory=lambda: {
            "severity::1": "critical",
            "severity::2": "high",
            "severity::3": "medium",
            "severity::4": "low",
        }
    )
    rollback_labels: tuple[str, ...] = ("rollback",)
    hotfix_labels: tuple[str, ...] = ("hotfix",)
    rollback_branches: str = r"^(revert|rollback)[-/]"
    hotfix_branches: str = r"^hotfix[-/]"
    work_item_projects: tuple[str, ...] = ()  # keys of these projects only; empty: any key
    max_first_deployment_commits: int = Field(default=100, ge=1)
    history: Duration = timedelta(days=90)  # how far back the first sync reads
    overlap: Duration = timedelta(minutes=10)
    timeout: float = Field(default=30.0, gt=0)
    retries: int = Field(default=4, ge=0)
    backoff: float = Field(default=1.0, ge=0)  # seconds, doubled per retry
    max_rate_limit_wait: float = Field(default=60.0, ge=0)  # longer waits pause the source
    min_rate_limit_remaining: int = Field(default=50, ge=0)

    @field_validator("token", mode="before")
    @classmethod
    def _token(cls, value: object) -> object:
        if value is None or (not isinstance(value, str | SecretStr)):
            raise ValueError(
                "give an access token with the read_api scope, e.g. token: ${GITLAB_TOKEN}"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. 'https://gitlab.example.com'")
        value = value.rstrip("/")
        if value.endswith("/api/v4"):
            raise ValueError(f"{value!r}: give the server's root URL, without /api/v4")
        return value

    @field_validator("projects", "exclude_projects")
    @classmethod
    def _full_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if "/" not in path or not all(path.split("/")):
                raise ValueError(f"{path!r} is not a project's full path such as 'group/name'")
        return value

    @field_validator("groups")
    @classmethod
    def _group_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path or not all(path.split("/")):
                raise ValueError(f"{path!r} is not a group's full path such as 'acme/payments'")
        return value

    @field_validator("severity_labels")
    @classmethod
    def _severities(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = ("critical", "high", "medium", "low")
        for label, severity in value.items():
            if severity not in allowed:
                raise ValueError(
                    f"label {label!r} maps to {severity!r}; use one of {', '.join(allowed)}"
                )
        return value

    @field_validator("rollback_branches", "hotfix_branches")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _scope(self) -> GitlabConfig:
        if not self.token.get_secret_value():
            raise ValueError(
                "`token` is empty: give an access token with the read_api scope (is the "
                "variable it names set to a value?)"
            )
        if not self.groups and not self.projects:
            raise ValueError("give `groups`, `projects` or both")
        return self
