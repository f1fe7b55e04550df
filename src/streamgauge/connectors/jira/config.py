"""Configuration of a Jira source: where, how to authenticate, what to read, how to map it."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from streamgauge.config import Duration, SourceConfig, Strict
from streamgauge.model import FlowState, FlowType, Severity

DEFAULT_TYPES: dict[str, FlowType] = {
    "Story": FlowType.FEATURE,
    "Epic": FlowType.FEATURE,
    "New Feature": FlowType.FEATURE,
    "Improvement": FlowType.FEATURE,
    "Task": FlowType.FEATURE,
    "Sub-task": FlowType.FEATURE,
    "Subtask": FlowType.FEATURE,
    "Bug": FlowType.DEFECT,
    "Defect": FlowType.DEFECT,
    "Incident": FlowType.DEFECT,
    "Technical Debt": FlowType.DEBT,
    "Tech Debt": FlowType.DEBT,
    "Risk": FlowType.RISK,
    "Vulnerability": FlowType.RISK,
    "Security": FlowType.RISK,
}
DEFAULT_SEVERITIES: dict[str, Severity] = {
    "Highest": Severity.CRITICAL,
    "Blocker": Severity.CRITICAL,
    "Critical": Severity.CRITICAL,
    "High": Severity.HIGH,
    "Major": Severity.HIGH,
    "Medium": Severity.MEDIUM,
    "Low": Severity.LOW,
    "Minor": Severity.LOW,
    "Lowest": Severity.LOW,
    "Trivial": Severity.LOW,
}


class FlowMapping(Strict):
    """How Jira's statuses, types, labels and priorities map onto the model.

    The same shape serves as a per-project override: only the keys an override sets replace the
    source-wide value. Status, type, label and priority names match without regard to case.
    """

    statuses: dict[str, FlowState] = Field(
        default_factory=dict
    )  # explicit status -> flow state; beats everything below
    waiting_statuses: tuple[str, ...] = ("Blocked", "Ready for review", "Waiting for QA", "On Hold")
    canceled_statuses: tuple[str, ...] = ("Canceled", "Cancelled", "Won't Do", "Rejected")
    # A done-category status with one of these resolutions counts as canceled, not done.
    canceled_resolutions: tuple[str, ...] = (
        "Won't Do",
        "Won't Fix",
        "Duplicate",
        "Cannot Reproduce",
    )
    stages: dict[str, str] = Field(
        default_factory=dict
    )  # status -> value-stream stage (backlog, development, review...)
    types: dict[str, FlowType] = Field(default_factory=lambda: dict(DEFAULT_TYPES))
    label_types: dict[str, FlowType] = Field(
        default_factory=dict
    )  # a label that sets the flow type (beats the issue type)
    default_type: FlowType = FlowType.FEATURE  # for types no rule maps (they are reported)
    incident_types: tuple[str, ...] = ("Incident",)
    incident_labels: tuple[str, ...] = ()
    severities: dict[str, Severity] = Field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    team: str | None = None  # team of every item of the project (beats the settings' rules)
    app: str | None = None  # app of every item of the project (beats the settings' rules)


class JiraConfig(SourceConfig):
    """``type: jira``. Cloud: ``email`` + ``api_token``; Data Center: ``token`` (a PAT)."""

    type: Literal["jira"]
    url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    email: str | None = None
    api_token: SecretStr | None = None
    token: SecretStr | None = None
    projects: tuple[str, ...] = ()
    jql: str | None = None  # a filter of your own; ANDed with the `updated` bound
    overlap: Duration = timedelta(minutes=5)
    page_size: int = Field(default=100, ge=1, le=1000)
    changelog: Literal["bulk", "per_issue"] = "bulk"  # how Cloud completes long histories
    timeout: Duration = timedelta(seconds=30)
    # seconds; a longer Retry-After pauses the source until then instead of waiting in the sync
    max_rate_limit_wait: float = Field(default=60.0, ge=0)
    mapping: FlowMapping = FlowMapping()
    overrides: dict[str, FlowMapping] = Field(
        default_factory=dict
    )  # project key -> the mapping keys that differ there

    @model_validator(mode="after")
    def _auth_and_scope(self) -> JiraConfig:
        cloud = self.email is not None or self.api_token is not None
        if cloud and self.token is not None:
            raise ValueError(
                "give either email + api_token (Cloud) or token (Data Center), not both"
            )
        if cloud and (self.email is None or self.api_token is None):
            raise ValueError("Jira Cloud needs both email and api_token")
        if not cloud and self.token is None:
            raise ValueError("give email + api_token (Jira Cloud) or token (a Data Center PAT)")
        if not self.projects and not self.jql:
            raise ValueError("give projects (keys) or jql, so the search is bounded")
        return self

    def mapping_for(self, project: str | None) -> FlowMapping:
        """The source-wide mapping with the project's override keys laid over it."""
        override = self.overrides.get(project or "")
        if override is None:
            return self.mapping
        return self.mapping.model_copy(
            update={key: getattr(override, key) for key in override.model_fields_set}
        )
