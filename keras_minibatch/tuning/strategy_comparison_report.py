"""A strategy comparison's report: grid size and coverage notes, the best-so-far table, the CSV.

`strategy_comparison.compare_search_strategies` runs the searches; this module
turns their trial rows into what it prints and writes.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras_tuner

from keras_minibatch.run_folders import rundir
from keras_minibatch.plots import search_plots
from keras_minibatch.tuning.search_result import SearchResult

__all__ = ["best_so_far", "format_table", "grid_notes", "grid_size", "write_comparison_csv"]


def grid_size(hyperparameters: keras_tuner.HyperParameters) -> int:
    """Returns the number of points of a KerasTuner space's grid, counting conditional ones only where active.

    Conditions may depend only on unconditional hyperparameters (as `num_layers`
    does for `units_<i>`); a numerical hyperparameter counts the values
    KerasTuner's grid walks (`hp.values`).
    """
    space = list(hyperparameters.space)
    parent_names = sorted({condition.name for hp in space for condition in hp.conditions})
    parents = [hp for hp in space if hp.name in parent_names]
    others = [hp for hp in space if hp.name not in parent_names]
    total = 0
    for combination in itertools.product(*(list(hp.values) for hp in parents)):
        values = dict(zip((hp.name for hp in parents), combination))
        active = [hp for hp in others if all(condition.is_active(values) for condition in hp.conditions)]
        total += math.prod(len(list(hp.values)) for hp in active)
    return total


def best_so_far(values: Sequence[float | None], direction: str) -> list[float | None]:
    """The best objective after each trial (`None` before any completed)."""
    return [None if math.isnan(value) else value for value in search_plots.best_so_far(values, direction)]


def format_table(objectives: Mapping[str, Sequence[float | None]], best: Mapping[str, Sequence[float | None]],
                  searches: Mapping[str, SearchResult], objective: str, direction: str, max_trials: int) -> str:
    """The printed table: best so far per trial and strategy, then best, when, trials, failures, seconds."""
    names = list(objectives)
    width = max(9, *(len(name) for name in names))
    num_rows = max(max_trials, *(len(values) for values in objectives.values()))

    def line(label: str, cells: Sequence[str]) -> str:
        return f"{label:>7}" + "".join(f"  {cell:>{width}}" for cell in cells)

    lines = [
        f"best {objective} so far ({direction}imized) after each trial; up to {max_trials} trials per strategy, same space, data and seeds",
        line("trial", names),
    ]
    for index in range(num_rows):
        lines.append(line(str(index + 1), [f"{best[name][index]:.4f}" if index < len(best[name]) and best[name][index] is not None else "-" for name in names]))
    finals = {name: next((value for value in reversed(best[name]) if value is not None), None) for name in names}
    lines.append(line("best", [f"{finals[name]:.4f}" if finals[name] is not None else "-" for name in names]))
    lines.append(line("reached", [str(best[name].index(finals[name]) + 1) if finals[name] is not None else "-" for name in names]))
    lines.append(line("trials", [str(len(objectives[name])) for name in names]))
    lines.append(line("failed", [str(searches[name].num_failed) for name in names]))
    lines.append(line("seconds", [f"{sum(row['seconds'] or 0.0 for row in searches[name].trials):.1f}" for name in names]))
    return "\n".join(lines)


def grid_notes(result: SearchResult, max_trials: int) -> list[str]:
    """What the grid search covered of its space: its size, the share run and what it varied."""
    size = grid_size(result.tuner.oracle.get_space())
    ran = len(result.trials)
    varied = [name for name in dict.fromkeys(name for row in result.trials for name in row["hyperparameters"])
              if len({repr(row["hyperparameters"].get(name)) for row in result.trials}) > 1]
    if ran < max_trials:
        return [f"grid: the space has {size:,} grid points; the grid ran out after {ran} trials, below the budget of {max_trials}."]
    share = f"{ran / size:.2%}" if ran / size >= 0.0001 else f"{ran / size:.1e}"
    note = f"grid: the space has {size:,} grid points; {ran} trials cover {share} of them, varying only {', '.join(varied) or 'nothing'}."
    if size > 2 * max_trials:
        note += " For a grid that covers its space, pin more hyperparameters (--fix) or narrow their choices."
    return [note]


def write_comparison_csv(path: Path, objectives: Mapping[str, Sequence[float | None]], best: Mapping[str, Sequence[float | None]], num_rows: int) -> None:
    """Writes `comparison.csv`: per trial, each strategy's objective and best so far."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", *(f"{name}_{kind}" for name in objectives for kind in ("objective", "best_so_far"))])
    for index in range(num_rows):
        cells: list[Any] = [index + 1]
        for name in objectives:
            for series in (objectives[name], best[name]):
                value = series[index] if index < len(series) else None
                cells.append("" if value is None else repr(value))
        writer.writerow(cells)
    rundir.write_text_atomic(path, buffer.getvalue())
