"""A search's winner: picked from the completed trials, retrained on every training row, scored once.

`pick_winner` takes the best completed trial (ties go to the earlier trial) and
writes `best_hyperparameters.json`; `retrain_winner` retrains its
hyperparameters on every training row (validation rows too), for the epochs at
which the trial's objective peaked, then takes the search's only look at the
test split and writes `model.keras` and `metrics.json`. A resumed search whose
winner is the one already retrained and scored keeps that score
(`earlier_score`): the test split is not looked at again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import keras

from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.training import report
from keras_minibatch.training.core import Trainer
from keras_minibatch.tuning.search_config import SearchConfig
from keras_minibatch.tuning.search_result import SearchError
from keras_minibatch.tuning.trial_config import train_config_for
from keras_minibatch.tuning.trial_table import summarize_failures

__all__ = ["BEST_HYPERPARAMETERS_FILE", "WINNER_RUN", "earlier_score", "pick_winner", "retrain_winner"]

BEST_HYPERPARAMETERS_FILE = run_files.BEST_HYPERPARAMETERS_FILE
WINNER_RUN = run_files.WINNER_RUN


def pick_winner(rows: list[dict[str, Any]], train_config: TrainConfig, search_config: SearchConfig, path: Path) -> tuple[dict[str, Any], TrainConfig]:
    """Returns the best completed trial's row and its settings for retraining; writes `best_hyperparameters.json`."""
    completed = [row for row in rows if row["status"] == "COMPLETED" and row["objective"] is not None]
    if not completed:
        raise SearchError(f"no trial completed ({summarize_failures(rows) or 'no trial ran'}); the trial table is in {path / run_files.TRIALS_JSON}")
    sign = -1.0 if search_config.direction == "max" else 1.0
    best = min(completed, key=lambda row: (sign * row["objective"], row["number"]))
    retrain_epochs = best["best_epoch"] or train_config.epochs
    winner_config = train_config_for(train_config, best["hyperparameters"]).replace(epochs=retrain_epochs)
    rundir.write_json_atomic(path / BEST_HYPERPARAMETERS_FILE, {
        "trial_id": best["trial_id"], "objective": search_config.objective, "value": best["objective"],
        "hyperparameters": best["hyperparameters"], "train_config": winner_config.to_dict(),
    })
    return best, winner_config


def retrain_winner(
    best: dict[str, Any], winner_config: TrainConfig, dataset: Dataset, path: Path, rows: list[dict[str, Any]], search_config: SearchConfig,
    *, print_epochs: bool = False, progress_bar: bool = False,
) -> tuple[keras.Model, dict[str, float]]:
    """Retrains the winner on every training row (validation rows too), then takes the only look at the test split.

    `print_epochs` prints a line per epoch; `progress_bar` shows each epoch's progress on a live line (a terminal), as `train` does.
    """
    # An earlier winner's score must not outlive its model: `earlier_score` trusts what metrics.json names.
    (path / run_files.METRICS_FILE).unlink(missing_ok=True)
    winner_logdir = path / run_files.TENSORBOARD_DIR / WINNER_RUN
    if winner_logdir.is_dir() and not winner_logdir.is_symlink():
        shutil.rmtree(winner_logdir)  # Ours: an earlier winner's curves, which TensorBoard would draw as this one's.
    # Without validation rows there is nothing for early stopping or the plug-ins to watch.
    trainer = Trainer(winner_config, input_shape=dataset.input_shape, num_classes=dataset.num_classes, epoch_rows=len(dataset.y_train))
    outcome = trainer.train(
        (dataset.x_train, dataset.y_train), epochs=winner_config.epochs, tensorboard_dir=winner_logdir, early_stopping=False, plugins=False,
        print_epochs=print_epochs, progress_bar=progress_bar,
    )
    if outcome.divergence:
        raise SearchError(f"retraining trial {best['number']}'s hyperparameters on every training row failed: {outcome.divergence}")
    test_metrics = trainer.score_test_split(dataset.x_test, dataset.y_test).metrics
    report.write_test_scalars(winner_logdir, test_metrics, step=winner_config.epochs)
    with rundir.atomic_path(path / run_files.MODEL_FILE) as temp_model_path:
        trainer.model.save(temp_model_path)
    _write_metrics(path, test_metrics, best, winner_config, rows, search_config)
    return trainer.model, test_metrics


def earlier_score(
    best: dict[str, Any], winner_config: TrainConfig, path: Path, rows: list[dict[str, Any]], search_config: SearchConfig,
) -> tuple[keras.Model, dict[str, float]] | None:
    """The retrained winner and its test scores, when this folder already holds them for `best`.

    A resumed search with the same winner would retrain the same model and look
    at the test split again; instead its `model.keras` and scores are kept, and
    `metrics.json` is rewritten with the search's current trial counts.

    Args:
        best: The winning trial's row (`pick_winner`).
        winner_config: Its settings for retraining, `epochs` included.
        path: The search folder.
        rows: Every trial's row, for the counts in `metrics.json`.
        search_config: The search's settings (its objective names a key).

    Returns:
        `(model, test_metrics)`, or `None` when the winner still has to be
        retrained (no `metrics.json`, another winner, other epochs).
    """
    try:
        recorded = json.loads((path / run_files.METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or damaged: retrain
        return None
    if (not isinstance(recorded, dict) or recorded.get("best_trial_id") != best["trial_id"]
            or recorded.get("retrain_epochs") != winner_config.epochs or not (path / run_files.MODEL_FILE).is_file()):
        return None
    test_metrics = {key: value for key, value in recorded.items() if key.startswith("test_") and isinstance(value, float)}
    if not test_metrics:
        return None
    model = keras.models.load_model(path / run_files.MODEL_FILE)
    _write_metrics(path, test_metrics, best, winner_config, rows, search_config)
    return model, test_metrics


def _write_metrics(
    path: Path, test_metrics: dict[str, float], best: dict[str, Any], winner_config: TrainConfig, rows: list[dict[str, Any]], search_config: SearchConfig,
) -> None:
    num_completed = sum(row["status"] == "COMPLETED" and row["objective"] is not None for row in rows)
    rundir.write_json_atomic(path / run_files.METRICS_FILE, {
        **test_metrics, "best_trial_id": best["trial_id"], search_config.objective: best["objective"],
        "retrain_epochs": winner_config.epochs, "num_trials": len(rows), "num_completed": num_completed,
        "num_failed": len(rows) - num_completed, "failures": summarize_failures(rows) or None,
    })
