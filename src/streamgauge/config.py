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
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from streamgauge.config_forecast import ForecastConfig
from streamgauge.config_problems import (
    check_references,
    duplicate_names,
    env_warnings,
    is_list,
    restate,
)
from streamgauge.config_targets import Targets
from streamgauge.model import Severity

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

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        # The problem is told without quoting the URL: it may hold a password.
        if value:
            from streamgauge.store.engine import url_problem

            problem = url_problem(value)
            if problem is not None:
                raise ValueError(problem)
        return value


class ServerConfig(Strict):
    # this machine only, unless configured: the container and the Kubernetes manifests set
    # 0.0.0.0 themselves
    host: str = "127.0.0.1"
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
    # replicas on PostgreSQL: one computes, the others serve the snapshot it stored, and a
    # replica serving a snapshot older than this answers 503 on /readyz
    snapshot_max_age: Span = timedelta(minutes=5)
    # open connections served at once; past it new ones wait in the listen queue. Idle
    # keep-alive connections count too, so this is well above what scrapers and probes open.
    connection_limit: int = Field(default=1000, ge=10, le=10000)
    # a connection that sends nothing for this long is closed (a scraper reconnects)
    idle_timeout: Span = timedelta(seconds=60)
    # a request body larger than this is refused with 413; bodies of GET and HEAD are read
    # and dropped, never kept in memory or on disk
    max_request_body: int = Field(default=1 << 20, ge=1024, le=1 << 30)


class TeamConfig(Strict):
    apps: list[str] = []
    repos: list[str] = []
    projects: list[str] = []
    targets: Targets = []  # the team's future-state map (config_targets.py)


class AppConfig(Strict):
    repos: list[str] = []
    projects: list[str] = []
    components: list[str] = []
    labels: list[str] = []
    targets: Targets = []


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
    # the tracker stages first to last; stages not listed follow where items first reach them
    stage_order: list[str] = Field(default_factory=list)
    # incidents below it count for no failure, recovery or rework; unknown (the lowest): all
    incident_min_severity: Severity = Severity.UNKNOWN
    # a production deployment whose own job failed is a change failure only when true
    failed_attempts_are_failures: bool = False

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
    forecast: ForecastConfig = ForecastConfig()  # Monte Carlo forecasts (config_forecast.py)
    sources: Sequence[SourceConfig] = []

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[timedelta]) -> list[timedelta]:
        if not value:
            raise ValueError("at least one window is needed, e.g. ['7d', '30d']")
        if len({format_duration(v) for v in value}) != len(value):
            raise ValueError("windows repeat a value")
        return sorted(value)

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
                return match.group(0)  # kept, so the rest of the configuration is still checked
        if ref not in os.environ:
            problems.append(
                f"{path}: environment variable {ref} is not set; export it or write the value"
            )
            return match.group(0)
        return os.environ[ref]

    return _REF.sub(expand, value)


def read_yaml(path: Path, problems: list[str]) -> dict[str, Any]:
    """The file's keys with references expanded; a reference that cannot be is a problem."""
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
    expanded: dict[str, Any] = _interpolate(data, "", problems)
    return expanded


class _Env(EnvSettingsSource):
    """STREAMGAUGE_* variables; a list may also be written comma-separated (``7d,30d``)."""

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]
        except ValueError:
            if field is not None and isinstance(value, str) and is_list(field.annotation):
                return [part.strip() for part in value.split(",") if part.strip()]
            raise


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
            return init_settings, _Env(settings_cls), _Dict(settings_cls, yaml_data)

    loaded: type[Settings] = create_model(
        "Settings",
        __base__=_Loaded,
        sources=(list[source_type], Field(default_factory=list)),
    )
    return loaded


def load_settings(
    path: Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    source_models: Mapping[str, type[SourceConfig]] | None = None,
    warnings: list[str] | None = None,
) -> Settings:
    """Read the YAML file (``path`` or $STREAMGAUGE_CONFIG), then env, then ``overrides``.

    Raises :class:`ConfigError` listing every problem; never a traceback for bad input. What is
    suspicious but usable (an empty input file, an unknown STREAMGAUGE_ variable) is appended to
    ``warnings``.
    """
    if source_models is None:
        from streamgauge.connectors.registry import config_models

        source_models = config_models()
    if path is None and os.environ.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(os.environ[f"{ENV_PREFIX}CONFIG"])
    problems: list[str] = []
    yaml_data = read_yaml(path, problems) if path is not None else {}
    cls = _settings_class(source_models, yaml_data)
    found_warnings = env_warnings(cls, ENV_PREFIX)
    settings: Settings | None = None
    try:
        settings = cls(**dict(overrides or {}))
    except ValidationError as exc:
        # a key whose reference could not be expanded is reported once, for the reference
        said = {p.partition(": ")[0] for p in problems}
        problems += [
            p for p in restate(exc, cls, source_models) if p.partition(": ")[0] not in said
        ]
    except SettingsError as exc:
        problems.append(_env_problem(exc))
    problems += _cross_checks(settings, yaml_data, source_models, found_warnings)
    if warnings is not None:
        warnings.extend(found_warnings)
    if problems or settings is None:
        raise ConfigError(problems or ["config: the configuration could not be read"])
    return settings


def _cross_checks(
    settings: Settings | None,
    yaml_data: Mapping[str, Any],
    source_models: Mapping[str, type[SourceConfig]],
    warnings: list[str],
) -> list[str]:
    """The checks of parts that point at each other, on the parsed settings when they parsed,
    else on the file's keys, each source parsed alone: every problem is found in one run."""
    if settings is not None:
        data: Mapping[str, Any] = settings.model_dump(include={"teams", "apps", "labels"})
        raw_sources: Sequence[Any] = [s.model_dump() for s in settings.sources]
        sources: list[Mapping[str, Any] | None] = list(raw_sources)
    else:
        data = yaml_data
        listed = yaml_data.get("sources")
        raw_sources = listed if isinstance(listed, list) else []
        sources = [_parsed_alone(raw, source_models) for raw in raw_sources]
    problems, found = check_references(data, sources)
    warnings.extend(found)
    return duplicate_names(raw_sources) + problems


def _parsed_alone(
    raw: Any, source_models: Mapping[str, type[SourceConfig]]
) -> Mapping[str, Any] | None:
    model = source_models.get(raw.get("type", "")) if isinstance(raw, dict) else None
    if model is None:
        return None
    try:
        return model.model_validate(raw).model_dump()
    except ValidationError:
        return None  # its own problems are already listed


def _env_problem(exc: SettingsError) -> str:
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else "config"
    return (
        f"{field}: the value of {ENV_PREFIX}{field.upper()} is not valid JSON; write it as JSON, "
        'e.g. \'{"key": "value"}\' or \'["a", "b"]\', or a list as a,b'
    )
