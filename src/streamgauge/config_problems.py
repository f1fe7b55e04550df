"""Configuration problems in the project's words, with cross-references checked and close names.

Pydantic's errors are restated as ``key.path: what is wrong; how to fix it``; the parts of a
configuration that point at each other (teams, apps, labels, sources) and at files are checked
after parsing; a misspelt key or STREAMGAUGE_* variable is answered with the closest known name.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

# Variables that configure the loading itself rather than a key of the settings.
LOADER_VARIABLES = frozenset({"CONFIG"})


def key_path(loc: Sequence[int | str], tags: Iterable[str] = ()) -> str:
    """``("sources", 1, "jira", "url")`` -> ``sources[1].url``: pydantic puts the union tag in the
    path, and the index already says which source it is; a bad mapping key is its own path."""
    tags = set(tags)
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif (part in tags and out.startswith("sources[")) or part == "[key]":
            continue  # "[key]": pydantic's mark of a mapping's key, which the path ends at
        else:
            out += f".{part}" if out else str(part)
    return out or "config"


def closest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'server'?``, or nothing when no known name is close."""
    match = closest(word, choices)
    return f"; did you mean {match!r}?" if match else ""


# --- walking the settings' types -------------------------------------------------------------


def _strip(annotation: Any) -> Any:
    """The type under ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _step(annotation: Any, part: int | str, source_models: Mapping[str, type[BaseModel]]) -> Any:
    """The type one step down ``part`` of the location, or None when it cannot be told."""
    annotation = _strip(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return field.annotation if field is not None else None
    if origin in (typing.Union, types.UnionType):
        return source_models.get(str(part))  # a source's type tag picks its model
    args = typing.get_args(annotation)
    if origin is dict or (origin is not None and origin.__name__ == "Mapping"):
        return args[1] if len(args) == 2 else None
    if origin is not None and args:
        return args[0]  # list, tuple, Sequence: every item has the same type
    return None


def keys_at(
    root: type[BaseModel],
    loc: Sequence[int | str],
    source_models: Mapping[str, type[BaseModel]],
) -> list[str]:
    """The keys the model at ``loc`` accepts (for a misspelt key: ``loc`` without the key)."""
    annotation: Any = root
    for part in loc:
        annotation = _step(annotation, part, source_models)
        if annotation is None:
            return []
    annotation = _strip(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def is_list(annotation: Any) -> bool:
    """Whether a field holds a list of plain values, which env vars may give comma-separated."""
    origin = typing.get_origin(_strip(annotation))
    return origin in (list, tuple, set, frozenset) or (
        origin is not None and origin.__name__ in ("Sequence", "Set")
    )


# --- pydantic's errors in our words ----------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _sentence(err: ErrorDetails, known: list[str], source_types: Sequence[str]) -> str:
    """What is wrong and how to fix it. Inputs are quoted only where they cannot be a secret."""
    kind, ctx = err["type"], err.get("ctx", {})
    got = err.get("input")
    if kind == "extra_forbidden":
        name = str(err["loc"][-1])
        hint = did_you_mean(name, known)
        if not hint:
            hint = f"; remove it (known here: {', '.join(known)})" if known else "; remove it"
        return f"unknown key{hint}"
    if kind == "union_tag_invalid":
        tag = ctx.get("tag", got)
        return (
            f"{str(tag)!r} is not a source type{did_you_mean(str(tag), source_types)}; "
            f"use one of: {', '.join(source_types)}"
        )
    if kind == "union_tag_not_found":
        return f"missing; give the source a type, one of: {', '.join(source_types)}"
    if kind == "missing":
        return "missing; add it"
    if kind in ("literal_error", "enum"):
        return f"{_shown(got)} is not allowed; use one of: {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if pattern.startswith("^[a-z0-9]"):
            return (
                f"{_shown(got)} is not a valid name; use lower-case letters, digits, '-' and '_', "
                "starting with a letter or digit"
            )
        return f"{_shown(got)} does not have the expected form ({pattern})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{_shown(got)} is not a whole number"
    if kind in ("float_parsing", "float_type"):
        return f"{_shown(got)} is not a number"
    if kind in ("bool_parsing", "bool_type"):
        return f"{_shown(got)} is not true or false"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)} (got {_shown(got)})"
    if kind in ("list_type", "tuple_type", "set_type"):
        return "must be a list, e.g. [a, b]"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return "must be a mapping of keys, e.g. {key: value}"
    if kind in ("string_type", "str_type"):
        return "must be text"
    message = err["msg"]
    return message.removeprefix("Value error, ")


def restate(
    error: ValidationError,
    root: type[BaseModel],
    source_models: Mapping[str, type[BaseModel]],
) -> list[str]:
    """Each of pydantic's errors as ``key.path: what is wrong; how to fix it``."""
    source_types = list(source_models)
    problems: list[str] = []
    for err in error.errors(include_url=False):
        loc = err["loc"]
        key = key_path(loc, source_types)
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            key += ".type"
        known = keys_at(root, loc[:-1], source_models) if err["type"] == "extra_forbidden" else []
        problem = f"{key}: {_sentence(err, known, source_types)}"
        if problem not in problems:
            problems.append(problem)
    return problems


# --- STREAMGAUGE_* variables -----------------------------------------------------------------


def env_warnings(
    root: type[BaseModel], prefix: str, environ: Mapping[str, str] | None = None
) -> list[str]:
    """A warning for each STREAMGAUGE_ variable that names no key, with the closest one.

    Only the first part is checked here: a misspelt nested key (STREAMGAUGE_SERVER__PROT) reaches
    the settings and is refused there as an unknown key.
    """
    environ = os.environ if environ is None else environ
    fields = list(root.model_fields)
    out = []
    for name in sorted(environ):
        if not name.upper().startswith(prefix):
            continue
        rest = name[len(prefix) :]
        head, _, tail = rest.partition("__")
        if rest.upper() in LOADER_VARIABLES or head.lower() in fields:
            continue
        match = closest(head.lower(), fields)
        hint = (
            f"; did you mean {prefix}{match.upper()}{'__' + tail if tail else ''}?"
            if match
            else f"; settings are {', '.join(prefix + f.upper() for f in fields)}"
        )
        out.append(f"{name}: not a setting, ignored{hint}")
    return out


# --- cross-references and files --------------------------------------------------------------


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def check_references(
    data: Mapping[str, Any], sources: Sequence[Mapping[str, Any] | None]
) -> tuple[list[str], list[str]]:
    """(problems, warnings) of a configuration's parts that point at each other or at files.

    ``data`` holds the teams, apps and labels sections as plain values; ``sources`` each
    source's keys once parsed (None for a source that did not parse), so a path is a Path.
    """
    problems: list[str] = []
    warnings: list[str] = []
    teams: Mapping[str, Any] = data.get("teams") or {}
    apps_section: Mapping[str, Any] = data.get("apps") or {}
    if not isinstance(teams, Mapping) or not isinstance(apps_section, Mapping):
        return problems, warnings
    owner: dict[str, str] = {}
    for team, conf in teams.items():
        for i, app in enumerate(
            _names((conf or {}).get("apps") if isinstance(conf, Mapping) else [])
        ):
            key = f"teams.{team}.apps[{i}]"
            if apps_section and app not in apps_section:
                problems.append(
                    f"{key}: app {app!r} is not declared under `apps`"
                    f"{did_you_mean(app, apps_section)}; declare it there or fix the name"
                )
            if app in owner and owner[app] != team:
                problems.append(
                    f"{key}: app {app!r} is already owned by team {owner[app]!r}; "
                    "an app belongs to one team, so list it under one of them"
                )
            owner.setdefault(app, team)
    known_apps = list(apps_section) + [a for a in owner if a not in apps_section]
    labels = data.get("labels") or {}
    if isinstance(labels, Mapping):
        for what, known, section in (("teams", list(teams), "teams"), ("apps", known_apps, "apps")):
            for i, name in enumerate(_names(labels.get(what))):
                if name not in known:
                    problems.append(
                        f"labels.{what}[{i}]: {name!r} is not one of the {section} configured"
                        f"{did_you_mean(name, known)}; name it under `{section}` or remove it"
                    )
    for i, source in enumerate(sources):
        if source is None:
            continue
        for key, value in source.items():
            where = f"sources[{i}].{key}"
            if key == "team" and value is not None and value not in teams:
                problems.append(_unknown(where, "team", str(value), list(teams)))
            elif key == "app" and value is not None and value not in known_apps:
                problems.append(_unknown(where, "app", str(value), known_apps))
            elif key.endswith(("_teams", "_apps")) and isinstance(value, Mapping):
                what, known = (
                    ("team", list(teams)) if key.endswith("_teams") else ("app", known_apps)
                )
                for target, name in value.items():
                    if str(name) not in known:
                        problems.append(_unknown(f"{where}.{target}", what, str(name), known))
            elif isinstance(value, Path):
                problem, warning = _file_problem(where, value)
                problems.extend(problem)
                warnings.extend(warning)
    return problems, warnings


def _unknown(key: str, what: str, name: str, known: list[str]) -> str:
    section = f"{what}s"
    return (
        f"{key}: {name!r} is not one of the {section} configured{did_you_mean(name, known)}; "
        f"name it under `{section}` or fix the name"
    )


def _file_problem(key: str, path: Path) -> tuple[list[str], list[str]]:
    if not path.exists():
        return [f"{key}: {path} does not exist; give an existing file or folder"], []
    try:
        empty = path.stat().st_size == 0 if path.is_file() else not any(path.iterdir())
    except OSError as exc:
        return [f"{key}: cannot read {path} ({exc.strerror})"], []
    if empty:
        kind = "file" if path.is_file() else "folder"
        return [], [f"{key}: the {kind} {path} is empty; nothing will be read from it yet"]
    return [], []


def duplicate_names(sources: Sequence[Any]) -> list[str]:
    """``sources[1].name: ...`` for each source whose name an earlier one already has."""
    problems = []
    first: dict[str, int] = {}
    for i, source in enumerate(sources):
        name = source.get("name") if isinstance(source, Mapping) else None
        if not isinstance(name, str):
            continue
        if name in first:
            problems.append(
                f"sources[{i}].name: {name!r} is already the name of sources[{first[name]}]; "
                "give each source its own name"
            )
        else:
            first[name] = i
    return problems
