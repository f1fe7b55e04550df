"""The jobs report: every Jenkins job, how its builds were classified, and why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from streamgauge.config import Settings
from streamgauge.connectors.base import RawRecord
from streamgauge.connectors.jenkins.config import JenkinsConfig
from streamgauge.connectors.jenkins.normalize import JenkinsMapping, repo_of


class RawSource(Protocol):
    """The part of the store the report reads."""

    def iter_raw(self, source: str, stream: str | None = None) -> Iterator[RawRecord]: ...


@dataclass(slots=True)
class JobEntry:
    source: str
    job: str
    job_class: str
    builds: int = 0
    deployments: int = 0
    apps: list[str] = field(default_factory=list)  # apps its deployments count for
    reasons: dict[str, int] = field(default_factory=dict)  # verdict -> builds


def jobs_report(store: RawSource, settings: Settings) -> list[JobEntry]:
    """Every stored job of every Jenkins source, classified under the current settings.

    Read from the raw jobs and builds in the store, so a rule just changed shows its effect
    without fetching anything.
    """
    entries: list[JobEntry] = []
    for conf in settings.sources:
        if not isinstance(conf, JenkinsConfig):
            continue
        mapping = JenkinsMapping(conf.name, conf, settings)
        jobs: dict[str, JobEntry] = {}
        for raw in store.iter_raw(conf.name, "jobs"):
            path = str(raw.payload.get("fullName") or raw.native_id)
            jobs[path] = JobEntry(conf.name, path, str(raw.payload.get("_class") or ""))
        reasons: dict[str, Counter[str]] = {}
        apps: dict[str, set[str]] = {}
        for raw in store.iter_raw(conf.name, "builds"):
            job = raw.payload.get("job")
            if not isinstance(job, dict) or not job.get("fullName"):
                continue
            path = str(job["fullName"])
            entry = jobs.setdefault(path, JobEntry(conf.name, path, str(job.get("_class") or "")))
            entry.builds += 1
            verdict = mapping.verdict(dict(raw.payload))
            if verdict.deployment:
                entry.deployments += 1
                _, app = mapping.place(path, repo_of(dict(raw.payload)), verdict.rule)
                environment = verdict.rule.environment if verdict.rule else ""
                apps.setdefault(path, set()).add(f"{app} ({environment})")
            reasons.setdefault(path, Counter())[verdict.reason] += 1
        for path, entry in jobs.items():
            entry.reasons = dict(sorted((reasons.get(path) or Counter()).items()))
            entry.apps = sorted(apps.get(path, ()))
            entries.append(entry)
    return sorted(entries, key=lambda e: (e.source, e.job))
