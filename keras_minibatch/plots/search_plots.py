"""The plots of a search: each strategy's best objective so far, trial by trial.

`strategy_comparison_figure` returns the figure for notebooks and tests;
`plot_strategy_comparison` saves it atomically (see `figures.save_figure`) and
returns the path. Imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from keras_minibatch.plots.figures import integer_ticks, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Objective names KerasTuner also maximizes; anything ending in "loss" or "error" is minimized.
_MAXIMIZED_OBJECTIVES = ("accuracy", "acc", "auc", "precision", "recall", "f1_score")


def objective_direction(objective: str, direction: str | None) -> str:
    """Returns `direction` checked, or, when it is `None`, the one KerasTuner infers from `objective`'s name.

    Raises:
        ValueError: for a direction other than `"min"` or `"max"`, or a name
            that tells neither (then pass `direction`).
    """
    if direction is not None:
        if direction not in ("min", "max"):
            raise ValueError(f"`direction` ({direction!r}) must be 'min' or 'max'.")
        return direction
    name = objective.removeprefix("val_")
    if name.endswith(("loss", "error")):
        return "min"
    if name in _MAXIMIZED_OBJECTIVES:
        return "max"
    raise ValueError(f"cannot tell whether objective {objective!r} is minimized or maximized; pass `direction='min'` or `direction='max'`.")


def best_so_far(values: Sequence[float | None], direction: str) -> list[float]:
    """Returns the running best of `values` ('min' or 'max'); `None` and NaN (failed trials) are skipped."""
    choose = min if direction == "min" else max
    best, running = math.nan, []
    for value in values:
        if value is not None and not math.isnan(value):
            best = value if math.isnan(best) else choose(best, value)
        running.append(best)
    return running


def strategy_comparison_figure(
    objectives: Mapping[str, Sequence[float | None]],
    objective: str,
    *,
    direction: str | None = None,
    budget: int | None = None,
) -> Figure:
    """Returns one best-so-far step line per search strategy, with each trial's objective as faint dots.

    Args:
        objectives: Strategy name -> its trials' objective values in trial order;
            `None` or NaN marks a failed trial. Strategies may have run different
            numbers of trials (a grid can run out before the budget).
        objective: The objective's name, for the axis, e.g. `"val_accuracy"`.
        direction: `"min"` or `"max"`; by default inferred from the name.
        budget: The trial budget, for the x axis. Defaults to the longest series.

    Raises:
        ValueError: for no strategies, a strategy without trials, a non-numeric
            value, or an unknown direction.
    """
    if not objectives:
        raise ValueError("`objectives` is empty; pass {strategy: [objective per trial, ...]} for at least one strategy.")
    direction = objective_direction(objective, direction)
    series: dict[str, list[float | None]] = {}
    for name, values in objectives.items():
        if not values:
            raise ValueError(f"strategy {name!r} has no trials; pass at least one objective value (None for a failed trial).")
        clean: list[float | None] = []
        for index, value in enumerate(values):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))):
                raise ValueError(f"strategy {name!r} trial {index + 1} has {objective}={value!r}; expected a number or None.")
            clean.append(None if value is None or math.isnan(float(value)) else float(value))
        series[name] = clean
    num_trials = max(budget or 0, *(len(values) for values in series.values()))

    figure = new_figure((max(6.0, 0.2 * num_trials + 4.0), 4.5))
    axes = figure.subplots()
    # Strategies often share a best value (Bayesian search starts with random search's trials):
    # wide solid lines under narrower dashed ones keep every line visible.
    styles = [("-", 4.0), ("--", 2.5), (":", 2.0), ("-.", 1.5)]
    for index, (name, values) in enumerate(series.items()):
        numbers = list(range(1, len(values) + 1))
        linestyle, linewidth = styles[index % len(styles)]
        (line,) = axes.plot(numbers, best_so_far(values, direction), drawstyle="steps-post", linestyle=linestyle, linewidth=linewidth, label=name)
        scores = [math.nan if value is None else value for value in values]
        axes.plot(numbers, scores, linestyle="none", marker="o", markersize=4, alpha=0.35, color=line.get_color())
    axes.set_xlabel("trial")
    axes.set_ylabel(objective)
    axes.set_title(f"Search strategies on one space and budget: {objective}, {direction}imized\nlines: best so far; dots: each trial")
    integer_ticks(axes.xaxis)
    axes.set_xlim(0.5, num_trials + 0.5)
    axes.grid(alpha=0.3)
    axes.legend(title="strategy")
    return figure


def plot_strategy_comparison(
    objectives: Mapping[str, Sequence[float | None]],
    objective: str,
    path: str | os.PathLike,
    *,
    direction: str | None = None,
    budget: int | None = None,
) -> Path:
    """Saves `strategy_comparison_figure(...)` to `path` and returns the path.

    Raises:
        ValueError: as `strategy_comparison_figure`, or for a file type matplotlib cannot write.
        RunDirError: when the file cannot be written.
    """
    return save_figure(strategy_comparison_figure(objectives, objective, direction=direction, budget=budget), path)
