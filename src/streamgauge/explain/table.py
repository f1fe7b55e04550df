"""An explanation as a person reads it: the definition, the numbers, the parts, one row each."""

from __future__ import annotations

from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from streamgauge.explain.rows import Explanation
from streamgauge.report import human_duration


def write_table(explanation: Explanation, out: TextIO, *, width: int | None = None) -> None:
    """The definition, the summary, and one row per record; durations as a person reads them
    (``3h 20m``), where ``--json`` keeps seconds."""
    e = explanation
    console = Console(file=out, width=width, highlight=False, markup=False, emoji=False)
    where = f"team={e.team} app={e.app}" + (f" window={e.window}" if e.window else "")
    when = f" at {e.at}" if e.at else ""
    console.print(f"{e.metric} ({where}){when}: {e.definition}")
    console.print("  ".join(f"{k}={_cell(k, v)}" for k, v in e.summary.items()))
    console.print()
    for title, rows in e.tables.items():
        console.print(f"{title}:")
        _print_rows(console, list(rows[0]) if rows else [], rows)
        console.print()
    if not e.rows:
        console.print("no records")
        return
    _print_rows(console, e.columns, e.rows)


def _print_rows(console: Console, columns: list[str], rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("none")
        return
    cells = {c: [_cell(c, row.get(c)) for row in rows] for c in columns}
    # Column choice: the first column (what the record is), then the narrowest others while
    # they fit the terminal with values unwrapped, shown in their order; what is left out is
    # named, and `--json` has it all.
    shown = [columns[0]]
    rest = sorted(columns[1:], key=lambda c: max(len(v) for v in [_header(c), *cells[c]]))
    for column in rest:
        candidate = [c for c in columns if c in shown or c == column]
        if _fits(_table(candidate, cells), console.width):
            shown = candidate
    console.print(_table(shown, cells))
    if len(shown) < len(columns):
        left = ", ".join(c for c in columns if c not in shown)
        console.print(f"not shown for the terminal's width: {left} (see --json)")


def _table(columns: list[str], cells: dict[str, list[str]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    for column in columns:
        table.add_column(
            _header(column),
            justify="right" if column.endswith("_seconds") else "left",
            min_width=min(40, max(len(v) for v in cells[column])),
            overflow="fold",
        )
    for i in range(len(cells[columns[0]])):
        table.add_row(*(cells[c][i] for c in columns))
    return table


def _header(column: str) -> str:
    return column.removesuffix("_seconds").replace("_", " ")


def _fits(table: Table, width: int) -> bool:
    # measured on a console wide enough not to clamp the measurement to the terminal
    return Console(width=10_000).measure(table).minimum <= width


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_seconds") and isinstance(value, int | float):
        return ("-" if value < 0 else "") + human_duration(abs(value))
    if key.endswith("_at") and isinstance(value, str):
        return value.replace("T", " ")[:16]  # to the minute: the table is for reading
    if key.endswith("_ratio") and isinstance(value, int | float):
        return f"{value:.0%}"
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:.0f}"
        return f"{value:.4g}"
    return str(value)
