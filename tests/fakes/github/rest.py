"""The fake GitHub's REST routes: the few endpoints the connector reads, paged like GitHub."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.fakes.github import payloads
from tests.fakes.github.org import FakeRepo

if TYPE_CHECKING:
    from tests.fakes.github.server import FakeGitHub

# GitHub: "This endpoint will return up to 1,000 results for each search when using the following
# parameters: actor, branch, check_suite_id, created, event, head_sha, status."
FILTERED_RUNS_CAP = 1000


class RestApi:
    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake

    def template(self, path: str) -> str:
        from tests.fakes.github.server import ROUTES, TEMPLATES

        for pattern, name in ROUTES:
            if pattern.match(path):
                return TEMPLATES[name]
        return path

    def get(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        from tests.fakes.github.server import ROUTES

        for pattern, name in ROUTES:
            match = pattern.match(path)
            if match:
                with self.fake.lock:
                    return getattr(self, name)(path, query, **match.groupdict())  # type: ignore[no-any-return]
        return 404, payloads.NOT_FOUND, {}

    @property
    def api(self) -> str:
        return self.fake.base_url

    def _repo(self, owner: str, name: str) -> FakeRepo | None:
        return self.fake.org.repos.get(name) if owner == self.fake.org.login else None

    def _page(
        self, path: str, query: dict[str, str], items: list[Any]
    ) -> tuple[list[Any], dict[str, str]]:
        from tests.fakes.github.server import link_header

        per_page = min(int(query.get("per_page", 30)), 100)
        page = max(1, int(query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        headers = {}
        link = link_header(
            self.api, path, {k: v for k, v in query.items() if k != "page"}, page, last
        )
        if link:
            headers["Link"] = link
        return items[(page - 1) * per_page : page * per_page], headers

    def org_repos(
        self, path: str, query: dict[str, str], org: str
    ) -> tuple[int, Any, dict[str, str]]:
        if org != self.fake.org.login:
            return 404, payloads.NOT_FOUND, {}
        repos = [payloads.repository(r, self.api) for r in self.fake.org.repos.values()]
        items, headers = self._page(path, query, repos)
        return 200, items, headers

    def repo(
        self, path: str, query: dict[str, str], owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(owner, repo)
        if found is None:
            return 404, payloads.NOT_FOUND, {}
        return 200, payloads.repository(found, self.api), {}

    def events(
        self, path: str, query: dict[str, str], owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(owner, repo)
        if found is None:
            return 404, payloads.NOT_FOUND, {}
        events = [payloads.event(found, i, self.api) for i in reversed(range(len(found.events)))]
        items, headers = self._page(path, query, events[:300])  # GitHub keeps 300 events
        return 200, items, headers

    def runs(
        self, path: str, query: dict[str, str], owner: str, repo: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(owner, repo)
        if found is None:
            return 404, payloads.NOT_FOUND, {}
        runs = sorted(found.runs, key=lambda r: (r.created_at, r.id), reverse=True)
        filtered = False
        if "created" in query:
            filtered = True
            runs = [r for r in runs if _created_matches(r.created_at, query["created"])]
        for key in ("branch", "event", "status", "head_sha"):
            if key in query:
                filtered = True
                runs = [
                    r
                    for r in runs
                    if getattr(r, "head_branch" if key == "branch" else key) == query[key]
                    or (key == "status" and r.conclusion == query[key])
                ]
        total = len(runs)
        if filtered:
            runs = runs[:FILTERED_RUNS_CAP]
        items, headers = self._page(
            path, query, [payloads.workflow_run(found, r, self.api) for r in runs]
        )
        return 200, {"total_count": total, "workflow_runs": items}, headers

    def compare(
        self, path: str, query: dict[str, str], owner: str, repo: str, base: str, head: str
    ) -> tuple[int, Any, dict[str, str]]:
        found = self._repo(owner, repo)
        if found is None or base not in found.commits or head not in found.commits:
            return 404, payloads.NOT_FOUND, {}
        return 200, payloads.compare(found, base, head, self.api), {}

    def rate_limit(self, path: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        resources = {
            name: {
                "limit": 5000,
                "remaining": b.remaining,
                "reset": b.reset,
                "used": 5000 - b.remaining,
            }
            for name, b in self.fake.budgets.items()
        }
        return 200, {"resources": resources, "rate": resources["core"]}, {}


def _created_matches(at: datetime, spec: str) -> bool:
    """GitHub's search date syntax: ``>=2025-01-01T00:00:00Z`` or ``A..B``."""

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text)

    if spec.startswith(">="):
        return at >= parse(spec[2:])
    if spec.startswith(">"):
        return at > parse(spec[1:])
    if ".." in spec:
        low, high = spec.split("..")
        return (low == "*" or at >= parse(low)) and (high == "*" or at <= parse(high))
    return at.date().isoformat() == spec
