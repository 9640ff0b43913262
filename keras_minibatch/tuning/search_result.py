"""What a search produced (`SearchResult`), and the error of a search without a usable winner.

Standard library only, so the command line can name `SearchError` before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_minibatch.tuning.trial_table import summarize_failures

if TYPE_CHECKING:
    import keras
    import keras_tuner

__all__ = ["SearchError", "SearchResult"]


class SearchError(RuntimeError):
    """A search produced no usable winner: no trial completed, or retraining the winner failed."""


@dataclasses.dataclass
class SearchResult:
    """What a search produced.

    Attributes:
        best_hyperparameters: The winner's values in KerasTuner's names
            (`num_layers`, `units_1`, ..., `batch_size`); `{}` on a worker.
        best_trial_id: KerasTuner's id of the winning trial; `None` on a worker.
        objective: The objective name, e.g. `"val_accuracy"`.
        trials: One row per trial (`keras_minibatch.tuning.trial_table`), by trial
            number; on a worker, the trials this process ran.
        test_metrics: The retrained winner on the test split, scored once:
            `{"test_accuracy": ..., "test_loss": ...}`; `{}` when the winner was
            not retrained (`retrain_winner=False`, or on a worker).
        retrain_epochs: Epochs the winner is retrained for; `None` on a worker.
        model: The retrained winner, or `None` when it was not retrained.
        workdir: The search folder.
        tuner: KerasTuner's tuner, for its own API (`get_best_models`, `results_summary`...);
            `None` on a worker that came after the search was over.
        role: `"local"`, or in a distributed search `"chief"` or `"worker"`.
    """

    best_hyperparameters: dict[str, Any]
    best_trial_id: str | None
    objective: str
    trials: list[dict[str, Any]]
    test_metrics: dict[str, float]
    retrain_epochs: int | None
    model: keras.Model | None
    workdir: Path
    tuner: keras_tuner.Tuner | None
    role: str = "local"

    @property
    def num_failed(self) -> int:
        """Trials that failed (for example, a NaN loss)."""
        return sum(row["status"] in ("FAILED", "INVALID") for row in self.trials)

    @property
    def failure_summary(self) -> str:
        """`"1 of 3 trials failed: <reason> (trial 2)"`, or `""`."""
        return summarize_failures(self.trials)
