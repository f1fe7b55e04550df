"""A fake GitLab (REST v4 and GraphQL) on loopback, holding a group built by hand or from a seed."""

from tests.fakes.gitlab import payloads
from tests.fakes.gitlab.project import FakeGroup, FakeProject, generate_group
from tests.fakes.gitlab.server import TOKEN, FakeGitLab, Fault

__all__ = ["TOKEN", "FakeGitLab", "FakeGroup", "FakeProject", "Fault", "generate_group", "payloads"]
