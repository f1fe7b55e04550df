"""The demo source's settings and the simulated organisation they describe: teams, apps, people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from streamgauge.config import SourceConfig

ORG = "acme"  # the simulated GitHub organisation that owns every repository

_TEAM_WORDS = (
    "payments",
    "checkout",
    "search",
    "identity",
    "catalog",
    "shipping",
    "inventory",
    "billing",
    "messaging",
    "analytics",
    "pricing",
    "accounts",
    "reviews",
    "loyalty",
    "returns",
    "mobile",
    "platform",
    "reporting",
    "fraud",
    "onboarding",
)
_APP_SUFFIXES = ("api", "web", "worker", "gateway", "jobs", "admin")
_PEOPLE = (
    "amara",
    "bruno",
    "chen",
    "dana",
    "emeka",
    "freya",
    "goran",
    "hana",
    "ivan",
    "jun",
    "kofi",
    "lena",
    "mateo",
    "nia",
    "oskar",
    "priya",
    "quinn",
    "rosa",
    "sami",
    "tariq",
)
PEOPLE_PER_TEAM = 5
# The organisation follows the sun: team i works 08:00-19:00 in a time zone 8 * (i mod 3) hours
# west of UTC, so something happens at every hour of the day, not only during one office's.
TIME_ZONES = 3


class DemoConfig(SourceConfig):
    """A simulated toolchain, deterministic from ``seed``; every rate is a mean."""

    type: Literal["demo"]
    seed: int = 42
    days: int = Field(default=90, ge=1, le=3650, description="history before the first sync")
    start: datetime | None = Field(
        default=None, description="first day of the simulated world; default: `days` ago"
    )
    teams: int = Field(default=3, ge=1, le=500)
    apps_per_team: int = Field(default=2, ge=1, le=20)
    items_per_team_per_day: float = Field(default=3.0, ge=0, le=200)
    deployments_per_app_per_day: float = Field(default=2.0, ge=0, le=100)
    staging_deployments_per_app_per_day: float = Field(default=3.0, ge=0, le=100)
    deployment_failure_rate: float = Field(default=0.08, ge=0, le=1)
    incident_rate: float = Field(default=0.06, ge=0, le=1)  # per successful production deploy
    rollback_share: float = Field(default=0.5, ge=0, le=1)  # incidents fixed by a rollback
    explicit_incident_link_share: float = Field(default=0.5, ge=0, le=1)
    review_rework_rate: float = Field(default=0.3, ge=0, le=0.9)  # In Review -> In Progress
    testing_rework_rate: float = Field(default=0.15, ge=0, le=0.9)  # Testing -> In Progress
    cancel_rate: float = Field(default=0.06, ge=0, le=1)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("start needs a time zone, e.g. '2026-01-01T00:00:00Z'")
        return value


@dataclass(frozen=True, slots=True)
class App:
    name: str
    team: str
    repo: str
    shift: int  # seconds from UTC midnight to its team's local midnight


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    project: str  # the tracker project whose keys (PAY-123) its work items carry
    apps: tuple[App, ...]
    people: tuple[str, ...]
    shift: int  # seconds from UTC midnight to the team's local midnight


def team_names(count: int) -> list[str]:
    """Readable team names; past the word list they repeat with a number (payments2)."""
    names = []
    for i in range(count):
        word = _TEAM_WORDS[i % len(_TEAM_WORDS)]
        lap = i // len(_TEAM_WORDS)
        names.append(word if lap == 0 else f"{word}{lap + 1}")
    return names


def build_org(config: DemoConfig) -> list[Team]:
    """The simulated organisation: names depend only on the team and app counts."""
    teams = []
    for i, name in enumerate(team_names(config.teams)):
        shift = (i % TIME_ZONES) * 8 * 3600
        lap = i // len(_TEAM_WORDS)
        project = name[:3].upper() + (str(lap + 1) if lap else "")
        apps = []
        for j in range(config.apps_per_team):
            suffix = _APP_SUFFIXES[j % len(_APP_SUFFIXES)]
            if j >= len(_APP_SUFFIXES):
                suffix += str(j // len(_APP_SUFFIXES) + 1)
            app = f"{name}-{suffix}"
            apps.append(App(name=app, team=name, repo=f"{ORG}/{app}", shift=shift))
        people = tuple(
            f"{_PEOPLE[(i * PEOPLE_PER_TEAM + k) % len(_PEOPLE)]}.{name}"
            for k in range(PEOPLE_PER_TEAM)
        )
        teams.append(Team(name=name, project=project, apps=tuple(apps), people=people, shift=shift))
    return teams
