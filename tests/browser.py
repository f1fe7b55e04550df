"""A real headless Chromium (Debian's package) driven by playwright, and axe-core to audit pages.

``scripts/test`` installs both: chromium with apt, axe-core with npm into ``.venv/npm``.
Neither missing piece is skipped: a test that needs them fails and says how to get them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / ".venv" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "build" / "screenshots"


@contextmanager
def chromium() -> Iterator[Browser]:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed (scripts/test installs Debian's chromium)")
    with sync_playwright() as driver:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start
        browser = driver.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds against WCAG 2 A and AA (contrast included) on the loaded page."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE.relative_to(ROOT)} (scripts/test installs it)")
    page.add_script_tag(path=str(AXE))
    found: dict[str, Any] = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})"
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["html"][:200] for n in v["nodes"][:5]]}
        for v in found["violations"]
    ]
