"""Configuration of a Jenkins source: where, who, which jobs, and which builds are deployments."""

from __future__ import annotations

import re
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from streamgauge.config import Duration, SourceConfig, Strict
from streamgauge.model import Environment


class DeploymentRule(Strict):
    """Builds that are deployments: every condition given must hold; at least one is needed.

    ``job`` is a glob on the job's full path (``payments/deploy-*``), ``parameter`` a build
    parameter as ``NAME=value``, ``stage`` the name of a pipeline stage that ran.
    """

    job: str | None = None
    parameter: str | None = None
    stage: str | None = None
    app: str | None = None  # else the source's job_apps, `app`, or the job's first path part
    environment: Environment = Environment.PRODUCTION

    @field_validator("job")
    @classmethod
    def _glob(cls, value: str | None) -> str | None:
        if value is not None and not value.strip("/"):
            raise ValueError("give a job path or a glob such as 'deploy/*-prod'")
        return value.strip("/") if value else value

    @field_validator("parameter")
    @classmethod
    def _parameter(cls, value: str | None) -> str | None:
        if value is not None and (value.count("=") < 1 or not value.split("=", 1)[0].strip()):
            raise ValueError(f"{value!r} is not NAME=value, e.g. 'ENVIRONMENT=production'")
        return value

    @model_validator(mode="after")
    def _one_condition(self) -> DeploymentRule:
        if self.job is None and self.parameter is None and self.stage is None:
            raise ValueError(
                "a deployment rule needs `job`, `parameter` or `stage`; a rule with none "
                "would make every build a deployment"
            )
        return self

    @property
    def parameter_pair(self) -> tuple[str, str] | None:
        if self.parameter is None:
            return None
        name, _, value = self.parameter.partition("=")
        return name.strip(), value.strip()

    def describe(self) -> str:
        parts = [f"job {self.job!r}"] if self.job else []
        parts += [f"parameter {self.parameter}"] if self.parameter else []
        parts += [f"stage {self.stage!r}"] if self.stage else []
        return " and ".join(parts)

    def matches_job(self, path: str) -> bool:
        return self.job is None or fnmatchcase(path, self.job)


class JenkinsConfig(SourceConfig):
    """Keys of a ``type: jenkins`` source; docs/jenkins.md explains each with an example."""

    type: Literal["jenkins"] = "jenkins"
    url: str  # the Jenkins root, e.g. https://ci.example.com or https://host/jenkins
    user: str
    api_token: SecretStr
    # folders or jobs to read, as paths ("payments", "platform/deploy"); empty: every job
    jobs: tuple[str, ...] = ()
    exclude_jobs: tuple[str, ...] = ()  # globs on full job paths
    deployments: tuple[DeploymentRule, ...] = ()  # first matching rule wins
    job_apps: dict[str, str] = Field(default_factory=dict)  # job glob -> app
    job_teams: dict[str, str] = Field(default_factory=dict)  # job glob -> team
    rollback_parameter: str | None = "ROLLBACK=true"  # a build with it is a rollback
    hotfix_jobs: str | None = r"(^|/)hotfix[-/]"  # regex on the job path (branch jobs)
    commits: bool = True  # commits from changeSets; off when a GitHub/GitLab source reads them
    history: Duration = timedelta(days=90)  # how far back the first sync reads
    page_size: int = Field(default=500, ge=10, le=5000)  # builds per allBuilds{m,n} request
    max_folder_depth: int = Field(default=10, ge=1, le=50)
    timeout: float = Field(default=30.0, gt=0)
    retries: int = Field(default=4, ge=0)
    backoff: float = Field(default=1.0, ge=0)  # seconds, doubled per retry
    max_retry_wait: float = Field(default=120.0, ge=0)  # a longer Retry-After pauses the source

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. 'https://ci.example.com'")
        return value.rstrip("/")

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give the Jenkins user whose API token this is")
        return value

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError(
                "is empty: create an API token under the user's Security page and give it here"
            )
        return value

    @field_validator("jobs")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(v.strip("/") for v in value)
        for path in out:
            if not path or "//" in path:
                raise ValueError(f"{path!r} is not a job path such as 'payments/deploy'")
        return out

    @field_validator("hotfix_jobs")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("rollback_parameter")
    @classmethod
    def _pair(cls, value: str | None) -> str | None:
        if value is not None and (value.count("=") < 1 or not value.split("=", 1)[0].strip()):
            raise ValueError(f"{value!r} is not NAME=value, e.g. 'ROLLBACK=true'")
        return value

    def excluded(self, path: str) -> bool:
        return any(fnmatchcase(path, glob) for glob in self.exclude_jobs)

    def mapped(self, table: dict[str, str], path: str) -> str | None:
        return next((v for glob, v in table.items() if fnmatchcase(path, glob)), None)
