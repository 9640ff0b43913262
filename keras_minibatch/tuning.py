"""Hyperparameter search: KerasTuner's tuners on the training split, the winner scored once.

`search` runs the configured KerasTuner tuner over `MLPHyperModel` on the training
rows, ordered so `validation_split` holds out every class, with the objective on
the validation metrics. The test split is not touched until the search is over:
then the best trial's hyperparameters are retrained on every training row, for the
epochs at which that trial's objective peaked, and the test split is scored once.

A search folder holds:

| path | what |
| --- | --- |
| `search_config.json` | both configs, the data fingerprint, input shape, versions |
| `tuner/` | KerasTuner's project (`oracle.json`, `trial_*/`); `load_tuner` reopens it |
| `trials.json`, `trials.csv` | one row per trial (see `keras_minibatch.trials`) |
| `best_hyperparameters.json` | the winner's values, trial, objective and `TrainConfig` |
| `model.keras`, `metrics.json` | the retrained winner; `test_accuracy`, `test_loss` |
| `tensorboard/<trial_id>/` | HParams session and metrics; `execution<k>/` scalars |
| `tensorboard/winner/` | the retraining's scalars and the test metrics |
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import keras_tuner
import numpy as np

from keras_minibatch import report, rundir, training
from keras_minibatch.config import TrainConfig
from keras_minibatch.data import Dataset, load_dataset
from keras_minibatch.hypermodel import (
    MLPHyperModel,
    StopOnNonFiniteLoss,
    train_config_for,
)
from keras_minibatch.model import build_mlp
from keras_minibatch.plugins import load_callback
from keras_minibatch.search_config import SearchConfig
from keras_minibatch.search_dir import (
    SEARCH_CONFIG_FILE,
    check_same_search,
    check_search_dir,
    config_fingerprint,
    prepare_search_dir,
)
from keras_minibatch.trials import (
    TrialRecorder,
    format_trials_table,
    summarize_failures,
    write_hparams_experiment,
)
from keras_minibatch.tuners import make_tuner

__all__ = ["SearchError", "SearchResult", "load_tuner", "search"]

BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.json"
TUNER_PROJECT = "tuner"
TENSORBOARD_DIR = training.TENSORBOARD_DIR
WINNER_RUN = "winner"
# What the HParams dashboard shows per trial (each trial's metrics at its best epoch).
HPARAMS_METRICS = ("val_accuracy", "val_loss", "accuracy", "loss", "seconds")


class SearchError(RuntimeError):
    """A search produced no usable winner: no trial completed, or retraining the winner failed."""


@dataclasses.dataclass
class SearchResult:
    """What a search produced.

    Attributes:
        best_hyperparameters: The winner's values in KerasTuner's names
            (`num_layers`, `units_1`, ..., `batch_size`).
        best_trial_id: KerasTuner's id of the winning trial.
        objective: The objective name, e.g. `"val_accuracy"`.
        trials: One row per trial (`keras_minibatch.trials`), by trial number.
        test_metrics: The retrained winner on the test split, scored once:
            `{"test_accuracy": ..., "test_loss": ...}`.
        retrain_epochs: Epochs the winner was retrained for.
        model: The retrained winner.
        workdir: The search folder.
        tuner: KerasTuner's tuner, for its own API (`get_best_models`, `results_summary`...).
    """

    best_hyperparameters: dict[str, Any]
    best_trial_id: str
    objective: str
    trials: list[dict[str, Any]]
    test_metrics: dict[str, float]
    retrain_epochs: int
    model: keras.Model
    workdir: Path
    tuner: keras_tuner.Tuner

    @property
    def num_failed(self) -> int:
        """Trials that failed (for example, a NaN loss)."""
        return sum(row["status"] in ("FAILED", "INVALID") for row in self.trials)

    @property
    def failure_summary(self) -> str:
        """`"1 of 3 trials failed: <reason> (trial 2)"`, or `""`."""
        return summarize_failures(self.trials)


def _data_fingerprint(dataset: Dataset) -> dict[str, Any]:
    """The data part of a search folder's fingerprint (`search_dir`): sizes, source, a hash."""
    digest = hashlib.sha256()
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        digest.update(np.ascontiguousarray(array).tobytes())
    return {
        "source": dataset.source, "train_samples": len(dataset.y_train), "test_samples": len(dataset.y_test),
        "input_shape": list(dataset.input_shape), "num_classes": dataset.num_classes, "sha256": digest.hexdigest(),
    }


def _strategy(train_config: TrainConfig) -> Any:
    return None if train_config.distribution == "none" else training.make_strategy(train_config.distribution)


def _build(config: TrainConfig, dataset: Dataset, strategy: Any) -> keras.Model:
    keras.utils.set_random_seed(config.seed)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        return build_mlp(
            dataset.input_shape, dataset.num_classes, hidden_units=config.hidden_units, activation=config.activation,
            dropout=config.dropout, optimizer=config.optimizer, learning_rate=config.learning_rate,
            steps_per_execution=config.steps_per_execution,
        )


def _score_test_split(model: keras.Model, dataset: Dataset, batch_size: int) -> dict[str, float]:
    scores = model.evaluate(dataset.x_test, dataset.y_test, batch_size=max(batch_size, 256), verbose=0, return_dict=True)
    return {f"test_{name}": float(value) for name, value in scores.items()}


def _make_tuner(train_config: TrainConfig, search_config: SearchConfig, path: Path, input_shape, num_classes: int, strategy: Any) -> tuple[keras_tuner.Tuner, str]:
    """Builds or reloads the tuner; returns it and what KerasTuner printed meanwhile."""
    hypermodel = MLPHyperModel(input_shape, num_classes, search_config=search_config, train_config=train_config)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # "Reloading Tuner from ..." goes to print_fn instead
        tuner = make_tuner(
            # KerasTuner reads seed 0 as "no seed" (`seed or random.randint(...)`): shift it by one.
            search_config, hypermodel, max_epochs=train_config.epochs, seed=train_config.seed + 1,
            directory=str(path), project_name=TUNER_PROJECT, distribution_strategy=strategy,
        )
    return tuner, printed.getvalue().strip()


def load_tuner(workdir: str | os.PathLike) -> keras_tuner.Tuner:
    """Reopens a search folder's KerasTuner project with KerasTuner's own reload.

    Returns:
        The tuner, with every trial of the folder (`tuner.oracle.trials`).

    Raises:
        RunDirError: when `workdir` holds no `search_config.json`.
    """
    path = Path(workdir)
    if not (path / SEARCH_CONFIG_FILE).is_file():
        raise rundir.RunDirError(f"{str(path)!r} holds no {SEARCH_CONFIG_FILE}; is it a search folder?")
    saved = json.loads((path / SEARCH_CONFIG_FILE).read_text(encoding="utf-8"))
    train_config = TrainConfig.from_dict(saved["train_config"])
    search_config = SearchConfig.from_dict(saved["search_config"])
    tuner, _ = _make_tuner(train_config, search_config, path, saved["input_shape"], saved["num_classes"], None)
    return tuner


def search(
    train_config: TrainConfig,
    search_config: SearchConfig,
    workdir: str | os.PathLike,
    *,
    dataset: Dataset | None = None,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int = 1,
    print_fn: Callable[[str], Any] = print,
) -> SearchResult:
    """Searches hyperparameters with KerasTuner, then retrains the winner and scores it once.

    Args:
        train_config: Data, epochs per trial, validation split, seed, early
            stopping and plug-in callbacks; its model values are the defaults
            of the space (a grid search's first trial).
        search_config: Tuner, budget, objective and search space.
        workdir: The search folder (see the module docstring).
        dataset: Already loaded data; by default loads `train_config.dataset`.
        resume: Continue the search in `workdir`: ended trials are kept, the
            trial running when the process died is run again, and no more than
            `max_trials` trials exist in all. Defaults to `False`.
        overwrite: Delete what `workdir` holds first. Defaults to `False`.
        verbose: `0` prints nothing; `1` prints a header, a line per trial, the
            trial table and the test metrics. Defaults to `1`.
        print_fn: Receives each printed line. Defaults to `print`.

    Returns:
        A `SearchResult`.

    Raises:
        ConfigError: when both `resume` and `overwrite` are set.
        RunDirError: when `workdir` holds files and neither `resume` nor
            `overwrite` is set, or holds a search of another space, objective,
            data or training settings and `overwrite` is not set.
        CallbackSpecError: when a plug-in callback of `train_config` cannot load.
        DataError: when the data source is missing or malformed.
        SearchError: when no trial completed (the message counts and explains
            the failures), or retraining the winner diverged.
    """
    saved = check_search_dir(workdir, resume=resume, overwrite=overwrite, train_config=train_config, search_config=search_config)
    path = prepare_search_dir(workdir, resume=resume, overwrite=overwrite)
    for spec in train_config.callbacks:
        load_callback(spec)  # a broken plug-in fails now, not once per trial
    if dataset is None:
        dataset = load_dataset(train_config.dataset, test_fraction=train_config.test_fraction, seed=train_config.seed, max_train_samples=train_config.max_train_samples)
    fingerprint = {**config_fingerprint(train_config, search_config), "data": _data_fingerprint(dataset)}
    if saved is not None:
        check_same_search(saved.get("fingerprint", {}), fingerprint, path)
    rundir.write_json_atomic(path / SEARCH_CONFIG_FILE, {
        "fingerprint": fingerprint, "search_config": search_config.to_dict(), "train_config": train_config.to_dict(),
        "input_shape": list(dataset.input_shape), "num_classes": dataset.num_classes, "versions": training.library_versions(),
    })
    say = print_fn if verbose else (lambda line: None)
    x_train, y_train, num_fit_samples = training.split_for_validation(dataset, train_config)
    strategy = _strategy(train_config)
    tuner, tuner_said = _make_tuner(train_config, search_config, path, dataset.input_shape, dataset.num_classes, strategy)
    if tuner_said:
        say(tuner_said)
    tensorboard_dir = path / TENSORBOARD_DIR
    if not any(tensorboard_dir.glob("events.out.tfevents*")):
        names = [hp.name for hp in tuner.oracle.get_space().space]
        write_hparams_experiment(tensorboard_dir, names, HPARAMS_METRICS)
    tuner.recorder = TrialRecorder(path, tensorboard_dir=tensorboard_dir, objective=search_config.objective, max_trials=search_config.max_trials, print_fn=print_fn if verbose else None)
    say(
        f"search: {search_config.tuner}, up to {search_config.max_trials} trials of {train_config.epochs} epochs, "
        f"{search_config.objective} ({search_config.direction}imized) on {len(y_train) - num_fit_samples} validation rows "
        f"of {len(y_train)} training rows; {len(tuner.oracle.trials)} trials already in {path}"
    )
    tuner.search(x_train, y_train, epochs=train_config.epochs, validation_split=train_config.validation_split, shuffle=True, verbose=0)

    rows = tuner.recorder.write(tuner.oracle.trials)
    completed = [row for row in rows if row["status"] == "COMPLETED" and row["objective"] is not None]
    if not completed:
        raise SearchError(f"no trial completed ({summarize_failures(rows) or 'no trial ran'}); the trial table is in {path / 'trials.json'}")
    sign = -1.0 if search_config.direction == "max" else 1.0
    best = min(completed, key=lambda row: (sign * row["objective"], row["number"]))
    retrain_epochs = best["best_epoch"] or train_config.epochs
    winner_config = train_config_for(train_config, best["hyperparameters"]).replace(epochs=retrain_epochs)

    # The winner learns from every training row (validation rows too), then the only look at the test split.
    model = _build(winner_config, dataset, strategy)
    guard = StopOnNonFiniteLoss()
    winner_logdir = tensorboard_dir / WINNER_RUN
    model.fit(
        dataset.x_train, dataset.y_train, batch_size=winner_config.batch_size, epochs=retrain_epochs, shuffle=True, verbose=0,
        callbacks=[guard, keras.callbacks.TensorBoard(log_dir=str(winner_logdir), write_graph=False, profile_batch=0)],
    )
    if guard.reason:
        raise SearchError(f"retraining trial {best['number']}'s hyperparameters on every training row failed: {guard.reason}")
    test_metrics = _score_test_split(model, dataset, winner_config.batch_size)
    report.write_test_scalars(winner_logdir, test_metrics, step=retrain_epochs)

    with rundir.atomic_path(path / training.MODEL_FILE) as temp_model_path:
        model.save(temp_model_path)
    rundir.write_json_atomic(path / BEST_HYPERPARAMETERS_FILE, {
        "trial_id": best["trial_id"], "objective": search_config.objective, "value": best["objective"],
        "hyperparameters": best["hyperparameters"], "train_config": winner_config.to_dict(),
    })
    rundir.write_json_atomic(path / training.METRICS_FILE, {
        **test_metrics, "best_trial_id": best["trial_id"], search_config.objective: best["objective"],
        "retrain_epochs": retrain_epochs, "num_trials": len(rows), "num_completed": len(completed),
        "num_failed": len(rows) - len(completed), "failures": summarize_failures(rows) or None,
    })
    say(format_trials_table(rows, search_config.objective))
    say(f"winner: trial {best['number']} ({search_config.objective} {best['objective']:.4f}), retrained on all {len(dataset.y_train)} training rows for {retrain_epochs} epoch{'s' if retrain_epochs != 1 else ''}")
    say(report.format_test_metrics(test_metrics))
    say(f"search folder: {path}")
    return SearchResult(
        best_hyperparameters=dict(best["hyperparameters"]), best_trial_id=best["trial_id"], objective=search_config.objective,
        trials=rows, test_metrics=test_metrics, retrain_epochs=retrain_epochs, model=model, workdir=path, tuner=tuner,
    )
