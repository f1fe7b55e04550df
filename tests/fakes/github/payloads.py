"""REST payloads of the fake GitHub, shaped like the examples in GitHub's OpenAPI description."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.fakes.github.org import FakeCommit, FakeRepo, FakeRun, sha_of


def iso(at: datetime | None) -> str | None:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if at else None


def user(login: str, api: str) -> dict[str, Any]:
    return {
        "login": login,
        "id": int(sha_of(login)[:6], 16),
        "type": "User",
        "url": f"{api}/users/{login}",
        "html_url": f"{api.replace('/api/v3', '')}/{login}",
        "site_admin": False,
    }


def repository(repo: FakeRepo, api: str) -> dict[str, Any]:
    web = api.replace("/api/v3", "")
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "private": True,
        "owner": {**user(repo.owner, api), "type": "Organization"},
        "html_url": f"{web}/{repo.full_name}",
        "url": f"{api}/repos/{repo.full_name}",
        "default_branch": repo.default_branch,
        "archived": False,
        "disabled": False,
        "fork": False,
        "pushed_at": iso(repo.commits[repo.head].committed_at) if repo.head else None,
    }


def event(repo: FakeRepo, index: int, api: str) -> dict[str, Any]:
    kind, at = repo.events[index]
    return {
        "id": str(repo.id * 1_000_000 + index),
        "type": kind,
        "actor": user("dev", api),
        "repo": {"id": repo.id, "name": repo.full_name, "url": f"{api}/repos/{repo.full_name}"},
        "payload": {},
        "public": False,
        "created_at": iso(at),
    }


def workflow_run(repo: FakeRepo, run: FakeRun, api: str) -> dict[str, Any]:
    base = f"{api}/repos/{repo.full_name}"
    commit = repo.commits.get(run.head_sha)
    return {
        "id": run.id,
        "name": run.name,
        "node_id": f"WFR_{run.id}",
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": run.path,
        "display_title": commit.message.splitlines()[0] if commit else run.name,
        "run_number": run.run_number,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "url": f"{base}/actions/runs/{run.id}",
        "html_url": f"{base.replace('/api/v3/repos', '')}/actions/runs/{run.id}",
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "run_attempt": run.run_attempt,
        "run_started_at": iso(run.created_at),
        "jobs_url": f"{base}/actions/runs/{run.id}/jobs",
        "workflow_url": f"{base}/actions/workflows/{run.workflow_id}",
        "head_commit": commit_summary(commit) if commit else None,
        "repository": {"id": repo.id, "name": repo.name, "full_name": repo.full_name},
    }


def commit_summary(commit: FakeCommit) -> dict[str, Any]:
    return {
        "id": commit.sha,
        "tree_id": commit.sha[::-1],
        "message": commit.message,
        "timestamp": iso(commit.committed_at),
        "author": {"name": commit.author, "email": f"{commit.author}@example.com"},
        "committer": {"name": commit.author, "email": f"{commit.author}@example.com"},
    }


def compare_commit(repo: FakeRepo, commit: FakeCommit, api: str) -> dict[str, Any]:
    return {
        "sha": commit.sha,
        "url": f"{api}/repos/{repo.full_name}/commits/{commit.sha}",
        "commit": {
            "message": commit.message,
            "author": {"name": commit.author, "date": iso(commit.authored_at)},
            "committer": {"name": commit.author, "date": iso(commit.committed_at)},
        },
        "parents": [{"sha": p} for p in commit.parents],
    }


def compare(repo: FakeRepo, base: str, head: str, api: str) -> dict[str, Any]:
    """Commits reachable from ``head`` and not from ``base``, oldest first (at most 250)."""
    behind = ancestors(repo, base)
    ahead = [c for c in ancestors(repo, head) if c not in behind]
    ordered = sorted((repo.commits[s] for s in ahead), key=lambda c: c.committed_at)
    return {
        "url": f"{api}/repos/{repo.full_name}/compare/{base}...{head}",
        "status": "ahead" if ordered else "identical",
        "ahead_by": len(ordered),
        "behind_by": 0,
        "total_commits": len(ordered),
        "commits": [compare_commit(repo, c, api) for c in ordered[:250]],
    }


def ancestors(repo: FakeRepo, sha: str) -> set[str]:
    seen: set[str] = set()
    todo = [sha]
    while todo:
        current = todo.pop()
        if current in seen or current not in repo.commits:
            continue
        seen.add(current)
        todo.extend(repo.commits[current].parents)
    return seen


NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest",
    "status": "404",
}
BAD_CREDENTIALS = {
    "message": "Bad credentials",
    "documentation_url": "https://docs.github.com/rest",
    "status": "401",
}
SECONDARY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID ABCD.",
    "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
    "status": "403",
}


def primary(login: str) -> dict[str, Any]:
    return {
        "message": f"API rate limit exceeded for user ID {int(sha_of(login)[:4], 16)}. If you reach "
        "out to GitHub Support for help, please include the request ID ABCD and timestamp.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        "status": "403",
    }
