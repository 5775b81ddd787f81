"""Markdown tables, written one way for every report."""
from __future__ import annotations


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A pipe table; columns in `right` (default: all but the first) are right-aligned."""
    right = set(range(1, len(headers))) if right is None else right
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
