"""The value-stream map page in a real headless Chromium, served by `serve` on the demo.

Each page is checked as a person meets it: it loads with no console error, every number on it
is the snapshot's (each number's element names its sample: family, labels and value, and its
text is that value formatted), the stages stand in the stream's order, and axe-core finds no
WCAG 2 AA violation (contrast included). Screenshots at 1280 and 390 pixels wide are written to
``build/screenshots/``.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page
from tests.browser import SCREENSHOTS, axe_violations, chromium
from tests.exposition.map_example import example
from tests.exposition.test_site import Served
from tests.test_replicas_serve import Replica, stop, wait_ready

from streamgauge.cli import embedded_demo_config

pytestmark = pytest.mark.slow

WIDTHS = (1280, 390)
PAGES = ("/", "/streams/payments/payments-api?window=7d")
ORDER = "streamgauge_value_stream_stage_order"

Key = tuple[str, tuple[tuple[str, str], ...]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    folder = tmp_path_factory.mktemp("map")
    config = yaml.safe_load(embedded_demo_config().read_text())
    config["data_dir"] = str(folder / "data")
    config["log_level"] = "WARNING"
    path = folder / "streamgauge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    serve = Replica.start("serve", path, folder)
    try:
        wait_ready([serve], within=180)
        yield serve
    finally:
        stop([serve])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


def snapshot(serve: Replica) -> tuple[str, dict[Key, float]]:
    """The served snapshot's ETag and samples."""
    with urllib.request.urlopen(f"http://127.0.0.1:{serve.port}/api/v1/snapshot") as resp:
        tag = resp.headers["ETag"]
        body = json.load(resp)
    samples = {
        (s["name"], tuple(sorted(s["labels"].items()))): float(s["value"]) for s in body["samples"]
    }
    return tag, samples


def same_snapshot(page: Page, serve: Replica) -> tuple[str, dict[Key, float]]:
    """The snapshot the page was rendered from: the demo recomputes every minute, so the page
    is loaded again until it and the JSON answer come from one snapshot."""
    for _ in range(5):
        tag, samples = snapshot(serve)
        if page.evaluate("document.body.dataset.etag") == tag:
            return tag, samples
        page.reload()
    raise AssertionError("the page and /api/v1/snapshot never showed the same snapshot")


def shown(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.eval_on_selector_all(
        "[data-metric]",
        """els => els.map(e => ({metric: e.dataset.metric, labels: JSON.parse(e.dataset.labels),
                                 value: e.dataset.value, text: e.textContent.trim()}))""",
    )
    return found


def load(browser: Browser, serve: Replica, path: str, width: int) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    answer = page.goto(f"http://127.0.0.1:{serve.port}{path}")
    assert answer is not None, path
    assert answer.status == 200, path
    return page, problems


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES)
def test_every_number_is_the_snapshots_and_the_page_is_accessible(
    browser: Browser, demo: Replica, path: str, width: int
) -> None:
    page, problems = load(browser, demo, path, width)
    stamp, samples = same_snapshot(page, demo)
    numbers = shown(page)
    assert len(numbers) >= 20, "the page shows the map, DORA and flow numbers"
    wrong = []
    for number in numbers:
        key = (number["metric"], tuple(sorted(number["labels"].items())))
        if key not in samples or float(number["value"]) != samples[key]:
            wrong.append((number, samples.get(key)))
    assert wrong == [], f"numbers not the snapshot's ({stamp}): {wrong[:5]}"
    assert all(n["text"] for n in numbers)
    # the demo has a bottleneck and forecasts (it configures backlogs): the page shows both
    assert page.locator("g.bottleneck[data-stage]").count() == 1
    families = {n["metric"] for n in numbers}
    assert {"streamgauge_forecast_items", "streamgauge_forecast_done_seconds"} <= families
    # nothing wider than the window: only the map's own box scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert axe_violations(page) == []
    assert problems == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = "map" if path == "/" else path.strip("/").split("?")[0].replace("/", "-")
    shot = SCREENSHOTS / f"{name}-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.close()


def test_the_stages_stand_in_stream_order(browser: Browser, demo: Replica) -> None:
    page, _ = load(browser, demo, "/streams/payments/payments-api?window=30d", 1280)
    _, samples = same_snapshot(page, demo)
    order = {
        dict(labels)["stage"]: value
        for (name, labels), value in samples.items()
        if name == ORDER
        and dict(labels)["team"] == "payments"
        and dict(labels)["app"] == "payments-api"
    }
    stages = page.eval_on_selector_all("[data-stage]", "els => els.map(e => e.dataset.stage)")
    assert len(stages) >= 5  # tracker stages, then coding, pickup, code review, deploy
    assert stages == sorted(stages, key=lambda s: order[s])
    assert stages[-4:] == ["coding", "pickup", "code_review", "deploy"]
    page.close()


def test_links_choose_team_app_and_window(browser: Browser, demo: Replica) -> None:
    page, problems = load(browser, demo, "/", 1280)
    page.click("a[href*='/streams/checkout/']")
    assert "/streams/checkout/" in page.url
    page.click("a[href*='window=90d']")
    assert "window=90d" in page.url
    assert page.locator("[data-metric]").count() > 0
    assert problems == []
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_bottleneck_and_forecasts_are_accessible_too(browser: Browser, width: int) -> None:
    # a hand-made snapshot with both, its numbers known (tests/exposition/map_example.py)
    served = Served(example())
    try:
        page = browser.new_page(viewport={"width": width, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        answer = page.goto(f"http://127.0.0.1:{served.port}/streams/pay/api")
        assert answer is not None
        assert answer.status == 200
        assert page.locator("g.bottleneck[data-stage='triage']").count() == 1
        assert "Bottleneck: triage" in page.locator(".evidence").inner_text()
        assert page.locator("#fc-h").inner_text() == "Forecasts of pay"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert axe_violations(page) == []
        assert problems == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"example-bottleneck-{width}.png"), full_page=True)
        page.close()
    finally:
        served.stop()
