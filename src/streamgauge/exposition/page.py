"""The value-stream map page: server-rendered HTML around the SVG map, with the DORA five and
flow beside it against their targets, the forecasts, and links that choose the stream and the
window. It reads without JavaScript; a small script only reloads it when a newer snapshot is
served (it asks ``HEAD /api/v1/snapshot`` for the snapshot's ETag)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from streamgauge.exposition.page_svg import map_svg
from streamgauge.exposition.stream_view import Figure, StreamView, met, number
from streamgauge.metrics.snapshot import Sample

POLL_SECONDS = 20

CSS = """
:root { color: #1b1b1b; background: #ffffff;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { margin: 0 auto; padding: 16px; max-width: 1900px; line-height: 1.4; }
h1 { font-size: 1.45rem; margin: 0 0 4px; }
h2 { font-size: 1.15rem; margin: 0 0 8px; }
h3 { font-size: 1rem; margin: 12px 0 6px; }
a { color: #1a4fa0; }
.meta { color: #474747; margin: 0 0 12px; }
nav ul { list-style: none; padding: 0; margin: 0 0 8px; display: flex; flex-wrap: wrap;
  gap: 4px 14px; }
nav .team { font-weight: 600; }
nav a { padding: 2px 4px; }
nav a[aria-current="page"] { background: #1a4fa0; color: #ffffff; border-radius: 4px;
  text-decoration: none; }
.scroll { overflow-x: auto; border: 1px solid #c7c7c7; border-radius: 6px; }
.scroll:focus { outline: 3px solid #1a4fa0; }
.scroll svg { display: block; }
.totals { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 0 0 10px; }
.totals dt { color: #474747; font-size: 0.9rem; }
.totals dd { margin: 0; font-size: 1.2rem; font-weight: 600; }
.hint { color: #474747; font-size: 0.9rem; margin: 6px 0; }
.evidence { border-left: 4px solid #a4161a; padding: 4px 10px; margin: 10px 0; }
.panels { display: grid; gap: 16px; margin-top: 16px; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 900px) {
  .panels { grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); } }
section.panel { border: 1px solid #c7c7c7; border-radius: 6px; padding: 12px; min-width: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #e2e2e2;
  vertical-align: top; }
caption { text-align: left; font-weight: 600; padding: 10px 0 4px; }
td.v, th.v { text-align: right; }
td.v { white-space: nowrap; }
.grid th, .grid td { padding: 4px 3px; font-size: 0.9rem; }
.level { border-radius: 4px; padding: 0 6px; font-size: 0.9rem; white-space: nowrap; }
.level-elite { background: #d9f2e3; color: #0f5132; }
.level-high { background: #e3f0ff; color: #0b3d91; }
.level-medium { background: #fff3cd; color: #5c4300; }
.level-low { background: #fdecea; color: #8c1d18; }
.missed { color: #a4161a; font-weight: 600; }
.target { color: #474747; font-size: 0.9rem; }
.bar { background: #e2e2e2; height: 10px; border-radius: 5px; min-width: 60px; }
.bar span { display: block; background: #2b4c7e; height: 10px; border-radius: 5px; }
footer { color: #474747; margin-top: 16px; font-size: 0.9rem; }
"""

SCRIPT = (
    "(function(){var shown=document.body.dataset.etag;"
    "setInterval(function(){fetch('/api/v1/snapshot',{method:'HEAD',cache:'no-store'})"
    ".then(function(r){var now=r.headers.get('ETag');"
    "if(r.ok&&now&&now!==shown){location.reload();}}).catch(function(){});},"
    f"{POLL_SECONDS * 1000});}})();"
)


def stream_href(team: str, app: str, window: str) -> str:
    return f"/streams/{quote(team, safe='')}/{quote(app, safe='')}?window={quote(window)}"


def _document(title: str, etag: str, body: str, *, poll: bool = True) -> str:
    script = f"<script>{SCRIPT}</script>" if poll else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="icon" href="data:,">'
        f"<style>{CSS}</style></head>"
        f'<body data-etag="{escape(etag)}">{body}{script}</body></html>'
    )


def stream_page(
    view: StreamView, streams: Sequence[tuple[str, str]], windows: Sequence[str], etag: str
) -> str:
    """The whole page of one stream and window."""
    at = view.computed_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    title = f"{view.team} / {view.app} · {view.window} · streamgauge"
    body = [
        f"<header><h1>Value stream of {escape(view.team)} / {escape(view.app)}</h1>",
        f'<p class="meta">Window {escape(view.window)} · snapshot computed at '
        f'<time datetime="{escape(at)}">{escape(at)}</time></p>',
        _stream_links(view, streams),
        _window_links(view, windows),
        "</header><main>",
        '<section aria-labelledby="map-h"><h2 id="map-h">Value-stream map</h2>',
        _totals(view),
        '<div class="scroll" tabindex="0" role="region" aria-label="Value-stream map '
        '(scrolls sideways)">',
        map_svg(view),
        "</div>",
        '<p class="hint">Stages run left to right in stream order; a long stream scrolls '
        "sideways. Under the boxes, the lead-time ladder: wait above, process below.</p>",
        _evidence(view),
        "</section>",
        '<div class="panels">',
        _figures_panel("dora-h", "DORA", view.dora, level_column=True),
        _flow_panel(view),
        _forecast_panel(view),
        "</div></main>",
        '<footer>The same numbers as JSON: <a href="/api/v1/snapshot">/api/v1/snapshot</a>'
        ' · Prometheus: <a href="/metrics">/metrics</a></footer>',
    ]
    return _document(title, etag, "".join(body))


def message_page(
    title: str, text: str, links: Sequence[tuple[str, str]] = (), *, poll: bool = False
) -> str:
    """A page that says why there is no map here (unknown stream, no snapshot yet...);
    ``poll`` reloads it once a snapshot is served."""
    items = "".join(f'<li><a href="{escape(h)}">{escape(t)}</a></li>' for h, t in links)
    listed = f'<nav aria-label="Streams"><ul>{items}</ul></nav>' if items else ""
    body = f"<main><h1>{escape(title)}</h1><p>{escape(text)}</p>{listed}</main>"
    return _document(f"{title} · streamgauge", "", body, poll=poll)


def _stream_links(view: StreamView, streams: Sequence[tuple[str, str]]) -> str:
    by_team: dict[str, list[str]] = defaultdict(list)
    for team, app in streams:
        by_team[team].append(app)
    rows = []
    for team, apps in by_team.items():
        links = []
        for app in apps:
            here = ' aria-current="page"' if (team, app) == (view.team, view.app) else ""
            text = "all apps" if app == "all" else app
            href = stream_href(team, app, view.window)
            links.append(f'<li><a href="{escape(href)}"{here}>{escape(text)}</a></li>')
        name = "organisation" if team == "all" else team
        rows.append(f'<li><span class="team">{escape(name)}</span><ul>{"".join(links)}</ul></li>')
    return f'<nav aria-label="Streams"><ul class="teams">{"".join(rows)}</ul></nav>'


def _window_links(view: StreamView, windows: Sequence[str]) -> str:
    links = []
    for window in windows:
        here = ' aria-current="page"' if window == view.window else ""
        href = stream_href(view.team, view.app, window)
        links.append(f'<li><a href="{escape(href)}"{here}>{escape(window)}</a></li>')
    return f'<nav aria-label="Window"><ul><li>Window:</li>{"".join(links)}</ul></nav>'


def _totals(view: StreamView) -> str:
    """The stream's totals, as the ladder ends with them, where they show without scrolling."""
    items = []
    for sample in view.lead:
        p = dict(sample.labels).get("percentile", "")
        items.append((f"Stream lead time p{p}", number(sample)))
    if view.efficiency is not None:
        items.append(("Activity ratio", number(view.efficiency)))
    if view.rolled is not None:
        text = number(view.rolled.sample)
        if view.rolled.targets:
            text += " " + _target_cell(view.rolled.targets, view.rolled.sample.value)
        items.append(("Rolled %C&amp;A", text))
    if not items:
        return ""
    cells = "".join(f"<div><dt>{t}</dt><dd>{v}</dd></div>" for t, v in items)
    return f'<dl class="totals">{cells}</dl>'


def _evidence(view: StreamView) -> str:
    """The bottleneck and the evidence for it, when the snapshot names one."""
    stage = view.bottleneck
    if stage is None or stage.bottleneck is None:
        return ""
    parts = [
        f"<strong>Bottleneck: {number(stage.bottleneck, text=stage.name)}</strong>",
    ]
    if stage.wait_share is not None:
        parts.append(f"holds {number(stage.wait_share)} of the stream's wait")
    if stage.wait is not None:
        parts.append(f"items wait {number(stage.wait)} on average before it")
    if stage.queue is not None:
        parts.append(f"{number(stage.queue)} items queue there now")
    if stage.trend is not None:
        parts.append(f"queue trend {number(stage.trend)} items over {escape(view.window)}")
    return f'<p class="evidence">{"; ".join(parts)}.</p>'


def _target_cell(targets: Sequence[Sample], value: float | None) -> str:
    cells = []
    for target in targets:
        bound = "at least" if dict(target.labels).get("bound") == "min" else "at most"
        text = f"{bound} {number(target)}"
        if value is not None:
            ok = met(target, value)
            text += " · met" if ok else ' · <span class="missed">missed</span>'
        cells.append(f'<span class="target">{text}</span>')
    return "<br>".join(cells) if cells else '<span class="target">none</span>'


def _figures_panel(
    ident: str, title: str, figures: Sequence[Figure], *, level_column: bool, more: str = ""
) -> str:
    head = '<th scope="col">Level</th>' if level_column else ""
    rows = []
    for f in figures:
        level = ""
        if level_column:
            if f.level is not None:
                name = dict(f.level.labels).get("level", "")
                css = f"level level-{escape(name)}"
                level = f"<td>{number(f.level, text=name, css=css)}</td>"
            else:
                level = "<td>–</td>"
        rows.append(
            f'<tr><th scope="row">{escape(f.title)}</th><td class="v">{number(f.sample)}</td>'
            f"{level}<td>{_target_cell(f.targets, f.sample.value)}</td></tr>"
        )
    if not rows:
        table = "<p>No value in this window.</p>"
    else:
        table = (
            f'<table><thead><tr><th scope="col">Metric</th><th scope="col" class="v">Value</th>'
            f'{head}<th scope="col">Target</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        )
    return (
        f'<section class="panel" aria-labelledby="{ident}"><h2 id="{ident}">{escape(title)}</h2>'
        f"{table}{more}</section>"
    )


def _flow_panel(view: StreamView) -> str:
    more = _load_table(view) + _distribution(view)
    return _figures_panel("flow-h", "Flow", view.flow, level_column=False, more=more)


def _load_table(view: StreamView) -> str:
    """Flow load now, by flow item type and state, and the WIP target where one is set."""
    if not view.load:
        return ""
    cells: dict[str, dict[str, Sample]] = defaultdict(dict)
    for s in view.load:
        lbl = dict(s.labels)
        cells[lbl.get("type", "")][lbl.get("flow_state", "")] = s
    rows = []
    for kind, states in cells.items():
        row = "".join(
            f'<td class="v">{number(states[st]) if st in states else "–"}</td>'
            for st in ("active", "waiting")
        )
        rows.append(f'<tr><th scope="row">{escape(kind)}</th>{row}</tr>')
    total = sum(s.value for s in view.load)
    target = ""
    if view.load_targets:
        target = f"<p>WIP target: {_target_cell(view.load_targets, total)}</p>"
    return (
        '<h3>Flow load now (items)</h3><table><thead><tr><th scope="col">Type</th>'
        '<th scope="col" class="v">Active</th><th scope="col" class="v">Waiting</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>{target}"
    )


def _distribution(view: StreamView) -> str:
    if not view.distribution:
        return ""
    rows = []
    for s in view.distribution:
        kind = dict(s.labels).get("type", "")
        width = max(0.0, min(100.0, s.value * 100))
        rows.append(
            f'<tr><th scope="row">{escape(kind)}</th><td class="v">{number(s)}</td>'
            f'<td><div class="bar" aria-hidden="true"><span style="width:{width:.1f}%">'
            "</span></div></td></tr>"
        )
    return (
        "<h3>Flow distribution of items done</h3><table><thead><tr>"
        '<th scope="col">Type</th><th scope="col" class="v">Share</th>'
        f'<th scope="col"><span class="target">bar</span></th></tr></thead><tbody>'
        f"{''.join(rows)}</tbody></table>"
    )


def _confidence(value: str) -> str:
    try:
        return f"{float(value) * 100:g}%"
    except ValueError:
        return value


def _grid(samples: Sequence[Sample], row_keys: Sequence[str], caption: str) -> str:
    """Samples as a table: one row per ``row_keys`` labels, one column per confidence."""
    confidences = sorted({dict(s.labels).get("confidence", "") for s in samples})
    grid: dict[tuple[str, ...], dict[str, Sample]] = defaultdict(dict)
    for s in samples:
        lbl = dict(s.labels)
        grid[tuple(lbl.get(k, "") for k in row_keys)][lbl.get("confidence", "")] = s
    head = "".join(f'<th scope="col">{escape(k)}</th>' for k in row_keys)
    head += "".join(
        f'<th scope="col" class="v">{escape(_confidence(c))} sure</th>' for c in confidences
    )
    rows = []
    for key, by_conf in grid.items():
        cells = "".join(f"<td>{escape(k)}</td>" for k in key)
        cells += "".join(
            f'<td class="v">{number(by_conf[c]) if c in by_conf else "–"}</td>' for c in confidences
        )
        rows.append(f"<tr>{cells}</tr>")
    return (
        f'<table class="grid"><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _forecast_panel(view: StreamView) -> str:
    """Monte Carlo forecasts of the stream's team, when the snapshot has them."""
    if not (view.forecast_items or view.forecast_days or view.forecast_backlog):
        return ""
    heading = f'<h2 id="fc-h">Forecasts of {escape(view.team)}</h2>'
    parts = [f'<section class="panel" aria-labelledby="fc-h">{heading}']
    if view.forecast_items:
        parts.append(_grid(view.forecast_items, ("type", "horizon"), "Items done within"))
    if view.forecast_backlog:
        rows = "".join(
            f"<tr><td>{escape(dict(s.labels).get('type', ''))}</td>"
            f"<td>{escape(dict(s.labels).get('backlog', ''))}</td>"
            f'<td class="v">{number(s)}</td></tr>'
            for s in view.forecast_backlog
        )
        parts.append(
            '<table><caption>Backlogs</caption><thead><tr><th scope="col">type</th>'
            '<th scope="col">backlog</th><th scope="col" class="v">items</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    if view.forecast_days:
        parts.append(_grid(view.forecast_days, ("type", "backlog"), "Days to finish a backlog"))
    parts.append("</section>")
    return "".join(parts)
