"""The README documents the record form and the metrics that really exist."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from streamgauge.metrics.catalog import COMPUTED, HEALTH
from streamgauge.model import KINDS

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _kind_row(kind: str) -> str:
    match = re.search(rf"^\| `{kind}` \|(.*)\|$", README, flags=re.MULTILINE)
    assert match, f"the README's record table has no row for {kind}"
    return match.group(1)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_field_of_every_kind_is_documented(kind: str) -> None:
    row = _kind_row(kind)
    documented = set(re.findall(r"`([a-z_]+)`", row))
    common = {"id", "source", "team", "app"}
    fields = {f.name for f in dataclasses.fields(KINDS[kind])} - common
    assert fields - documented == set(), "fields missing from the README"
    assert documented - fields == set(), "the README names fields that do not exist"
    required = set(re.findall(r"\*\*`([a-z_]+)`\*\*", row))
    assert required == {
        f.name
        for f in dataclasses.fields(KINDS[kind])
        if f.name not in common
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    }


@pytest.mark.parametrize("metric", [m.name for m in COMPUTED + HEALTH])
def test_every_metric_is_in_the_metric_table(metric: str) -> None:
    assert re.search(rf"^\| `{metric}(\{{|`)", README, flags=re.MULTILINE), metric


def _subcommands() -> list[str]:
    import argparse

    from streamgauge.cli import _parser

    (commands,) = (a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(commands.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_command_is_in_the_command_table(command: str) -> None:
    assert re.search(rf"^\| `streamgauge {command}[ `]", README, flags=re.MULTILINE), command
