"""Text for a terminal: its width, and parts packed into lines that fit it, never cut mid-word."""

from __future__ import annotations

import shutil
from collections.abc import Iterable


def terminal_width() -> int:
    """Returns the columns of stdout's terminal (`COLUMNS` when set), or 80 when there is none (a pipe)."""
    return shutil.get_terminal_size(fallback=(80, 24)).columns


def _cut(part: str, first_room: int, room: int) -> list[str]:
    """Cuts a part into pieces of at most `first_room`, then `room` columns: after a `/` where it can (a path), else where it must."""
    pieces, line = [], ""
    for segment in part.replace("/", "/\0").split("\0"):
        limit = room if pieces else first_room
        if line and len(line) + len(segment) > limit:
            pieces.append(line)
            line, limit = "", room
        line += segment
        while len(line) > limit:  # wider than a whole line: cut it where it must
            pieces.append(line[:limit])
            line, limit = line[limit:], room
    return [*pieces, line]


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
        joined = part if empty else separator + part
        if len(line) + len(joined) <= width:
            line, empty = line + joined, False
            continue
        # A full line goes; so does a first line too short for a part a later line would hold whole.
        if not empty or (len(line) > len(indent) and len(part) <= width - len(indent)):
            lines.append(line.rstrip())
            line, empty = indent, True
        pieces = _cut(part, max(1, width - len(line)), max(1, width - len(indent)))
        for piece in pieces[:-1]:
            lines.append(line + piece)
            line = indent
        line, empty = line + pieces[-1], not pieces[-1]
    return [*lines, line.rstrip()]
