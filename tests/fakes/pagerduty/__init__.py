"""A fake PagerDuty REST API v2 on loopback: services, incidents, paging, faults."""

from tests.fakes.pagerduty.account import FakeAccount, FakeIncident, generate_account
from tests.fakes.pagerduty.server import TOKEN, FakePagerDuty, Fault

__all__ = ["TOKEN", "FakeAccount", "FakeIncident", "FakePagerDuty", "Fault", "generate_account"]
