"""A fake GitHub (REST and GraphQL) on loopback, holding an organisation built from a seed."""

from tests.fakes.github.org import FakeOrg, FakeRepo, generate_org
from tests.fakes.github.server import TOKEN, FakeGitHub, Fault, serve

__all__ = ["TOKEN", "FakeGitHub", "FakeOrg", "FakeRepo", "Fault", "generate_org", "serve"]
