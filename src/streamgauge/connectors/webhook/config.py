"""Configuration of a webhook source: how senders sign, how big a body may be, and the rules
that turn CDEvents' environments and artifacts into the model's environments and apps."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from streamgauge.config import Duration, SourceConfig
from streamgauge.model import Environment

MIB = 1 << 20


class WebhookConfig(SourceConfig):
    """Keys of a ``type: webhook`` source; docs/webhook.md explains each with an example."""

    type: Literal["webhook"] = "webhook"
    # standard: Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature);
    # github: X-Hub-Signature-256; bearer: Authorization: Bearer <secret>
    auth: Literal["standard", "github", "bearer"] = "standard"
    secret: SecretStr
    tolerance: Duration = timedelta(minutes=5)  # how far webhook-timestamp may be from now
    max_body: int = Field(default=MIB, ge=1024, le=64 * MIB)  # bytes
    # environment id as sent -> environment; ids not listed are guessed from their name
    environments: dict[str, Environment] = Field(default_factory=dict)
    # artifact name (the purl's name, e.g. "myapp" of pkg:oci/myapp@sha256:...) or service id
    # -> app; else the top-level `apps` rules (as a component), else this source's `app`
    artifact_apps: dict[str, str] = Field(default_factory=dict)
    # pipeline name -> app, for pipeline runs
    pipeline_apps: dict[str, str] = Field(default_factory=dict)

    @field_validator("secret")
    @classmethod
    def _secret_given(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError(
                "must be at least 16 characters; generate one with `openssl rand -hex 32`"
            )
        return value
