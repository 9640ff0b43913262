"""Scores the test split in one pass: the model's predictions, then its own compiled loss and metrics on them.

A run needs both the test scores and the predicted classes (for the confusion
matrix). `evaluate` and `predict` would each trace a function of their own and
run the rows through the model again; here the rows go through the model once,
eagerly (one pass is not worth a trace), and the loss and metrics the model was
compiled with are computed on those predictions: the numbers `evaluate` gives,
to float rounding. `core.Trainer.score_test_split` is the one caller that trains;
`evaluation.evaluate_saved_model` scores a saved model the same way, and
`compare` scores its validation curve and its test split with `score_rows`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

__all__ = ["TestScores", "predict_probabilities", "score_rows", "score_test_split"]

# Rows per eager forward pass: few passes, while the activations of one stay small.
ROWS_PER_PASS = 1024


@dataclasses.dataclass(frozen=True)
class TestScores:
    """The test split, scored once.

    Attributes:
        metrics: The model's loss and compiled metrics, `{"test_loss": ...,
            "test_accuracy": ...}`.
        predicted_labels: The class each test row is predicted to be.
    """

    metrics: dict[str, float]
    predicted_labels: np.ndarray


def predict_probabilities(model: keras.Model, x: Any, *, rows_per_pass: int = ROWS_PER_PASS) -> np.ndarray:
    """Returns `model`'s outputs for `x`, computed eagerly `rows_per_pass` rows at a time (inference mode)."""
    if rows_per_pass < 1:
        raise ValueError(f"`rows_per_pass` ({rows_per_pass!r}) must be an integer >= 1.")
    passes = [
        keras.ops.convert_to_numpy(model(x[start:start + rows_per_pass], training=False))
        for start in range(0, len(x), rows_per_pass)
    ]
    return np.concatenate(passes) if passes else np.zeros((0, *model.output_shape[1:]), dtype=np.float32)


def score_rows(model: keras.Model, x: Any, y: np.ndarray, *, rows_per_pass: int = ROWS_PER_PASS) -> dict[str, float]:
    """Scores rows with the model's own compiled loss and metrics, from one pass of predictions.

    Args:
        model: A compiled model.
        x: The rows, as the model takes them.
        y: Their integer labels.
        rows_per_pass: Rows per forward pass. Defaults to `ROWS_PER_PASS`.

    Returns:
        The compiled metrics and the loss, named and ordered as
        `evaluate(..., return_dict=True)` returns them.
    """
    return _scores(model, np.asarray(y), predict_probabilities(model, x, rows_per_pass=rows_per_pass))


def score_test_split(model: keras.Model, x_test: Any, y_test: np.ndarray, *, rows_per_pass: int = ROWS_PER_PASS) -> TestScores:
    """Scores the test split as `score_rows` does, and keeps the predicted classes.

    Args:
        model: A compiled model.
        x_test: The test rows, as the model takes them.
        y_test: Their integer labels.
        rows_per_pass: Rows per forward pass. Defaults to `ROWS_PER_PASS`.

    Returns:
        A `TestScores`: `metrics` as `evaluate(..., return_dict=True)` names
        them, with a `test_` prefix, and the predicted classes.
    """
    probabilities = predict_probabilities(model, x_test, rows_per_pass=rows_per_pass)
    scores = _scores(model, np.asarray(y_test), probabilities)
    return TestScores(
        metrics={f"test_{name}": value for name, value in scores.items()},
        predicted_labels=probabilities.argmax(axis=-1),
    )


def _scores(model: keras.Model, labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    model.reset_metrics()  # The compiled metrics hold the last validation's state.
    results = model.compute_metrics(None, labels, probabilities)
    # The compiled metrics, then the compiled loss, in `evaluate`'s order (its own tracker's `loss` is unused here).
    scores = {name: float(value) for name, value in results.items() if name != "loss"}
    scores["loss"] = float(model.compute_loss(y=labels, y_pred=probabilities, training=False))
    model.reset_metrics()
    return scores
