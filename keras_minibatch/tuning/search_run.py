"""Running a search folder's trials: the tuner built or reloaded, KerasTuner's search run or served.

`open_tuner` builds the configured tuner (`make_tuner`: one of `tuners`, with our
search's settings) over `MLPHyperModel` in the folder's KerasTuner project, or
reloads the project it finds there; `run_trials` runs the trials left on this
process (a local search) or, on a distributed search's chief, serves them to the
workers; `search_until_fatal` runs KerasTuner's search and ends it in one
`SearchError` line on an error every trial would share.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras_tuner

from keras_minibatch import compat
from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.training import report
from keras_minibatch.training.validation_rows import split_for_validation
from keras_minibatch.training.distribution import trial_strategy
from keras_minibatch.tuning.hypermodel import MLPHyperModel
from keras_minibatch.tuning.oracles import hyperband_cap_note
from keras_minibatch.tuning.search_config import SearchConfig
from keras_minibatch.tuning.search_result import SearchError
from keras_minibatch.tuning.trial_recorder import TrialRecorder, write_hparams_experiment
from keras_minibatch.tuning.tuners import BayesianOptimization, GridSearch, Hyperband, RandomSearch, distributed_role

__all__ = ["HPARAMS_METRICS", "make_tuner", "open_tuner", "run_trials", "search_until_fatal"]

TENSORBOARD_DIR = run_files.TENSORBOARD_DIR
TUNER_PROJECT = run_files.TUNER_PROJECT
# What the HParams dashboard shows per trial (each trial's metrics at its best epoch).
HPARAMS_METRICS = ("val_accuracy", "val_loss", "accuracy", "loss", "seconds")


def make_tuner(
    search_config: SearchConfig,
    hypermodel: keras_tuner.HyperModel,
    *,
    max_epochs: int,
    seed: int,
    directory: str,
    project_name: str,
    distribution_strategy: Any = None,
) -> keras_tuner.Tuner:
    """Builds (or, when `directory/project_name` holds one, reloads) the configured tuner.

    Failed trials never stop the search early: KerasTuner's consecutive-failure
    limit is set above `max_trials`, and the caller reports failures at the end.

    Args:
        search_config: Tuner kind, budget, objective and Hyperband factor.
        hypermodel: The search space.
        max_epochs: Hyperband's most epochs per trial (the training epochs).
        seed: Seed of the oracle's sampling, >= 1 (KerasTuner replaces 0 with a random seed).
        directory: Parent folder of the tuner project.
        project_name: Project folder name inside `directory`.
        distribution_strategy: A `tf.distribute` strategy for every trial, or `None`.

    Returns:
        One of `tuners`' `RandomSearch`, `BayesianOptimization`, `GridSearch` or
        `Hyperband` (one Hyperband iteration, capped at `max_trials`).
    """
    common = {
        "objective": keras_tuner.Objective(search_config.objective, direction=search_config.direction),
        "seed": seed,
        "max_consecutive_failed_trials": search_config.max_trials + 1,
        "max_trials": search_config.max_trials,
        "executions_per_trial": search_config.executions_per_trial,
        "directory": directory,
        "project_name": project_name,
        "overwrite": False,
        "distribution_strategy": distribution_strategy,
    }
    kind = search_config.tuner
    if kind == "random":
        return RandomSearch(hypermodel, **common)
    if kind == "bayesian":
        return BayesianOptimization(hypermodel, num_initial_points=search_config.num_initial_points, **common)
    if kind == "grid":
        return GridSearch(hypermodel, **common)
    return Hyperband(hypermodel, max_epochs=max_epochs, factor=search_config.hyperband_factor, hyperband_iterations=1, **common)


def open_tuner(train_config: TrainConfig, search_config: SearchConfig, path: Path, input_shape, num_classes: int, strategy: Any) -> tuple[keras_tuner.Tuner, str]:
    """Builds or reloads the tuner of the search folder `path`; returns it and what KerasTuner printed meanwhile."""
    hypermodel = MLPHyperModel(input_shape, num_classes, search_config=search_config, train_config=train_config)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # "Reloading Tuner from ..." goes to print_fn instead
        tuner = make_tuner(
            # KerasTuner reads seed 0 as "no seed" (`seed or random.randint(...)`): shift it by one.
            search_config, hypermodel, max_epochs=train_config.epochs, seed=train_config.seed + 1,
            directory=str(path), project_name=TUNER_PROJECT, distribution_strategy=strategy,
        )
        # KerasTuner reloads a project only when it finds this process's own tuner file
        # (`tuner/<KERASTUNER_TUNER_ID>.json`); a distributed search's chief saved `chief.json`.
        if distributed_role() != "worker" and not tuner.oracle.trials and (path / TUNER_PROJECT / "oracle.json").is_file():
            tuner.oracle.reload()
    return tuner, printed.getvalue().strip()
def run_trials(
    train_config: TrainConfig, search_config: SearchConfig, path: Path, dataset: Dataset, *,
    role: str, say: Callable[[str], Any], print_fn: Callable[[str], Any] | None, server: Any = None, identity: str = "",
    progress_bar: bool = False,
) -> tuple[keras_tuner.Tuner, list[dict[str, Any]]]:
    """Runs (or, as the chief, serves through `server`) the trials left; returns the tuner and every trial's row.

    Args:
        train_config: The training settings of every trial.
        search_config: Tuner, budget, objective and space.
        path: The search folder, already checked and claimed.
        dataset: The search's data.
        role: `"local"` or `"chief"`.
        say: Receives the header lines.
        print_fn: Receives each trial's line; `None` prints none.
        server: The chief's `ChiefServer`; `None` for a local search.
        identity: The search's identity (`search_folder.search_identity`), which workers must send.
        progress_bar: Whether each trial shows a live progress line (a terminal), replaced by its line when it ends.
    """
    x_train, y_train, num_fit_samples = split_for_validation(dataset, train_config)
    tuner, tuner_said = open_tuner(train_config, search_config, path, dataset.input_shape, dataset.num_classes, trial_strategy(train_config))
    if tuner_said:
        say(tuner_said)
    tensorboard_dir = path / TENSORBOARD_DIR
    if not any(tensorboard_dir.glob("events.out.tfevents*")):
        names = [hp.name for hp in tuner.oracle.get_space().space]
        write_hparams_experiment(tensorboard_dir, names, HPARAMS_METRICS)
    recorder = TrialRecorder(
        path, tensorboard_dir=tensorboard_dir, objective=search_config.objective, max_trials=search_config.max_trials, print_fn=print_fn,
        role=role, progress_bar=progress_bar and role == "local",
    )
    if role == "chief":
        tuner.oracle.recorder = recorder  # the chief trains nothing: its oracle hears of each trial
    else:
        tuner.recorder = recorder
    say(report.format_block([
        ("search:", f"{search_config.tuner}, up to {search_config.max_trials} trials of {train_config.epochs} epochs; {len(tuner.oracle.trials)} already in the folder"),
        ("objective:", f"{search_config.objective} ({search_config.direction}imized) on {len(y_train) - num_fit_samples} validation rows of {len(y_train)} training rows"),
        ("folder:", str(path)),
    ]))
    if search_config.tuner == "hyperband":
        note = hyperband_cap_note(search_config.max_trials, train_config.epochs, search_config.hyperband_factor)
        if note:
            say(note)
    if role == "chief" and _search_is_over(tuner.oracle, search_config.max_trials):
        say("chief: every trial has ended already; no oracle to serve")
    elif role == "chief":
        say(
            f"chief: serving KerasTuner's oracle on {server.address.target} until every trial has ended (this process trains none); "
            f"a worker silent for {server.heartbeat_timeout:g} s has its trial given to another worker"
        )
        tuner.oracle.verbose = 0  # the recorder prints the trial lines
        tuner.save()
        server.serve(tuner.oracle, identity)
    else:
        search_until_fatal(tuner, x_train, y_train, train_config)
    return tuner, recorder.write(tuner.oracle.trials)


def search_until_fatal(
    tuner: keras_tuner.Tuner, x_train: Any, y_train: Any, train_config: TrainConfig, *, passed_on: tuple[type[Exception], ...] = (),
) -> None:
    """Runs KerasTuner's search; an error every trial would share ends it in one `SearchError` line.

    `passed_on` names errors the caller handles itself (a worker's word from its chief).
    """
    try:
        with compat.debug_tracebacks_off():
            tuner.search(x_train, y_train, epochs=train_config.epochs, validation_split=train_config.validation_split, shuffle=True, verbose=0)
    except (rundir.RunDirError, *passed_on):
        raise  # A full or read-only disk: the CLI names the file.
    except keras_tuner.errors.FatalError as error:
        raise SearchError(f"the search stopped: {error} (every trial would fail the same way; fix it and start again, --overwrite replaces this folder)") from error


def _search_is_over(oracle: Any, max_trials: int) -> bool:
    """Whether a reloaded oracle has created its last trial and every trial has ended."""
    return len(oracle.trials) >= max_trials and all(trial.status not in ("RUNNING", "IDLE") for trial in oracle.trials.values())
