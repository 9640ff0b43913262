"""The plots `train` writes into a run folder: learning curves and the test split's confusion matrix.

The `*_figure` functions return the figure for notebooks and tests; the `plot_*`
functions save it atomically (see `figures.save_figure`) and return the path.
Imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from keras_minibatch.plots.figures import integer_ticks, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_MAX_EPOCHS_WITH_MARKERS = 30  # More epochs than this: the markers would hide the lines.


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

    figure = new_figure((5.0 * len(metrics), 4.0))
    for axes, name in zip(figure.subplots(1, len(metrics), squeeze=False)[0], metrics):
        axes.plot(epochs, series[name], marker=marker, label="train")
        if f"val_{name}" in series:
            axes.plot(epochs, series[f"val_{name}"], marker=marker, label="validation")
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        integer_ticks(axes.xaxis)
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
    figure = new_figure((size + 1.0, size))
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

