"""Mapping rules applied: status -> flow state and stage, type/labels -> flow type and incident."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamgauge.connectors.jira.config import FlowMapping
from streamgauge.model import FlowState, FlowType, Severity

# Jira's status categories (statusCategory.key) and the flow state each means by default.
CATEGORY_STATES: dict[str, FlowState] = {
    "new": FlowState.NEW,
    "indeterminate": FlowState.ACTIVE,
    "done": FlowState.DONE,
}


def _fold(names: Sequence[str]) -> frozenset[str]:
    return frozenset(n.casefold() for n in names)


def _fold_map(rules: Mapping[str, object]) -> dict[str, object]:
    return {k.casefold(): v for k, v in rules.items()}


@dataclass(frozen=True, slots=True)
class StateRule:
    """A flow state and whether an explicit rule or the category (not a guess) gave it."""

    state: FlowState
    mapped: bool


class Rules:
    """One project's mapping, prepared for case-insensitive lookups."""

    def __init__(self, mapping: FlowMapping) -> None:
        self.mapping = mapping
        self._states = _fold_map(mapping.statuses)
        self._waiting = _fold(mapping.waiting_statuses)
        self._canceled = _fold(mapping.canceled_statuses)
        self._canceled_resolutions = _fold(mapping.canceled_resolutions)
        self._stages = _fold_map(mapping.stages)
        self._types = _fold_map(mapping.types)
        self._label_types = _fold_map(mapping.label_types)
        self._incident_types = _fold(mapping.incident_types)
        self._incident_labels = _fold(mapping.incident_labels)
        self._severities = _fold_map(mapping.severities)

    def flow_state(
        self, status: str, category: str | None, resolution: str | None = None
    ) -> StateRule:
        """Explicit rule, then waiting/canceled lists, then the status category.

        A status in no rule and with no known category (Jira's "No Category") is unmapped: it
        counts as new, so it adds neither to flow load nor to flow time, and it is reported.
        """
        name = status.casefold()
        explicit = self._states.get(name)
        if isinstance(explicit, FlowState):
            return StateRule(explicit, True)
        if name in self._waiting:
            return StateRule(FlowState.WAITING, True)
        if name in self._canceled:
            return StateRule(FlowState.CANCELED, True)
        by_category = CATEGORY_STATES.get(category or "")
        if by_category is None:
            return StateRule(FlowState.NEW, False)
        if (
            by_category is FlowState.DONE
            and resolution
            and resolution.casefold() in self._canceled_resolutions
        ):
            return StateRule(FlowState.CANCELED, True)
        return StateRule(by_category, True)

    def stage(self, status: str) -> str | None:
        stage = self._stages.get(status.casefold())
        return stage if isinstance(stage, str) else None

    @property
    def has_stages(self) -> bool:
        return bool(self._stages)

    def flow_type(self, issue_type: str, labels: Sequence[str]) -> tuple[FlowType, bool]:
        """(flow type, mapped): a type label beats the issue type; unmapped types get the default."""
        for label in labels:
            by_label = self._label_types.get(label.casefold())
            if isinstance(by_label, FlowType):
                return by_label, True
        by_type = self._types.get(issue_type.casefold())
        if isinstance(by_type, FlowType):
            return by_type, True
        return self.mapping.default_type, False

    def is_incident(self, issue_type: str, labels: Sequence[str]) -> bool:
        return issue_type.casefold() in self._incident_types or any(
            label.casefold() in self._incident_labels for label in labels
        )

    def severity(self, priority: str | None) -> Severity:
        found = self._severities.get((priority or "").casefold())
        return found if isinstance(found, Severity) else Severity.UNKNOWN
