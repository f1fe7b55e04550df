"""A fake Jira (Cloud or Data Center) on loopback with generated projects and injectable faults."""

from tests.fakes.jira.project import FakeIssue, FakeProjectData, generate_project
from tests.fakes.jira.server import FakeJira

__all__ = ["FakeIssue", "FakeJira", "FakeProjectData", "generate_project"]
