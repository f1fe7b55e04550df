"""`streamgauge map`: the stored snapshot's map of one stream, written to .svg or .html."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.exposition.map_example import example

from streamgauge.cli import main
from streamgauge.store import Store

ORDER = ["triage", "build", "coding", "pickup", "code_review", "deploy"]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def config(tmp_path: Path, *, stored: bool = True) -> Path:
    path = tmp_path / "streamgauge.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'data'}\nwindows: [7d, 30d]\nteams:\n  pay: {{apps: [api]}}\n",
        encoding="utf-8",
    )
    (tmp_path / "data").mkdir()
    with Store.open(f"sqlite:///{tmp_path / 'data' / 'streamgauge.db'}") as store:
        if stored:
            store.save_snapshot(example())
    return path


def test_map_writes_the_svg_of_the_first_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "map.svg"
    assert main(["map", "--config", str(config(tmp_path)), "--out", str(out)]) == 0
    assert "wrote the map of pay / api, window 30d" in capsys.readouterr().out
    root = ET.fromstring(out.read_text(encoding="utf-8"))  # noqa: S314 - our own output
    assert [e.get("data-stage") for e in root.iter() if e.get("data-stage")] == ORDER
    numbers = [e for e in root.iter() if e.get("data-metric")]
    waits = [e.text for e in numbers if '"stage": "triage"' in (e.get("data-labels") or "")]
    assert "12h" in waits  # triage's 43200 s wait


def test_map_writes_the_whole_page_as_html(tmp_path: Path) -> None:
    out = tmp_path / "map.html"
    cfg = config(tmp_path)
    args = ["map", "--config", str(cfg), "--team", "pay", "--app", "all", "--window", "30d"]
    assert main([*args, "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "Value stream of pay / all" in page


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "map.png"], "must end in .svg (the map alone) or .html (the whole page)"),
        (["--team", "nope", "--out", "m.svg"], "--team nope names no value stream"),
        (["--window", "90d", "--out", "m.svg"], "--window 90d is not a configured window"),
    ],
)
def test_map_refuses_what_it_cannot_draw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["map", "--config", str(config(tmp_path)), *extra]) == 2
    assert message in capsys.readouterr().err


def test_map_without_a_stored_snapshot_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, stored=False)
    assert main(["map", "--config", str(cfg), "--out", str(tmp_path / "m.svg")]) == 1
    assert "no snapshot is stored yet; run `streamgauge sync`" in capsys.readouterr().err
