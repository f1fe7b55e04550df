"""What no mapping rule covers, counted from the stored issues, so a user can extend the mapping."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from streamgauge.config import Settings
from streamgauge.connectors.base import RawRecord
from streamgauge.connectors.jira.config import JiraConfig
from streamgauge.connectors.jira.normalize import RuleBook, unmapped_in
from streamgauge.connectors.jira.streams import IssueStream


class RawSource(Protocol):
    """The part of the store the report reads."""

    def iter_raw(self, source: str, stream: str | None = None) -> Iterator[RawRecord]: ...


@dataclass(frozen=True, slots=True)
class UnmappedEntry:
    source: str
    what: str  # "status" (no flow state), "stage" (no value-stream stage) or "type" (no flow type)
    project: str
    name: str
    issues: int  # stored issues that have it, now or in their history


def unmapped_report(store: RawSource, settings: Settings) -> list[UnmappedEntry]:
    """Unmapped statuses, stages and types of every Jira source, most frequent first.

    Read from the raw issues in the store under the current settings, so it reflects a mapping
    just changed without fetching anything.
    """
    entries: list[UnmappedEntry] = []
    for conf in settings.sources:
        if not isinstance(conf, JiraConfig):
            continue
        book = RuleBook(conf)
        counts: Counter[tuple[str, str, str]] = Counter()
        for raw in store.iter_raw(conf.name, IssueStream.name):
            counts.update(unmapped_in(raw.payload, book))
        entries.extend(
            UnmappedEntry(conf.name, what, project, name, n)
            for (what, project, name), n in counts.items()
        )
    return sorted(entries, key=lambda e: (-e.issues, e.source, e.what, e.project, e.name))
