"""Jenkins' ``tree=`` query: parse ``a,b[c,d]{0,10}`` and select those fields of an object.

Semantics as Jenkins' ``Api``/``TreeString`` apply them: a field absent from an object is left
out; ``_class`` is always kept; ``{m,n}`` on a list keeps items m (inclusive) to n (exclusive),
``{m,}`` from m, ``{,n}`` the first n and ``{n}`` only item n.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Node:
    name: str
    children: list[Node] = field(default_factory=list)
    range: tuple[int | None, int | None] | None = None


class Lazy:
    """A value computed only when selected; list producers receive the range to slice."""

    def __init__(self, fn: Callable[[tuple[int | None, int | None] | None], Any]) -> None:
        self.fn = fn


class TreeError(ValueError):
    pass


def parse(text: str) -> list[Node]:
    nodes, pos = _parse_list(text, 0)
    if pos != len(text):
        raise TreeError(f"unexpected {text[pos]!r} at {pos}")
    return nodes


def _parse_list(text: str, pos: int) -> tuple[list[Node], int]:
    nodes: list[Node] = []
    while pos < len(text):
        start = pos
        while pos < len(text) and text[pos] not in ",[]{}":
            pos += 1
        node = Node(text[start:pos].strip())
        if pos < len(text) and text[pos] == "[":
            node.children, pos = _parse_list(text, pos + 1)
            if pos >= len(text) or text[pos] != "]":
                raise TreeError("unclosed [")
            pos += 1
        if pos < len(text) and text[pos] == "{":
            end = text.index("}", pos)
            node.range = _range(text[pos + 1 : end])
            pos = end + 1
        if node.name:
            nodes.append(node)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        break
    return nodes, pos


def _range(spec: str) -> tuple[int | None, int | None]:
    if "," not in spec:
        n = int(spec)
        return n, n + 1
    low, high = spec.split(",", 1)
    return (int(low) if low.strip() else None, int(high) if high.strip() else None)


def select(value: Any, nodes: list[Node]) -> Any:
    if isinstance(value, list):
        return [select(v, nodes) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    if "_class" in value:
        out["_class"] = value["_class"]
    for node in nodes:
        if node.name not in value:
            continue
        item = value[node.name]
        if isinstance(item, Lazy):
            item = item.fn(node.range)
        elif isinstance(item, list) and node.range is not None:
            item = item[node.range[0] : node.range[1]]
        if isinstance(item, Lazy):
            item = item.fn(None)
        out[node.name] = select(item, node.children) if node.children else _plain(item)
    return out


def _plain(value: Any) -> Any:
    """A field asked for without sub-fields: objects and lists of objects come back as their
    ``_class`` only, as Jenkins does."""
    if isinstance(value, dict):
        return {"_class": value["_class"]} if "_class" in value else {}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
