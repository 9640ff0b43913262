"""The file `EpochMetricsLogger` writes: JSON lines or CSV, in whole lines, one writer per file."""

from __future__ import annotations

import csv
import json
import os
import threading
import weakref
from typing import Any

from callbacks.log_values import json_ready

# Open files by real path: a second writer would interleave its rows (and header) with the first's.
_OPEN: dict[str, weakref.ref[MetricsFile]] = {}
_OPEN_LOCK = threading.Lock()


def _drop_torn_line(path: str) -> None:
    """Cuts a last line that lacks its newline: a writer killed mid-line (whole lines are flushed)."""
    with open(path, "rb+") as file:
        data = file.read()
        if data and not data.endswith(b"\n"):
            file.truncate(data.rfind(b"\n") + 1)


def _merge(columns: list[str], row: list[str]) -> list[str]:
    """`columns` with the keys of `row` they lack, each after its predecessor in `row`."""
    merged = list(columns)
    for index, key in enumerate(row):
        if key not in merged:
            merged.insert(merged.index(row[index - 1]) + 1 if index else 0, key)
    return merged


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):  # One value per class.
        return json.dumps(value)
    return "NaN" if isinstance(value, float) and value != value else value


class MetricsFile:
    """One open metrics file, written a row at a time and flushed after each.

    `.jsonl` and `.json` files get a JSON object per line (NaN and infinities
    as `null`). `.csv` files get a header, then a row per call; a row with a
    key the header lacks (the first epoch with validation, under
    `validation_freq`) rewrites the file once with that column added, earlier
    rows leaving it empty. Appending first drops a torn last line.

    Args:
        filename: The file, ending in `.jsonl`, `.json` or `.csv`.
        append: Whether to add to the file instead of truncating it.

    Raises:
        ValueError: When another open `MetricsFile` of this process writes to
            the same file.
        OSError: When the file cannot be opened.
    """

    def __init__(self, filename: str, *, append: bool) -> None:
        self.filename = filename
        self.is_csv = filename.lower().endswith(".csv")
        self.columns: list[str] | None = None
        self._file = None
        self._key = os.path.realpath(filename)
        with _OPEN_LOCK:
            other = _OPEN.get(self._key)
            if other is not None and other() is not None and other()._file is not None:
                raise ValueError(
                    f"{filename!r} is already written by another EpochMetricsLogger, whose rows would "
                    "mix with these: give each logger its own file (a `fit` that was interrupted "
                    "leaves its logger's file open until its `close()`)."
                )
            if append and os.path.exists(filename):
                _drop_torn_line(filename)
                if self.is_csv:
                    with open(filename, newline="", encoding="utf-8") as existing:
                        self.columns = next(csv.reader(existing), None)
            self._open("a" if append else "w")
            _OPEN[self._key] = weakref.ref(self)

    def _open(self, mode: str) -> None:
        self._file = open(self.filename, mode, newline="" if self.is_csv else None, encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        """Writes `row` as one line and flushes it, so a crash leaves whole lines on disk."""
        if not self.is_csv:
            self._file.write(json.dumps({key: json_ready(value) for key, value in row.items()}, allow_nan=False) + "\n")
        else:
            if self.columns is None:
                self.columns = list(row)
                csv.writer(self._file).writerow(self.columns)
            elif any(key not in self.columns for key in row):
                self._add_columns(_merge(self.columns, list(row)))
            csv.writer(self._file).writerow([_cell(row.get(key)) for key in self.columns])
        self._file.flush()

    def _add_columns(self, columns: list[str]) -> None:
        """Rewrites the CSV file under the header `columns`, atomically, and reopens it for appending."""
        self._file.close()
        with open(self.filename, newline="", encoding="utf-8") as existing:
            rows = list(csv.DictReader(existing))
        temporary = f"{self.filename}.{os.getpid()}.tmp"
        with open(temporary, "w", newline="", encoding="utf-8") as rewritten:
            writer = csv.DictWriter(rewritten, columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, self.filename)
        self.columns = columns
        self._open("a")

    def close(self) -> None:
        """Closes the file (again: a no-op)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        with _OPEN_LOCK:
            if _OPEN.get(self._key) is not None and _OPEN[self._key]() in (self, None):
                del _OPEN[self._key]
