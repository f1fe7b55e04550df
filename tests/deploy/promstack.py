"""Helpers for the deploy tests: the real prometheus and promtool, the rule and dashboard files."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
GRAFANA_DIR = ROOT / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
ALERTS_DOC = ROOT / "docs" / "alerts.md"


def binary(name: str) -> str:
    """The path of a Prometheus binary; a failure, not a skip: the test command installs them."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/test installs Debian's prometheus)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*.test.yml"))


def rules() -> Iterator[dict[str, Any]]:
    """Every rule of every rule file, with the group name added as ``_group``."""
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield {**rule, "_group": group["name"], "_file": path.name}


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    expr: str


def panel_queries() -> list[PanelQuery]:
    found = []
    for name, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                found.append(PanelQuery(name, panel["title"], target["expr"]))
    return found


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's template variables replaced by concrete values (``$x`` and ``${x}``)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", one, expr)


_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
_MODIFIER = re.compile(
    r"^\s*(?:bool\s+)?(?:(?:on|ignoring)\s*\([^)]*\)\s*)?(?:group_(?:left|right)\s*(?:\([^)]*\))?\s*)?"
)


def split_comparison(expr: str) -> tuple[str, str, str] | None:
    """``(left, operator, right)`` of the outermost comparison of ``expr``, or None.

    Brackets and quoted strings are skipped, so the ``=`` and ``!=`` of label matchers never
    count; the vector-matching modifiers after the operator (``on() group_left()``) are dropped
    from the right side, which leaves two expressions Prometheus can evaluate on their own.
    """
    depth = 0
    quote = ""
    i = 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            for op in _COMPARISONS:
                if expr.startswith(op, i):
                    right = _MODIFIER.sub("", expr[i + len(op) :], count=1)
                    return expr[:i].strip(), op, right.strip()
        i += 1
    return None


class Prometheus:
    """A real Prometheus on loopback, with its own storage folder, stopped by :meth:`stop`."""

    def __init__(self, config: Path, storage: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = storage.parent / f"prometheus-{self.port}.log"
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                *extra,
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("STREAMGAUGE_")},
        )

    def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"prometheus not ready within {within}s:\n{self.output()}")

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant query's result; raises with Prometheus's error for a bad expression."""
        params = {"query": expr}
        if at is not None:
            params["time"] = repr(at)
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/query", data=body)
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                answer = json.load(resp)
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{expr!r}: {err.read().decode()}") from err
        assert answer["status"] == "success", answer
        data = answer["data"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_file.close()
