"""PNG plots of runs and searches: learning curves, a confusion matrix, objective per trial, strategies compared.

Figures are `matplotlib.figure.Figure` objects rendered by the Agg canvas directly, so
nothing here needs a display, imports `pyplot` or changes matplotlib's global state
(backend, current figure). The `*_figure` functions return the figure for notebooks and
tests; the `plot_*` functions save it atomically (temporary file, then rename) and
return the path. Imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from keras_minibatch.runs import rundir

if TYPE_CHECKING:
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure

# Objective names KerasTuner also maximizes; anything ending in "loss" or "error" is minimized.
_MAXIMIZED_OBJECTIVES = ("accuracy", "acc", "auc", "precision", "recall", "f1_score")
_MAX_EPOCHS_WITH_MARKERS = 30


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """Returns an empty figure on its own Agg canvas.

    matplotlib is imported here, on first use, rather than with this module: a
    command reaches its first training step 0.24 s sooner and pays for the import
    when it plots.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _integer_ticks(axis: Axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def learning_curves_figure(history: Mapping[str, Sequence[float]], *, metrics: Sequence[str] = ("loss", "accuracy")) -> Figure:
    """Returns one panel per metric: its training and (when present) validation values per epoch.

    Args:
        history: Keras' `History.history`, `{"loss": [...], "val_loss": [...], ...}`.
        metrics: Training metric names, one panel each; `val_<name>` is drawn beside
            each when present. Defaults to `("loss", "accuracy")`.

    Raises:
        ValueError: when a metric is missing, a series is empty, or series lengths differ.
    """
    if not metrics:
        raise ValueError("`metrics` is empty; pass at least one history key, e.g. ('loss',).")
    for name in metrics:
        if name not in history:
            raise ValueError(f"`history` has no {name!r} series; it has {sorted(history)}. Pass `metrics=` naming keys it has.")
    series = {key: [float(value) for value in history[key]] for name in metrics for key in (name, f"val_{name}") if key in history}
    lengths = {key: len(values) for key, values in series.items()}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise ValueError(f"every history series must hold one value per epoch (at least one); got lengths {lengths}.")
    num_epochs = next(iter(lengths.values()))
    epochs = list(range(1, num_epochs + 1))
    marker = "o" if num_epochs <= _MAX_EPOCHS_WITH_MARKERS else None

    figure = _new_figure((5.0 * len(metrics), 4.0))
    for axes, name in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics):
        axes.plot(epochs, series[name], marker=marker, label="train")
        if f"val_{name}" in series:
            axes.plot(epochs, series[f"val_{name}"], marker=marker, label="validation")
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        _integer_ticks(axes.xaxis)
        axes.set_xlim(0.5, num_epochs + 0.5)
        axes.grid(alpha=0.3)
        axes.legend()
    return figure


def plot_learning_curves(history: Mapping[str, Sequence[float]], path: str | os.PathLike, *, metrics: Sequence[str] = ("loss", "accuracy")) -> Path:
    """Saves `learning_curves_figure(history, metrics=metrics)` to `path` and returns the path.

    Raises:
        ValueError: as `learning_curves_figure`, or for a file type matplotlib cannot write.
        RunDirError: when the file cannot be written (missing folder, full disk).
    """
    return save_figure(learning_curves_figure(history, metrics=metrics), path)


def _as_labels(name: str, labels: np.ndarray | Sequence[int], num_classes: int) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(
            f"`{name}` must be 1-D class labels; got shape {array.shape}. "
            "For probabilities, pass `np.argmax(probabilities, axis=-1)`."
        )
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.array_equal(array, np.round(array)):
            raise ValueError(f"`{name}` must hold integer class labels; got dtype {array.dtype} with non-integer values.")
    array = array.astype(np.int64)
    outside = array[(array < 0) | (array >= num_classes)]
    if outside.size:
        raise ValueError(f"`{name}` holds label {int(outside[0])}, outside 0..{num_classes - 1} (`num_classes` is {num_classes}).")
    return array


def confusion_matrix(y_true: np.ndarray | Sequence[int], y_pred: np.ndarray | Sequence[int], num_classes: int) -> np.ndarray:
    """Returns the `(num_classes, num_classes)` count matrix: rows true labels, columns predicted.

    Raises:
        ValueError: for a bad `num_classes`, labels that are not 1-D integers in
            `0..num_classes - 1`, or `y_true` and `y_pred` of different lengths.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"`num_classes` ({num_classes!r}) must be an integer >= 1.")
    y_true = _as_labels("y_true", y_true, num_classes)
    y_pred = _as_labels("y_pred", y_pred, num_classes)
    if len(y_true) != len(y_pred):
        raise ValueError(f"`y_true` has {len(y_true)} labels but `y_pred` has {len(y_pred)}; they must match.")
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def confusion_matrix_figure(matrix: np.ndarray, *, title: str = "Confusion matrix", class_names: Sequence[str] | None = None) -> Figure:
    """Returns a heat map of `matrix` with every count written in its cell.

    Args:
        matrix: Square counts from `confusion_matrix`, rows true and columns predicted.
        title: First title line; the second gives the accuracy. Defaults to `"Confusion matrix"`.
        class_names: Tick labels; defaults to the class indices.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"`matrix` must be a non-empty square count matrix; got shape {matrix.shape}.")
    num_classes = matrix.shape[0]
    names = [str(index) for index in range(num_classes)] if class_names is None else [str(name) for name in class_names]
    if len(names) != num_classes:
        raise ValueError(f"`class_names` has {len(names)} names for {num_classes} classes.")
    total = int(matrix.sum())
    correct = int(np.trace(matrix))
    accuracy = f"{correct / total:.2%}" if total else "n/a"

    size = max(4.0, 0.55 * num_classes + 2.0)
    figure = _new_figure((size + 1.0, size))
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, shrink=0.8)
    threshold = matrix.max() / 2 if total else 0
    for row in range(num_classes):
        for column in range(num_classes):
            count = int(matrix[row, column])
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > threshold else "black")
    axes.set_xticks(range(num_classes), names)
    axes.set_yticks(range(num_classes), names)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_title(f"{title}\n{correct}/{total} correct ({accuracy})")
    return figure


def plot_confusion_matrix(
    y_true: np.ndarray | Sequence[int],
    y_pred: np.ndarray | Sequence[int],
    num_classes: int,
    path: str | os.PathLike,
    *,
    title: str = "Confusion matrix",
    class_names: Sequence[str] | None = None,
) -> Path:
    """Saves the confusion matrix of `y_pred` against `y_true` to `path` and returns the path.

    Raises:
        ValueError: as `confusion_matrix`, or for a file type matplotlib cannot write.
        RunDirError: when the file cannot be written.
    """
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    return save_figure(confusion_matrix_figure(matrix, title=title, class_names=class_names), path)


def _objective_direction(objective: str, direction: str | None) -> str:
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


def trial_objectives_figure(trials: Sequence[Mapping[str, object]], objective: str, *, direction: str | None = None) -> Figure:
    """Returns each trial's objective (dots, in trial order) and the best so far (a step line).

    Args:
        trials: One mapping per trial, in the order they ran, holding `objective`;
            a missing or `None` value marks a failed trial (drawn as a gap).
        objective: The key to plot, e.g. `"val_accuracy"`.
        direction: `"min"` or `"max"`; by default inferred from the name as KerasTuner
            does (`*loss` minimized, `*accuracy` maximized).

    Raises:
        ValueError: for no trials, a non-numeric objective value, or an unknown direction.
    """
    if not trials:
        raise ValueError("`trials` is empty; pass one mapping per finished trial.")
    direction = _objective_direction(objective, direction)
    values: list[float | None] = []
    for index, trial in enumerate(trials):
        value = trial.get(objective)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))):
            raise ValueError(f"trial {index + 1} has {objective}={value!r}; expected a number or None. Keys: {sorted(trial)}.")
        values.append(None if value is None else float(value))
    numbers = list(range(1, len(values) + 1))
    scores = [math.nan if value is None else value for value in values]

    figure = _new_figure((max(5.0, 0.25 * len(values) + 3.0), 4.0))
    axes = figure.subplots()
    axes.plot(numbers, scores, linestyle="none", marker="o", label=objective)
    axes.plot(numbers, best_so_far(values, direction), drawstyle="steps-post", label=f"best so far ({direction})")
    axes.set_xlabel("trial")
    axes.set_ylabel(objective)
    num_failed = values.count(None)
    axes.set_title(f"{objective} per trial" + (f" ({num_failed} without a value)" if num_failed else ""))
    _integer_ticks(axes.xaxis)
    axes.set_xlim(0.5, len(values) + 0.5)
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def plot_trial_objectives(trials: Sequence[Mapping[str, object]], objective: str, path: str | os.PathLike, *, direction: str | None = None) -> Path:
    """Saves `trial_objectives_figure(trials, objective, direction=direction)` to `path`.

    Raises:
        ValueError: as `trial_objectives_figure`, or for a file type matplotlib cannot write.
        RunDirError: when the file cannot be written.
    """
    return save_figure(trial_objectives_figure(trials, objective, direction=direction), path)


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
    direction = _objective_direction(objective, direction)
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

    figure = _new_figure((max(6.0, 0.2 * num_trials + 4.0), 4.5))
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
    _integer_ticks(axes.xaxis)
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


def save_figure(figure: Figure, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Writes `figure` to `path` through a temporary file in the same folder and a rename.

    The file type follows `path`'s suffix (`.png`, `.svg`, `.pdf`, ...).

    Raises:
        ValueError: when matplotlib cannot write that file type.
        RunDirError: when the file system refuses the write.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    target = Path(path)
    file_type = target.suffix.lstrip(".").lower()
    supported = FigureCanvasAgg(figure).get_supported_filetypes()
    if file_type not in supported:
        raise ValueError(f"cannot save a plot as {str(target)!r}: use one of the suffixes {', '.join('.' + name for name in sorted(supported))}.")
    with rundir.atomic_path(target) as temp:
        figure.savefig(temp, format=file_type, dpi=dpi)
    return target
