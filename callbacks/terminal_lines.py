"""Text for a terminal: its width, and parts packed into lines that fit it, never cut mid-word."""

from __future__ import annotations

import shutil
from collections.abc import Iterable


def terminal_width() -> int:
    """Returns the columns of stdout's terminal (`COLUMNS` when set), or 80 when there is none (a pipe)."""
    return shutil.get_terminal_size(fallback=(80, 24)).columns


def _cut(part: str, width: int) -> list[str]:
    """Cuts a part wider than `width` after its `/` where it can (a path), else at `width`."""
    pieces, line = [], ""
    for segment in part.replace("/", "/\0").split("\0"):
        while len(segment) > width:  # One segment wider than a whole line: cut it where it must.
            if line:
                pieces.append(line)
                line = ""
            pieces.append(segment[:width])
            segment = segment[width:]
        if len(line) + len(segment) > width:
            pieces.append(line)
            line = ""
        line += segment
    return [*pieces, line] if line else pieces


def pack_lines(parts: Iterable[str], width: int, *, first: str = "", indent: str = "", separator: str = "  ") -> list[str]:
    """Packs `parts` into as few lines of at most `width` columns as it can, breaking only between parts.

    Args:
        parts: The pieces to keep whole, in order (`"loss 0.1234"`, `"seed=0"`).
        width: Most columns per line (at least `len(first) + 1` and `len(indent) + 1`).
        first: Text the first line starts with (a label).
        indent: Text every later line starts with.
        separator: Text between two parts on one line.

    Returns:
        The lines, without newlines. A part wider than a whole line is cut,
        after a `/` where it has one (a path), the rest continuing on the next lines.
    """
    lines, line, empty = [], first, True
    for part in parts:
        room = width - len(line) - (0 if empty else len(separator))
        if len(part) <= room:
            line += part if empty else separator + part
            empty = False
            continue
        if not empty:
            lines.append(line)
            line, empty = indent, True
        pieces = _cut(part, max(1, width - max(len(line), len(indent))))
        for piece in pieces[:-1]:
            lines.append(line + piece)
            line = indent
        line += pieces[-1]
        empty = False
    return [*lines, line]
