"""The value-stream map as one SVG: the stages left to right in stream order, each box with its
process time and %C&A after a queue with the wait before it, the bottleneck marked, and under
them the lead-time ladder (wait above, process below) ending in the stream's lead time,
activity ratio and rolled %C&A.

The SVG stands alone (its own style, no script), so `streamgauge map --out map.svg` writes the
same drawing the page shows. Every colour pair meets WCAG AA contrast for text (4.5:1 or more).
"""

from __future__ import annotations

from html import escape

from streamgauge.exposition.stream_view import Stage, StreamView, met, number
from streamgauge.metrics.snapshot import Sample

PAD = 16
WAIT_W = 60  # the queue before each box, where the wait is written
BOX_W = 120
UNIT = WAIT_W + BOX_W
BOX_Y = 44
BOX_H = 108
HIGH_Y = 214  # the ladder's wait line
LOW_Y = 254  # the ladder's process line
SUMMARY_W = 250
HEIGHT = 306
NAME_CHARS = 15

STYLE = """
.vsm text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-size: 13px; fill: #1b1b1b; }
.vsm .name { font-weight: 600; font-size: 14px; }
.vsm .label { fill: #474747; font-size: 12px; }
.vsm .box { fill: #eef3fb; stroke: #2b4c7e; stroke-width: 1.5; }
.vsm .bottleneck .box { fill: #fdecea; stroke: #a4161a; stroke-width: 3; }
.vsm .tag { fill: #a4161a; font-weight: 700; font-size: 12px; letter-spacing: 0.04em; }
.vsm .queue { fill: #fff3cd; stroke: #7a5c00; stroke-width: 1.5; }
.vsm .ladder { fill: none; stroke: #1b1b1b; stroke-width: 2; }
.vsm .wait { fill: #5c4300; }
.vsm .process { fill: #1d3f6e; }
.vsm .missed { fill: #a4161a; font-weight: 600; }
.vsm .total { font-weight: 600; }
"""


def map_svg(view: StreamView, *, standalone: bool = False) -> str:
    """The map and ladder of ``view``; ``standalone`` adds the XML namespace for a file."""
    n = len(view.stages)
    width = 2 * PAD + max(n, 1) * UNIT + SUMMARY_W
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    title = f"Value-stream map of {view.team} / {view.app}, window {view.window}"
    parts = [
        f'<svg{ns} class="vsm" width="{width}" height="{HEIGHT}" '
        f'viewBox="0 0 {width} {HEIGHT}" role="group" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        f'<rect x="0" y="0" width="{width}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    if not view.stages:
        parts.append(
            f'<text x="{PAD}" y="{BOX_Y + 20}" class="label">No work item of this stream was done '
            "in this window: no stage to show.</text>"
        )
    for i, stage in enumerate(view.stages):
        parts.append(_stage(stage, PAD + i * UNIT))
    parts.append(_ladder(view))
    parts.append(_summary(view, PAD + n * UNIT + 20))
    parts.append("</svg>")
    return "".join(parts)


def _text(x: float, y: float, body: str, css: str = "", anchor: str = "middle") -> str:
    cls = f' class="{css}"' if css else ""
    return f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}"{cls}>{body}</text>'


def _stage(stage: Stage, x0: float) -> str:
    """One stage: the queue (wait before it) and the box (process time, %C&A)."""
    css = "stage bottleneck" if stage.bottleneck is not None else "stage"
    out = [f'<g class="{css}" data-stage="{escape(stage.name)}">']
    mid = x0 + WAIT_W / 2
    # the queue: a triangle, the classic inventory symbol, with the wait before the stage
    top = BOX_Y + 38
    out.append(
        f'<polygon class="queue" points="{mid:g},{top} {mid - 16:g},{top + 28} {mid + 16:g},'
        f'{top + 28}"/>'
    )
    out.append(_text(mid, BOX_Y + 14, "wait", "label"))
    wait = number(stage.wait, "tspan") if stage.wait is not None else "–"
    out.append(_text(mid, BOX_Y + 30, wait, "wait"))
    if stage.queue is not None:
        unit = " item" if stage.queue.value == 1 else " items"
        out.append(_text(mid, top + 46, number(stage.queue, "tspan") + unit, "label"))
    if stage.trend is not None:
        out.append(_text(mid, top + 62, "trend " + number(stage.trend, "tspan"), "label"))
    bx = x0 + WAIT_W
    out.append(
        f'<rect class="box" x="{bx:g}" y="{BOX_Y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
    )
    cx = bx + BOX_W / 2
    name = stage.name if len(stage.name) <= NAME_CHARS else stage.name[: NAME_CHARS - 1] + "…"
    out.append(
        f'<text x="{cx:g}" y="{BOX_Y + 22}" text-anchor="middle" class="name">'
        f"<title>{escape(stage.name)}</title>{escape(name)}</text>"
    )
    out.append(_text(cx, BOX_Y + 44, "process", "label"))
    process = number(stage.process, "tspan") if stage.process is not None else "–"
    out.append(_text(cx, BOX_Y + 61, process, "process"))
    out.append(_text(cx, BOX_Y + 82, "%C&amp;A", "label"))
    ca = number(stage.ca, "tspan") if stage.ca is not None else "–"
    out.append(_text(cx, BOX_Y + 99, ca))
    if stage.wait_target is not None:
        out.append(_target(stage.wait_target, stage.wait, x0 + UNIT / 2, BOX_Y + BOX_H + 18))
    if stage.bottleneck is not None:
        out.append(
            _text(cx, BOX_Y - 8, number(stage.bottleneck, "tspan", text="BOTTLENECK"), "tag")
        )
    out.append("</g>")
    return "".join(out)


def _target(target: Sample, value: Sample | None, x: float, y: float) -> str:
    """A stage's wait target, and whether the wait keeps within it."""
    bound = "≥" if dict(target.labels).get("bound") == "min" else "≤"
    body = f"wait target {bound} " + number(target, "tspan")
    css = "label"
    if value is not None:
        ok = met(target, value.value)
        body += " (met)" if ok else " (missed)"
        css = "label" if ok else "missed"
    return _text(x, y, body, css)


def _ladder(view: StreamView) -> str:
    """Wait on the high line under each queue, process on the low line under each box."""
    if not view.stages:
        return ""
    points = []
    out = []
    for i, stage in enumerate(view.stages):
        x0 = PAD + i * UNIT
        points += [(x0, HIGH_Y), (x0 + WAIT_W, HIGH_Y), (x0 + WAIT_W, LOW_Y), (x0 + UNIT, LOW_Y)]
        if i == len(view.stages) - 1:
            points.append((x0 + UNIT, HIGH_Y))
        if stage.wait is not None:
            out.append(_text(x0 + WAIT_W / 2, HIGH_Y - 9, number(stage.wait, "tspan"), "wait"))
        if stage.process is not None:
            box_mid = x0 + WAIT_W + BOX_W / 2
            out.append(_text(box_mid, LOW_Y + 20, number(stage.process, "tspan"), "process"))
    line = " ".join(f"{x:g},{y:g}" for x, y in points)
    label_y = HEIGHT - 8
    legend = _text(PAD, label_y, "Lead-time ladder: wait above, process below", "label", "start")
    return legend + f'<polyline class="ladder" points="{line}"/>' + "".join(out)


def _summary(view: StreamView, x: float) -> str:
    """The stream's totals at the ladder's end: lead time, activity ratio, rolled %C&A."""
    out = []
    y = BOX_Y + 14
    if view.lead:
        out.append(_text(x, y, "Lead time (idea to production)", "label", "start"))
        for sample in view.lead:
            y += 18
            p = dict(sample.labels).get("percentile", "")
            out.append(_text(x, y, f"p{escape(p)} " + number(sample, "tspan"), "total", "start"))
    if view.efficiency is not None:
        y += 30
        out.append(_text(x, y, "Activity ratio (process / lead)", "label", "start"))
        out.append(_text(x, y + 18, number(view.efficiency, "tspan"), "total", "start"))
        y += 18
    if view.rolled is not None:
        y += 30
        out.append(_text(x, y, "Rolled %C&amp;A", "label", "start"))
        body = number(view.rolled.sample, "tspan")
        for target, ok in view.rolled.verdicts():
            bound = "≥" if dict(target.labels).get("bound") == "min" else "≤"
            state = "met" if ok else "missed"
            body += f' <tspan class="{"" if ok else "missed"}">(target {bound} '
            body += number(target, "tspan") + f", {state})</tspan>"
        out.append(_text(x, y + 18, body, "total", "start"))
    return "".join(out)
