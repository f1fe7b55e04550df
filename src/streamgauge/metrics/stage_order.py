"""Stream order: the value-stream stages in the order work flows through them, for boards and
``explain`` to list them in, where a label value would only sort alphabetically.

The order is ``metrics.stage_order`` (the tracker stages as configured, first to last), then any
other tracker stage by where items first reach it (the mean position of its first visit in the
items' stage paths; ties by name), then ``unmapped`` and ``other``, then the delivery stages
``coding``, ``pickup``, ``code_review`` and ``deploy``. Positions count from 1.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from streamgauge.metrics.dimensions import OTHER
from streamgauge.metrics.stages import DELIVERY, UNMAPPED, ItemStream
from streamgauge.model import FlowState, StatusChange

STAGE_ORDER = "streamgauge_value_stream_stage_order"
DONE = "done"  # a done status without a stage, as a stage path shows it


def stage_path(history: Sequence[StatusChange]) -> list[str]:
    """The tracker stages an item went through, in order, repeats kept (a stage it came back
    to shows twice): where it was before its first move (unless that is its creation), then
    where each move took it; a done status without a stage is ``done``, another status without
    one ``unmapped``."""
    path: list[str] = []
    if not history:
        return path
    first = history[0]
    steps = [(c.to_stage, c.to_state) for c in history]
    if first.from_stage is not None:
        steps.insert(0, (first.from_stage, first.from_state or FlowState.NEW))
    for stage, state in steps:
        name = stage or (DONE if state is FlowState.DONE else UNMAPPED)
        if not path or path[-1] != name:
            path.append(name)
    return path


def stage_order(streams: Iterable[ItemStream], configured: Sequence[str] = ()) -> list[str]:
    """Every stage name the streams can show (see the module), in stream order."""
    positions: dict[str, list[int]] = defaultdict(list)
    for stream in streams:
        seen: set[str] = set()
        for i, name in enumerate(stage_path(stream.flow.history)):
            if name not in seen:
                seen.add(name)
                positions[name].append(i)
    special = {*DELIVERY, UNMAPPED, OTHER, DONE}
    listed = [s for s in dict.fromkeys(configured) if s not in special]
    rest = sorted(
        (name for name in positions if name not in special and name not in listed),
        key=lambda name: (sum(positions[name]) / len(positions[name]), name),
    )
    return [*listed, *rest, UNMAPPED, OTHER, *DELIVERY]


def order_of(order: Sequence[str], stage: str) -> int:
    """The 1-based position of ``stage`` in ``order``; a name not in it comes last."""
    try:
        return order.index(stage) + 1
    except ValueError:
        return len(order) + 1
