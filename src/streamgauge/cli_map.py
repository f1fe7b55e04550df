"""`streamgauge map`: the value-stream map of one stream and window, from the stored snapshot,
written to a file to paste into a report: the SVG alone (``.svg``) or the whole page
(``.html``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from streamgauge.config import Settings

SUFFIXES = (".svg", ".html")


def add_map_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``map`` on the CLI's subcommands."""
    parser = commands.add_parser(
        "map",
        parents=[common],
        help="write the value-stream map of a team's app and window to an .svg or .html file",
    )
    parser.add_argument("--team", help="the stream's team (default: the page's first stream)")
    parser.add_argument("--app", help="the stream's app, or all (default: as --team's first)")
    parser.add_argument("--window", help="window, e.g. 30d (default 30d, else the first)")
    parser.add_argument("--out", type=Path, required=True, help="map.svg or map.html")


def write_map(settings: Settings, args: argparse.Namespace) -> int:
    from streamgauge.cli import EXIT_FAILED, UsageError, _window
    from streamgauge.exposition.page import stream_page
    from streamgauge.exposition.page_svg import map_svg
    from streamgauge.exposition.site import default_window, etag, teams_of
    from streamgauge.exposition.stream_view import SnapshotIndex, stream_view
    from streamgauge.store import Store

    out: Path = args.out
    if out.suffix.lower() not in SUFFIXES:
        raise UsageError(f"--out {out} must end in .svg (the map alone) or .html (the whole page)")
    window = _window(settings, args.window) or default_window(settings.window_labels)
    with Store.open(settings.store_url) as store:
        snapshot = store.latest_snapshot()
    if snapshot is None:
        print(
            "streamgauge map: no snapshot is stored yet; run `streamgauge sync` (or serve) first",
            file=sys.stderr,
        )
        return EXIT_FAILED
    index = SnapshotIndex(snapshot)
    streams = index.streams(teams_of(settings))
    if not streams:
        print("streamgauge map: the stored snapshot has no value stream yet", file=sys.stderr)
        return EXIT_FAILED
    team, app = _chosen(streams, args.team, args.app, UsageError)
    view = stream_view(index, team, app, window)
    if out.suffix.lower() == ".svg":
        text = map_svg(view, standalone=True)
    else:
        text = stream_page(view, streams, settings.window_labels, etag(snapshot))
    out.write_text(text, encoding="utf-8")
    print(f"wrote the map of {team} / {app}, window {window}, to {out}")
    return 0


def _chosen(
    streams: list[tuple[str, str]],
    team: str | None,
    app: str | None,
    error: type[Exception],
) -> tuple[str, str]:
    """The stream ``--team`` and ``--app`` name; either left out takes the first that fits."""
    fitting = [(t, a) for t, a in streams if team in (None, t) and app in (None, a)]
    if fitting:
        return fitting[0]
    known = ", ".join(f"{t}/{a}" for t, a in streams)
    asked = f"--team {team}" if team is not None else ""
    asked += f"{' ' if asked else ''}--app {app}" if app is not None else ""
    raise error(f"{asked} names no value stream in the stored snapshot; streams: {known}")
