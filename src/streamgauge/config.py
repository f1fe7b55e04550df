"""Settings: a YAML file overlaid by STREAMGAUGE_* env vars and command-line overrides."""

from __future__ import annotations

import functools
import operator
import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "STREAMGAUGE_"
DEFAULT_PORT = 9464

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_INTERVAL = timedelta(seconds=10)


def parse_duration(value: Any) -> timedelta:
    """``"90d"``, ``"5m"``, ``"1h"``, seconds as a number, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise ValueError(
        f"{value!r} is not a duration: write a whole number and a unit s, m, h, d or w, e.g. '30d'"
    )


def format_duration(value: timedelta) -> str:
    """The shortest exact label for a duration: 604800 s -> '7d', 90 min -> '90m'."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(f"must be longer than zero, e.g. '30d' (got {format_duration(value)})")
    return value


def _interval(value: timedelta) -> timedelta:
    # a source synced more often than this spends its rate limit on nothing new
    if value < MIN_INTERVAL:
        raise ValueError(
            f"must be at least {format_duration(MIN_INTERVAL)}, e.g. '5m' "
            f"(got {format_duration(value)})"
        )
    return value


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
# A span that must not be empty: a window, a rule's bound.
Span = Annotated[Duration, AfterValidator(_positive)]
# How often a source is synced.
Interval = Annotated[Duration, AfterValidator(_interval)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class Strict(BaseModel):
    """Config sections refuse unknown keys, so a typo is an error and not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(Strict):
    """What every source has; each connector type extends it with its own keys."""

    name: Name
    type: str
    enabled: bool = True
    interval: Interval = timedelta(minutes=5)
    team: str | None = None  # default team for records no mapping rule places
    app: str | None = None  # default app for records no mapping rule places


class StoreConfig(Strict):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty means an SQLite file in the data directory",
    )


class ServerConfig(Strict):
    host: str = "0.0.0.0"  # noqa: S104 - the container's port must be reachable from outside it
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    threads: int = Field(default=8, ge=1, le=64)
    # the store is checked this often for records or syncs written by another process (a
    # `streamgauge sync` by hand, a second replica): two index lookups, then a recompute if moved
    store_check_interval: Span = timedelta(seconds=10)
    # a source whose syncs have all failed for this long makes /readyz answer 503, naming it
    source_failing_after: Span = timedelta(minutes=30)
    # the snapshot is recomputed this often even when no sync changed anything, so work-item
    # ages, flow load and rolling windows move with time
    recompute_interval: Interval = timedelta(minutes=1)


class TeamConfig(Strict):
    apps: list[str] = []
    repos: list[str] = []
    projects: list[str] = []


class AppConfig(Strict):
    repos: list[str] = []
    projects: list[str] = []
    components: list[str] = []
    labels: list[str] = []


class LabelConfig(Strict):
    """Bounded label values: what is not allowed folds into ``other``."""

    teams: list[str] | None = None  # None: the teams named under `teams`
    apps: list[str] | None = None  # None: the apps named under `apps` and `teams.*.apps`
    max_values: int = Field(default=50, ge=1, le=1000)


class MetricRules(Strict):
    """Rules that change how numbers are computed; docs/metrics.md says what each does."""

    incident_window: Span = timedelta(hours=24)
    recovery: Literal["first_restoration", "incident_resolved", "next_success"] = (
        "first_restoration"
    )
    max_lead_time: Span = timedelta(days=180)
    levels_table: str = "dora-2024"
    sle_age: Span = timedelta(days=10)  # service-level expectation of flow time and age
    sle_percentile: float = Field(default=0.85, gt=0, le=1)  # share expected within sle_age
    stage_labels: int = Field(default=20, ge=1, le=100)  # stage names kept; the rest -> other

    @field_validator("levels_table")
    @classmethod
    def _known_table(cls, value: str) -> str:
        tables = Path(__file__).parent / "metrics" / "tables"
        known = sorted(p.stem for p in tables.glob("*.json"))
        if value not in known:
            raise ValueError(f"{value!r} is not a benchmark table; known: {', '.join(known)}")
        return value


class Settings(BaseSettings):
    """The whole configuration. Built by :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    store: StoreConfig = StoreConfig()
    server: ServerConfig = ServerConfig()
    windows: list[Span] = [timedelta(days=7), timedelta(days=30), timedelta(days=90)]
    teams: dict[Name, TeamConfig] = {}
    apps: dict[Name, AppConfig] = {}
    labels: LabelConfig = LabelConfig()
    metrics: MetricRules = MetricRules()
    sources: Sequence[SourceConfig] = []

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[timedelta]) -> list[timedelta]:
        if not value:
            raise ValueError("at least one window is needed, e.g. ['7d', '30d']")
        if len({format_duration(v) for v in value}) != len(value):
            raise ValueError("windows repeat a value")
        return sorted(value)

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        seen: set[str] = set()
        for source in self.sources:
            if source.name in seen:
                raise ValueError(f"sources: two sources are named {source.name!r}")
            seen.add(source.name)
        return self

    @property
    def store_url(self) -> str:
        if self.store.url:
            return self.store.url
        return f"sqlite:///{self.data_dir / 'streamgauge.db'}"

    @property
    def window_labels(self) -> list[str]:
        return [format_duration(w) for w in self.windows]

    def team_of_app(self, app: str) -> str | None:
        for team, conf in self.teams.items():
            if app in conf.apps:
                return team
        return None

    def resolve(
        self,
        *,
        repo: str | None = None,
        project: str | None = None,
        components: Sequence[str] = (),
        labels: Sequence[str] = (),
        default_team: str | None = None,
        default_app: str | None = None,
    ) -> tuple[str | None, str | None]:
        """(team, app) of a record from the mapping rules; explicit rules beat source defaults."""
        app = default_app
        for name, conf in self.apps.items():
            if (
                (repo is not None and repo in conf.repos)
                or (project is not None and project in conf.projects)
                or any(c in conf.components for c in components)
                or any(label in conf.labels for label in labels)
            ):
                app = name
                break
        team = self.team_of_app(app) if app else None
        if team is None:
            for name, tconf in self.teams.items():
                if (repo is not None and repo in tconf.repos) or (
                    project is not None and project in tconf.projects
                ):
                    team = name
                    break
        return team or default_team, app


# --- loading ---------------------------------------------------------------------------------


class ConfigError(Exception):
    """Configuration problems, each a line naming the key and how to fix it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


_REF = re.compile(r"\$\{([^}]+)\}")


def _interpolate(value: Any, path: str, problems: list[str]) -> Any:
    """Expand ``${VAR}`` from the environment and ``${file:/path}`` from a mounted file."""
    if isinstance(value, dict):
        return {
            k: _interpolate(v, f"{path}.{k}" if path else str(k), problems)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_interpolate(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def expand(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("file:"):
            file = Path(ref[5:])
            try:
                return file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"{path}: cannot read the file it names ({exc.strerror})")
                return ""
        if ref not in os.environ:
            problems.append(
                f"{path}: environment variable {ref} is not set; export it or write the value"
            )
            return ""
        return os.environ[ref]

    return _REF.sub(expand, value)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config: file {path} does not exist; give an existing file"]) from None
    except OSError as exc:
        raise ConfigError([f"config: cannot read {path}: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError([f"config: {path}{where}: {problem}; fix the YAML syntax"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"config: {path} must hold a mapping of keys at its top level"])
    problems: list[str] = []
    expanded: dict[str, Any] = _interpolate(data, "", problems)
    if problems:
        raise ConfigError(problems)
    return expanded


class _Dict(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


def _settings_class(
    source_models: Mapping[str, type[SourceConfig]], yaml_data: dict[str, Any]
) -> type[Settings]:
    models = tuple(source_models.values())
    source_type: Any = (
        models[0]
        if len(models) == 1
        else Annotated[functools.reduce(operator.or_, models), Field(discriminator="type")]
    )

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # First wins: command-line overrides, then env, then the YAML file.
            return init_settings, env_settings, _Dict(settings_cls, yaml_data)

    loaded: type[Settings] = create_model(
        "Settings",
        __base__=_Loaded,
        sources=(list[source_type], Field(default_factory=list)),
    )
    return loaded


_HINTS = {
    "missing": "add it",
    "extra_forbidden": "remove it or check its spelling",
    "union_tag_invalid": "use one of the registered source types",
    "union_tag_not_found": "give the source a `type`",
    "literal_error": "use one of the values listed",
    "string_pattern_mismatch": "use lower-case letters, digits, '-' and '_'",
}


def _key_path(loc: Sequence[int | str], source_types: Sequence[str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in source_types and out.startswith("sources["):
            continue  # pydantic puts the union tag in the path; the index already says which
        else:
            out += f".{part}" if out else str(part)
    return out or "config"


def explain(error: ValidationError, source_types: Sequence[str]) -> list[str]:
    problems = []
    for err in error.errors(include_url=False, include_input=False):
        key = _key_path(err["loc"], source_types)
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        hint = _HINTS.get(err["type"])
        if err["type"] == "union_tag_invalid":
            hint = f"use one of: {', '.join(source_types)}"
        problems.append(f"{key}: {message}" + (f"; {hint}" if hint else ""))
    return problems


def load_settings(
    path: Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    source_models: Mapping[str, type[SourceConfig]] | None = None,
) -> Settings:
    """Read the YAML file (``path`` or $STREAMGAUGE_CONFIG), then env, then ``overrides``.

    Raises :class:`ConfigError` listing every problem; never a traceback for bad input.
    """
    if source_models is None:
        from streamgauge.connectors.registry import config_models

        source_models = config_models()
    if path is None and os.environ.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(os.environ[f"{ENV_PREFIX}CONFIG"])
    yaml_data = read_yaml(path) if path is not None else {}
    cls = _settings_class(source_models, yaml_data)
    try:
        return cls(**dict(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(explain(exc, list(source_models))) from None
