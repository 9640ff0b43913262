"""The trial table of a search: its rows as live lines, the summary table, `trials.json` and `trials.csv`.

A row is a plain dict:

- `trial_id` (KerasTuner's, e.g. `"03"`) and `number` (1-based);
- `status`: KerasTuner's `"COMPLETED"`, `"FAILED"`, `"INVALID"` or `"RUNNING"`;
- `objective`: the trial's score (the best epoch's value, averaged over
  executions), `None` unless completed;
- `epochs`: epochs the model reached; `best_epoch`: the 1-based epoch of the
  objective's best value (Hyperband counts epochs inherited from the parent trial);
- `seconds`: wall time of the trial; `failure`: why it failed, else `None`;
- `hyperparameters`: KerasTuner's values (without Hyperband's `tuner/*` entries);
- `metrics`: every logged metric at the best epoch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from callbacks.progress_logger import format_duration
from callbacks.terminal_lines import pack_lines
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.tuning.search_config import OBJECTIVES

__all__ = [
    "TRIALS_CSV", "TRIALS_JSON", "describe_hyperparameters", "format_trial_line", "format_trials_table",
    "hyperparameter_order", "summarize_failures", "write_trial_files",
]

TRIALS_JSON = run_files.TRIALS_JSON
TRIALS_CSV = run_files.TRIALS_CSV
_SPACE_ORDER = ("num_layers", "units", "activation", "dropout", "optimizer", "learning_rate", "batch_size")


def hyperparameter_order(name: str) -> tuple[int, int, str]:
    """Sorts names as the space declares them: num_layers, units_1, units_2, ..., batch_size."""
    base, _, index = name.rpartition("_") if name.startswith("units_") else (name, "", "0")
    position = _SPACE_ORDER.index(base) if base in _SPACE_ORDER else len(_SPACE_ORDER)
    return position, int(index) if index.isdigit() else 0, name


def _format_number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def describe_hyperparameters(values: Mapping[str, Any]) -> str:
    """Returns `"num_layers=2 units=64,32 activation=relu ..."` (layer widths joined)."""
    values = dict(values)
    widths = sorted((name for name in values if name.startswith("units_")), key=lambda name: int(name.split("_")[1]))
    units = ",".join(str(values.pop(name)) for name in widths)
    parts = []
    for name, value in values.items():
        parts.append(f"{name}={_format_number(value)}")
        if name == "num_layers" and units:
            parts.append(f"units={units}")
    if units and "num_layers" not in values:
        parts.append(f"units={units}")
    return " ".join(parts)


def _sorted_rows(trials: Sequence[Mapping[str, Any]], objective: str) -> list[Mapping[str, Any]]:
    sign = -1.0 if OBJECTIVES[objective] == "max" else 1.0
    done = [row for row in trials if row["status"] == "COMPLETED" and row["objective"] is not None]
    rest = [row for row in trials if row not in done]
    return sorted(done, key=lambda row: (sign * row["objective"], row["number"])) + sorted(rest, key=lambda row: row["number"])


def summarize_failures(trials: Sequence[Mapping[str, Any]]) -> str:
    """Returns `"1 of 3 trials failed: loss became nan ... (trial 2)"`, or `""` if none failed."""
    failed = [row for row in trials if row["status"] in ("FAILED", "INVALID")]
    if not failed:
        return ""
    by_reason: dict[str, list[int]] = {}
    for row in failed:
        by_reason.setdefault(row["failure"] or "unknown", []).append(row["number"])
    reasons = "; ".join(
        f"{reason} (trial{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))})" for reason, numbers in by_reason.items()
    )
    return f"{len(failed)} of {len(trials)} trials failed: {reasons}"


def format_trial_line(
    row: Mapping[str, Any], *, max_trials: int, objective: str, best: float | None = None,
    seconds_left: float | None = None, width: int | None = None,
) -> str:
    """Returns the line printed when a trial ends.

    Args:
        row: The trial's row.
        max_trials: The trial budget, for "trial 3/10".
        objective: The objective's name.
        best: The best objective so far, or `None`.
        seconds_left: The search's estimated time left, or `None`.
        width: Columns to wrap the line at, between two values (a terminal),
            or `None` for one line however long (a log, a pipe).

    Returns:
        The line, or with `width` the lines joined by newlines.
    """
    parts = [f"trial {row['number']}/{max_trials}"]
    if row["status"] == "COMPLETED":
        parts.append(f"{objective} {row['objective']:.4f}")
        if best is not None:
            parts.append(f"best {best:.4f}")
        if row["epochs"] is not None:
            parts.append(f"epochs {row['epochs']}")
    else:
        parts.append(f"{row['status']}: {row['failure']}")
    if row["seconds"] is not None:
        parts.append(f"{row['seconds']:.1f}s")
    if seconds_left is not None:
        parts.append(f"~{format_duration(seconds_left)} left in search")
    values = describe_hyperparameters(row["hyperparameters"])
    if width is None:
        return "  ".join([*parts, values])
    indent = " " * (len(parts[0]) + 2)
    lines = pack_lines(parts, width, indent=indent)
    lines[-1:] = pack_lines(values.split(" "), width, first=lines[-1] + "  ", indent=indent, separator=" ")
    return "\n".join(lines)


def format_trials_table(trials: Sequence[Mapping[str, Any]], objective: str, *, width: int | None = None) -> str:
    """Returns the trial table sorted by objective, best first; failed trials last, with reasons.

    Args:
        trials: Rows as in `SearchResult.trials`.
        objective: The objective name (`"val_accuracy"` or `"val_loss"`), which
            decides the order.
        width: Columns to fit (a terminal): the hyperparameters wrap at their
            spaces, under their column. Defaults to `None`: one line per trial.

    Returns:
        A multi-line table ending with a line that counts completed and failed trials.
    """
    header = ["rank", "trial", objective, "best_epoch", "seconds", "hyperparameters"]
    table = [header]
    for rank, row in enumerate(_sorted_rows(trials, objective), start=1):
        completed = row["status"] == "COMPLETED" and row["objective"] is not None
        table.append([
            str(rank) if completed else "-",
            str(row["number"]),
            f"{row['objective']:.4f}" if completed else row["status"].lower(),
            str(row["best_epoch"]) if completed and row["best_epoch"] is not None else "-",
            f"{row['seconds']:.1f}" if row["seconds"] is not None else "-",
            describe_hyperparameters(row["hyperparameters"]) + ("" if completed else f"  ({row['failure']})"),
        ])
    widths = [max(len(line[column]) for line in table) for column in range(len(header) - 1)]
    lines = []
    for line in table:
        first = "  ".join(cell.rjust(column) for cell, column in zip(line, widths)) + "  "
        if width is None:
            lines.append(first + line[-1])
        else:
            lines += pack_lines(line[-1].split(" "), width, first=first, indent=" " * len(first), separator=" ")
    num_completed = sum(row["status"] == "COMPLETED" for row in trials)
    lines.append(f"{len(trials)} trials: {num_completed} completed" + (f"; {summarize_failures(trials)}" if num_completed < len(trials) else ""))
    return "\n".join(lines)


def write_trial_files(workdir: Path, trials: Sequence[Mapping[str, Any]]) -> None:
    """Writes the rows to `trials.json` and `trials.csv` in `workdir`."""
    rundir.write_json_atomic(workdir / TRIALS_JSON, list(trials))
    hp_names = sorted({name for row in trials for name in row["hyperparameters"]}, key=hyperparameter_order)
    metric_names = list(dict.fromkeys(name for row in trials for name in row["metrics"]))
    columns = ["trial_id", "status", "objective", "epochs", "best_epoch", "seconds", "failure"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*columns, *hp_names, *metric_names])
    for row in trials:
        cells = [row[column] for column in columns]
        cells += [row["hyperparameters"].get(name, "") for name in hp_names]
        cells += [row["metrics"].get(name, "") for name in metric_names]
        writer.writerow(["" if cell is None else cell for cell in cells])
    rundir.write_text_atomic(workdir / TRIALS_CSV, buffer.getvalue())
