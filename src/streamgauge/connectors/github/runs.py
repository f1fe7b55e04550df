"""GitHub Actions workflow runs over REST, newest first, with an ETag per repository."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from streamgauge.connectors.base import (
    Page,
    Paginator,
    RawRecord,
    Stream,
    SyncContext,
    iso,
    parse_time,
)
from streamgauge.connectors.github.client import GithubClient
from streamgauge.connectors.github.config import GithubConfig
from streamgauge.connectors.github.watch import RepoWatch

log = logging.getLogger(__name__)


class WorkflowRunsStream(Stream):
    """Workflow runs as pipeline runs; runs still in progress are read again until they finish.

    GitHub caps a filtered listing (``created=``, ``status=``…) at 1,000 results, so this stream
    never filters: it pages the plain listing, newest first, and stops once a page reaches past
    the cursor (less the overlap) and past the oldest run that was still in progress. The first
    page is a conditional request: when nothing changed it is a 304 and costs no rate limit.
    """

    name = "workflow_runs"

    def __init__(self, config: GithubConfig, client: GithubClient, watch: RepoWatch) -> None:
        self.config = config
        self.client = client
        self.watch = watch
        self.deploy_pattern = (
            re.compile(config.deployment_workflow) if config.deployment_workflow else None
        )

    def read(self, cursor: str | None, ctx: SyncContext) -> Iterator[Page]:
        memory = self.watch.ensure(ctx)
        state: dict[str, dict[str, Any]] = json.loads(cursor or "{}")
        for repo in memory.repos:
            entry = dict(state.get(repo) or {})
            floor = ctx.started_at - self.config.history
            if entry.get("since"):
                floor = parse_time(entry["since"]) - self.config.overlap
            if entry.get("pending"):
                floor = min(floor, parse_time(entry["pending"]) - self.config.overlap)
            answer = self.client.rest(
                ctx,
                f"/repos/{repo}/actions/runs",
                params={"per_page": 100},
                etag=entry.get("etag"),
                what=f"workflow runs of {repo}",
            )
            if answer.status == 304:
                continue
            etag = answer.etag
            running: list[str] = []
            paginator = Paginator(what=f"workflow runs of {repo}")
            while True:
                runs = [r for r in answer.data.get("workflow_runs") or [] if r]
                fresh = [r for r in runs if parse_time(r["created_at"]) >= floor]
                running += [r["created_at"] for r in fresh if r.get("status") != "completed"]
                raws = [
                    self._raw(
                        repo,
                        run,
                        memory.has_deployments.get(repo, False),
                        memory.default_branches.get(repo),
                        ctx,
                    )
                    for run in fresh
                ]
                last = answer.next_url is None or len(fresh) < len(runs)
                if last:
                    entry.update(
                        etag=etag,
                        since=iso(ctx.started_at),
                        pending=min(running) if running else None,
                    )
                    state[repo] = entry
                yield Page(raws, json.dumps(state, sort_keys=True))
                if last:
                    break
                assert answer.next_url is not None
                paginator.advance(answer.next_url)
                answer = self.client.rest(ctx, answer.next_url, what=f"workflow runs of {repo}")

    def _raw(
        self,
        repo: str,
        run: dict[str, Any],
        has_deployments: bool,
        default_branch: str | None,
        ctx: SyncContext,
    ) -> RawRecord:
        payload: dict[str, Any] = {**run, "_streamgauge": {}}
        name = str(run.get("name") or "")
        if self.deploy_pattern is not None and not has_deployments:
            on_default = run.get("head_branch") == (default_branch or run.get("head_branch"))
            if self.deploy_pattern.search(name) and on_default:
                log.debug(
                    "run %s of %s: workflow %r matches deployment_workflow %r on branch %s: "
                    "a production deployment",
                    run["id"],
                    repo,
                    name,
                    self.deploy_pattern.pattern,
                    run.get("head_branch"),
                )
                payload["_streamgauge"] = {"deployment": "production"}
            else:
                log.debug(
                    "run %s of %s: workflow %r (branch %s) does not match deployment_workflow "
                    "%r on the default branch",
                    run["id"],
                    repo,
                    name,
                    run.get("head_branch"),
                    self.deploy_pattern.pattern,
                )
        return RawRecord(self.name, str(run["id"]), payload, ctx.started_at, run.get("url"))


def run_time(run: dict[str, Any]) -> datetime:
    return parse_time(run.get("run_started_at") or run["created_at"])
