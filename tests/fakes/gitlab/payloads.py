"""REST v4 bodies of the fake GitLab, shaped as in GitLab's API documentation examples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.fakes.gitlab.project import (
    FakeCommit,
    FakeDeployment,
    FakeIssue,
    FakeJob,
    FakeProject,
    sha_of,
)

UNAUTHORIZED = {"message": "401 Unauthorized"}
FORBIDDEN = {"message": "403 Forbidden"}
PROJECT_NOT_FOUND = {"message": "404 Project Not Found"}
GROUP_NOT_FOUND = {"message": "404 Group Not Found"}
NOT_FOUND = {"message": "404 Not Found"}
RETRY_LATER = "Retry later\n"  # Rack::Attack's throttled answer is plain text


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def user(username: str) -> dict[str, Any]:
    return {
        "id": int(sha_of(username)[:5], 16),
        "username": username,
        "name": username.title(),
        "state": "active",
        "avatar_url": None,
        "web_url": f"https://gitlab.example.com/{username}",
    }


def project(p: FakeProject, web: str) -> dict[str, Any]:
    return {
        "id": p.id,
        "description": None,
        "name": p.name,
        "name_with_namespace": f"{p.group.path.title()} / {p.name}",
        "path": p.name,
        "path_with_namespace": p.path,
        "created_at": "2024-01-01T00:00:00.000Z",
        "default_branch": p.default_branch if p.main else None,
        "ssh_url_to_repo": f"git@127.0.0.1:{p.path}.git",
        "http_url_to_repo": f"{web}/{p.path}.git",
        "web_url": f"{web}/{p.path}",
        "archived": p.archived,
        "namespace": {"id": 1, "name": p.group.path, "path": p.group.path, "kind": "group"},
    }


def commit(c: FakeCommit, p: FakeProject, web: str) -> dict[str, Any]:
    return {
        "id": c.sha,
        "short_id": c.sha[:8],
        "created_at": iso(c.committed),
        "parent_ids": list(c.parents),
        "title": c.title,
        "message": c.message,
        "author_name": c.author,
        "author_email": "dev@example.com",
        "authored_date": iso(c.authored),
        "committer_name": c.author,
        "committer_email": "dev@example.com",
        "committed_date": iso(c.committed),
        "trailers": {},
        "web_url": f"{web}/{p.path}/-/commit/{c.sha}",
    }


def job(
    j: FakeJob, p: FakeProject, web: str, pipeline_id: int, sha: str, ref: str
) -> dict[str, Any]:
    return {
        "id": j.id,
        "status": j.status,
        "stage": j.stage,
        "name": j.name,
        "ref": ref,
        "tag": False,
        "coverage": None,
        "allow_failure": False,
        "created_at": iso(j.created),
        "started_at": iso(j.started),
        "finished_at": iso(j.finished),
        "duration": (j.finished - j.started).total_seconds() if j.finished and j.started else None,
        "user": user("deployer"),
        "commit": {"id": sha, "short_id": sha[:8]},
        "pipeline": {
            "id": pipeline_id,
            "project_id": p.id,
            "sha": sha,
            "ref": ref,
            "status": j.status,
        },
        "web_url": f"{web}/{p.path}/-/jobs/{j.id}",
    }


def deployment(d: FakeDeployment, p: FakeProject, web: str) -> dict[str, Any]:
    return {
        "id": d.id,
        "iid": d.iid,
        "ref": d.ref,
        "sha": d.sha,
        "created_at": iso(d.created),
        "updated_at": iso(d.updated),
        "finished_at": iso(d.finished),
        "status": d.status,
        "user": user("deployer"),
        "environment": {
            "id": int(sha_of(p.path, d.environment)[:5], 16),
            "name": d.environment,
            "slug": d.environment,
            "tier": d.tier,
            "external_url": f"https://{d.environment}.example.com",
            "created_at": "2024-01-01T00:00:00.000Z",
            "updated_at": iso(d.updated),
        },
        "deployable": job(d.job, p, web, d.id + 500_000, d.sha, d.ref),
    }


def issue(i: FakeIssue, p: FakeProject, web: str) -> dict[str, Any]:
    return {
        "id": i.id,
        "iid": i.iid,
        "project_id": p.id,
        "title": i.title,
        "description": "",
        "state": "closed" if i.closed else "opened",
        "created_at": iso(i.created),
        "updated_at": iso(i.updated),
        "closed_at": iso(i.closed),
        "closed_by": user("oncall") if i.closed else None,
        "labels": list(i.labels),
        "milestone": None,
        "assignees": [],
        "author": user(i.author),
        "type": i.issue_type.upper(),
        "issue_type": i.issue_type,
        "severity": i.severity,
        "user_notes_count": 0,
        "web_url": f"{web}/{p.path}/-/issues/{i.iid}",
        "confidential": False,
    }
