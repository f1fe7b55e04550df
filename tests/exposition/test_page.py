"""The map page rendered from a hand-made snapshot (tests/exposition/map_example.py)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from tests.exposition.map_example import example

from streamgauge.exposition.page import stream_page
from streamgauge.exposition.page_svg import map_svg
from streamgauge.exposition.stream_view import SnapshotIndex, stream_view
from streamgauge.metrics.snapshot import Snapshot

VOID = {"meta", "link", "br", "img", "input", "hr", "polygon", "rect", "polyline"}


class Page(HTMLParser):
    """Every element with its attributes and own text, and whether the tags nest properly."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[dict[str, str]] = []
        self.texts: list[list[str]] = []
        self.open: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self.feed(text)
        self.close()
        if self.open:
            self.errors.append(f"never closed: {[t for t, _ in self.open]}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append({"tag": tag, **{k: v or "" for k, v in attrs}})
        self.texts.append([])
        if tag not in VOID:
            self.open.append((tag, len(self.elements) - 1))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append({"tag": tag, **{k: v or "" for k, v in attrs}})
        self.texts.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.open or self.open[-1][0] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1:]}")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for _, i in self.open:
            self.texts[i].append(data)

    def text(self, i: int) -> str:
        return "".join(self.texts[i]).strip()

    def numbers(self) -> list[tuple[str, dict[str, str], str, str]]:
        return [
            (e["data-metric"], json.loads(e["data-labels"]), e["data-value"], self.text(i))
            for i, e in enumerate(self.elements)
            if "data-metric" in e
        ]


def render(snapshot: Snapshot, team: str = "pay", app: str = "api", window: str = "30d") -> str:
    index = SnapshotIndex(snapshot)
    view = stream_view(index, team, app, window)
    return stream_page(view, index.streams({}), ["7d", "30d", "90d"], '"1"')


def shown(page: Page, metric: str, **labels: str) -> list[str]:
    return [text for m, lbl, _, text in page.numbers() if m == metric and lbl == labels]


def test_the_page_parses_and_every_number_names_its_sample_exactly() -> None:
    snapshot = example()
    page = Page(render(snapshot))
    assert page.errors == []
    samples = {(s.name, s.labels): s.value for s in snapshot.samples}
    numbers = page.numbers()
    assert len(numbers) > 30
    for metric, labels, value, text in numbers:
        key = (metric, tuple(sorted(labels.items())))
        assert key in samples, (metric, labels)
        assert value == repr(samples[key])  # the float exactly, as the snapshot has it
        assert text


def test_numbers_are_written_for_a_person() -> None:
    page = Page(render(example()))
    common = {"team": "pay", "app": "api", "window": "30d"}
    stage_time = "streamgauge_value_stream_stage_time_window_seconds"
    # triage waits 43200 s = 12h, build processes 14400 s = 4h, code review 1800 s = 30m
    assert "12h" in shown(page, stage_time, **common, stage="triage", part="wait")
    assert "4h" in shown(page, stage_time, **common, stage="build", part="process")
    assert "30m" in shown(page, stage_time, **common, stage="code_review", part="process")
    # build's %C&A 0.75 -> 75%; the rolled 0.27 -> 27%; activity ratio 0.43925 -> 44%
    ca = "streamgauge_value_stream_stage_complete_accurate_window_ratio"
    assert shown(page, ca, **common, stage="build") == ["75%"]
    # (the totals show above the map and at the ladder's end: twice, the same)
    rolled = "streamgauge_value_stream_complete_accurate_window_ratio"
    assert shown(page, rolled, **common) == ["27%", "27%"]
    assert shown(page, "streamgauge_value_stream_efficiency_window_ratio", **common) == [
        "44%",
        "44%",
    ]
    # lead time p50 100000 s = 27.8 h -> 28 h -> 1d 4h
    lead = "streamgauge_value_stream_lead_time_window_seconds"
    assert shown(page, lead, **common, percentile="50") == ["1d 4h", "1d 4h"]
    assert shown(page, "streamgauge_deployment_frequency_window_per_day", **common) == ["1.50/day"]
    level = "streamgauge_deployment_frequency_window_level"
    assert shown(page, level, **common, level="elite") == ["elite"]
    assert shown(page, level, **common, level="high") == []  # only the level reached shows


def test_the_stages_stand_in_stream_order_not_by_name() -> None:
    page = Page(render(example()))
    stages = [e["data-stage"] for e in page.elements if "data-stage" in e]
    assert stages == ["triage", "build", "coding", "pickup", "code_review", "deploy"]


def test_the_bottleneck_is_marked_with_its_evidence() -> None:
    html = render(example())
    page = Page(html)
    marked = [e["data-stage"] for e in page.elements if "bottleneck" in e.get("class", "")]
    assert marked == ["triage"]
    evidence = next(i for i, e in enumerate(page.elements) if e.get("class") == "evidence")
    text = page.text(evidence)
    # 43200 / 72000 = 60% of the wait; 7 items queue; trend +3
    assert "Bottleneck: triage" in text
    assert "holds 60% of the stream's wait" in text
    assert "7 items queue there now" in text
    assert "+3" in text


def test_forecasts_are_shown_when_present_and_nothing_when_absent() -> None:
    page = Page(render(example()))
    fc = {"team": "pay", "type": "all"}
    items = shown(page, "streamgauge_forecast_items", **fc, horizon="14d", confidence="0.85")
    assert items == ["12"]
    days = "streamgauge_forecast_done_seconds"
    assert shown(page, days, **fc, backlog="next", confidence="0.85") == ["9d 12h"]
    assert shown(page, "streamgauge_forecast_backlog_items", **fc, backlog="next") == ["30"]
    bare = render(example(extras=False))
    assert "Forecasts" not in bare
    assert 'class="evidence"' not in bare
    assert "BOTTLENECK" not in bare


def test_targets_use_the_apps_own_then_the_teams_and_say_met_or_missed() -> None:
    page = Page(render(example()))
    rows = {}
    for i, e in enumerate(page.elements):
        if e["tag"] == "tr":
            rows[page.text(i).split("\n")[0]] = page.text(i)
    # the app's own target (at least 1/day) replaces the team's (2/day): 1.5 meets it
    frequency = next(t for k, t in rows.items() if k.startswith("Deployment frequency"))
    assert "at least 1.00/day · met" in frequency
    assert "2.00/day" not in frequency
    # p85 lead time 3d against the team's at most 2d: missed
    p85 = next(t for k, t in rows.items() if k.startswith("Change lead time p85"))
    assert "at most 2d · missed" in p85
    html = render(example())
    # flow load 2 + 3 = 5 items against a WIP target of at most 4: missed
    assert 'WIP target: <span class="target">at most' in html
    wip = html.split("WIP target:")[1].split("</p>")[0]
    assert "missed" in wip
    # pickup waits 4h, within its 1d target
    assert "wait target ≤" in html


def test_a_team_name_is_escaped_everywhere() -> None:
    snapshot = Snapshot(computed_at=example().computed_at)
    from tests.exposition.map_example import stream

    stream(snapshot, team="<b>x&y</b>", app='a"b')
    html = render(snapshot, team="<b>x&y</b>", app='a"b')
    assert "<b>x" not in html
    assert "&lt;b&gt;x&amp;y&lt;/b&gt;" in html
    assert "/streams/%3Cb%3Ex%26y%3C%2Fb%3E/a%22b?window=30d" in html
    page = Page(html)
    assert page.errors == []
    labels = {tuple(sorted(lbl.items())) for _, lbl, _, _ in page.numbers()}
    assert any(("team", "<b>x&y</b>") in lb for lb in labels)


def test_the_svg_alone_is_well_formed_xml_with_the_same_stages() -> None:
    view = stream_view(SnapshotIndex(example()), "pay", "api", "30d")
    root = ET.fromstring(map_svg(view, standalone=True))  # noqa: S314 - our own output
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    stages = [e.get("data-stage") for e in root.iter() if e.get("data-stage")]
    assert stages == ["triage", "build", "coding", "pickup", "code_review", "deploy"]


def test_a_window_without_items_done_says_so() -> None:
    page = render(example(extras=False), window="7d")
    assert "No work item of this stream was done in this window" in page
    assert "data-stage" not in page
