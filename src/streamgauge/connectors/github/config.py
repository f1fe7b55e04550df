"""Configuration of a GitHub source: where, who, which repositories and how to read them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from streamgauge.config import Duration, SourceConfig


class GithubConfig(SourceConfig):
    """Keys of a ``type: github`` source; docs/github.md explains each with an example."""

    type: Literal["github"] = "github"
    # GitHub Enterprise Server: https://HOST/api/v3 (GraphQL is then read from /api/graphql)
    base_url: str = "https://api.github.com"
    token: SecretStr | None = None
    app_id: int | None = None
    private_key: SecretStr | None = None
    installation_id: int | None = None
    org: str | None = None
    repos: tuple[str, ...] = ()  # "owner/name"; added to the org's repositories
    exclude_repos: tuple[str, ...] = ()
    repo_apps: dict[str, str] = Field(
        default_factory=dict
    )  # "owner/name" -> app; else Settings.apps rules, else `app`
    repo_teams: dict[str, str] = Field(
        default_factory=dict
    )  # "owner/name" -> team; else Settings rules, else `team`
    production_environments: tuple[str, ...] = ("production", "prod")
    staging_environments: tuple[str, ...] = ("staging", "stage", "preprod")
    # For repositories without GitHub Deployments: workflow runs whose workflow name matches this
    # pattern on the default branch count as production deployments.
    deployment_workflow: str | None = None
    incident_labels: tuple[str, ...] = ("incident",)
    rollback_labels: tuple[str, ...] = ("rollback",)
    hotfix_labels: tuple[str, ...] = ("hotfix",)
    rollback_branches: str = r"^(revert|rollback)[-/]"
    hotfix_branches: str = r"^hotfix[-/]"
    work_item_projects: tuple[str, ...] = ()  # keys of these projects only; empty: any key
    max_first_deployment_commits: int = Field(default=100, ge=1)
    history: Duration = timedelta(days=90)  # how far back the first sync reads
    overlap: Duration = timedelta(minutes=10)
    deployments_poll: Duration = timedelta(hours=1)  # re-read deployments at least this often
    graphql_batch: int = Field(default=10, ge=1, le=25)  # repositories per GraphQL query
    # GitHub asks integrators to space requests to avoid secondary rate limits; our GraphQL
    # POSTs are queries, not writes, so they are spaced like any read
    request_spacing: float = Field(default=0.25, ge=0)
    timeout: float = Field(default=30.0, gt=0)
    retries: int = Field(default=4, ge=0)
    backoff: float = Field(default=1.0, ge=0)  # seconds, doubled per retry
    max_rate_limit_wait: float = Field(default=60.0, ge=0)  # longer waits pause the source
    min_rate_limit_remaining: int = Field(default=50, ge=0)

    @field_validator("repos", "exclude_repos")
    @classmethod
    def _full_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name.count("/") != 1 or not all(name.split("/")):
                raise ValueError(f"{name!r} is not owner/name")
        return value

    @field_validator("rollback_branches", "hotfix_branches", "deployment_workflow")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _auth_and_scope(self) -> GithubConfig:
        app = (self.app_id, self.private_key, self.installation_id)
        if self.token is None and any(v is None for v in app):
            raise ValueError(
                "give `token`, or `app_id`, `private_key` and `installation_id` of a GitHub App"
            )
        if self.token is not None and any(v is not None for v in app):
            raise ValueError("give either `token` or the GitHub App keys, not both")
        if not self.org and not self.repos:
            raise ValueError("give `org`, `repos` or both")
        return self
