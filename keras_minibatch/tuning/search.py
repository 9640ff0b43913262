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
| `trials.json`, `trials.csv` | one row per trial (see `keras_minibatch.tuning.trials`) |
| `best_hyperparameters.json` | the winner's values, trial, objective and `TrainConfig` |
| `model.keras`, `metrics.json` | the retrained winner; `test_accuracy`, `test_loss` |
| `tensorboard/<trial_id>/` | HParams session and metrics; `execution<k>/` scalars |
| `tensorboard/winner/` | the retraining's scalars and the test metrics |

Distributed search is KerasTuner's chief/worker mode, which KerasTuner switches on
from `KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`
(this module reads no environment; `tuners.distributed_role` asks KerasTuner).
Every process calls `search` with the same arguments:

- the chief (`KERASTUNER_TUNER_ID=chief`) checks, empties or resumes the folder
  like a local search, then runs only KerasTuner's oracle server (its
  `tuner.search` blocks until the oracle has handed out every trial and every
  worker has been told to stop), printing a line and rewriting `trials.json` as
  each trial ends. It holds the oracle with all trials, so once the server returns
  it alone writes the summary: the trial table, `best_hyperparameters.json`, the
  retrained winner, the one test score and `metrics.json`;
- a worker waits until the chief's oracle answers (so it never touches a folder
  the chief is still checking or emptying), then runs the trials it is handed,
  writing only per-trial files (`tensorboard/<trial_id>/`, KerasTuner's
  `tuner/trial_<id>/` checkpoint and its own `tuner/<tuner id>.json`), and returns
  the rows of the trials it ran.

On one machine all processes share the folder; across machines the chief's folder
holds the summary and each worker's folder its trials' logs (Hyperband continues
trials from other trials' checkpoints, so it needs one folder shared by all).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import keras_tuner

from keras_minibatch.training import report
from keras_minibatch.runs import run_files
from keras_minibatch.runs import rundir
from keras_minibatch.training import saved_run
from keras_minibatch.config import TrainConfig
from keras_minibatch.training.core import Trainer
from keras_minibatch.training.distribution import trial_strategy
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.data.fingerprints import data_fingerprint
from keras_minibatch.data.loading import load_dataset_for
from keras_minibatch.tuning.hypermodel import MLPHyperModel, train_config_for
from keras_minibatch.runs.folder_claim import FolderClaim
from keras_minibatch.runs.locking import folder_in_use
from keras_minibatch.tuning.oracle_address import DEFAULT_HEARTBEAT_TIMEOUT, check_heartbeat_timeout, oracle_address
from keras_minibatch.training.plugins import load_callback
from keras_minibatch.training.validation_rows import split_for_validation
from keras_minibatch.tuning.search_config import SearchConfig
from keras_minibatch.runs.run_files import METRICS_FILE, MODEL_FILE, SEARCH_CONFIG_FILE, TRIALS_JSON, TUNER_PROJECT
from keras_minibatch.tuning.search_folder import (
    check_same_search,
    check_search_dir,
    config_fingerprint,
    search_differences,
    search_identity,
)
from keras_minibatch.tuning.trials import (
    TrialRecorder,
    format_trials_table,
    summarize_failures,
    write_hparams_experiment,
)
from keras_minibatch.tuning.tuners import (
    distributed_role,
    failed_trials_untraced,
    hyperband_cap_note,
    make_tuner,
    quiet_condition_protos,
)

__all__ = ["SearchError", "SearchResult", "data_fingerprint", "load_tuner", "search"]

BEST_HYPERPARAMETERS_FILE = run_files.BEST_HYPERPARAMETERS_FILE
TENSORBOARD_DIR = run_files.TENSORBOARD_DIR
WINNER_RUN = run_files.WINNER_RUN
# What the HParams dashboard shows per trial (each trial's metrics at its best epoch).
HPARAMS_METRICS = ("val_accuracy", "val_loss", "accuracy", "loss", "seconds")


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
        trials: One row per trial (`keras_minibatch.tuning.trials`), by trial number;
            on a worker, the trials this process ran.
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
        # KerasTuner reloads a project only when it finds this process's own tuner file
        # (`tuner/<KERASTUNER_TUNER_ID>.json`); a distributed search's chief saved `chief.json`.
        if distributed_role() != "worker" and not tuner.oracle.trials and (path / TUNER_PROJECT / "oracle.json").is_file():
            tuner.oracle.reload()
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
    retrain_winner: bool = True,
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT,
    verbose: int = 1,
    print_fn: Callable[[str], Any] = print,
) -> SearchResult:
    """Searches hyperparameters with KerasTuner, then retrains the winner and scores it once.

    Under KerasTuner's distributed mode this process is the chief or a worker
    (see the module docstring); only the chief checks the folder and writes the
    summary, and a worker ignores `resume` and `overwrite`.

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
        retrain_winner: Retrain the winner on every training row and score the
            test split once. `False` stops after the search (and
            `best_hyperparameters.json`): no `model.keras`, no `metrics.json`, the
            test split untouched, as a strategy comparison needs. Defaults to `True`.
        heartbeat_timeout: Distributed search only: seconds without a word after
            which the chief gives a worker's trial to another worker, and a
            worker stops waiting for its chief (at least 5). Defaults to 60.
        verbose: `0` prints nothing; `1` prints a header, a line per trial, the
            trial table and the test metrics. Defaults to `1`.
        print_fn: Receives each printed line. Defaults to `print`.

    Returns:
        A `SearchResult`.

    Raises:
        ConfigError: when both `resume` and `overwrite` are set, or KerasTuner's
            distributed-mode environment is incomplete.
        OracleAddressError: when a chief's port is taken or its address is not
            this machine's, before the folder is touched.
        RunDirError: when `workdir` holds files and neither `resume` nor
            `overwrite` is set, or holds a search of another space, objective,
            data or training settings and `overwrite` is not set.
        CallbackSpecError: when a plug-in callback of `train_config` cannot load.
        DataError: when the data source is missing or malformed.
        SearchError: when no trial completed (the message counts and explains
            the failures), or retraining the winner diverged.
    """
    role = distributed_role()
    say = print_fn if verbose else (lambda line: None)
    if role != "local":
        check_heartbeat_timeout(heartbeat_timeout)
        quiet_condition_protos()
    if role == "worker":
        return _work_for_chief(
            train_config, search_config, workdir, dataset=dataset, heartbeat_timeout=heartbeat_timeout, say=say, print_fn=print_fn if verbose else None,
        )
    with contextlib.ExitStack() as stack:
        server = None
        if role == "chief":
            from keras_minibatch.tuning.oracle_service import ChiefServer  # imports gRPC

            # The port first: a taken one is refused before anything in the folder changes.
            server = stack.enter_context(ChiefServer(oracle_address(), heartbeat_timeout=heartbeat_timeout, say=say))
        check_search_dir(workdir, resume=resume, overwrite=overwrite, train_config=train_config, search_config=search_config)
        # One process at a time per search folder (a distributed search's workers share it: they never get here).
        claim = stack.enter_context(FolderClaim(workdir, run_files.SEARCH, overwrite=overwrite, resume=resume))
        path = claim.path
        dataset, fingerprint = _prepare_folder(claim, train_config, search_config, dataset, resume=resume, overwrite=overwrite)
        tuner, rows = _run_trials(
            train_config, search_config, path, dataset, role=role, say=say, print_fn=print_fn if verbose else None,
            server=server, identity=search_identity(fingerprint),
        )
        if server is not None:
            server.finish()  # late workers hear that the search is over while the winner is retrained
        best, winner_config = _pick_winner(rows, train_config, search_config, path)
        say(format_trials_table(rows, search_config.objective))
        result = SearchResult(
            best_hyperparameters=dict(best["hyperparameters"]), best_trial_id=best["trial_id"], objective=search_config.objective,
            trials=rows, test_metrics={}, retrain_epochs=winner_config.epochs, model=None, workdir=path, tuner=tuner, role=role,
        )
        if not retrain_winner:
            say(f"winner: trial {best['number']} ({search_config.objective} {best['objective']:.4f}); not retrained, the test split was not scored")
            say(f"search folder: {path}")
            return result
        model, test_metrics = _retrain_winner(best, winner_config, dataset, path, rows, search_config)
        say(f"winner: trial {best['number']} ({search_config.objective} {best['objective']:.4f}), retrained on all {len(dataset.y_train)} training rows for {winner_config.epochs} epoch{'s' if winner_config.epochs != 1 else ''}")
        say(report.format_test_metrics(test_metrics))
        say(f"search folder: {path}")
        return dataclasses.replace(result, test_metrics=test_metrics, model=model)


def _prepare_folder(
    claim: FolderClaim, train_config: TrainConfig, search_config: SearchConfig, dataset: Dataset | None, *, resume: bool, overwrite: bool,
) -> tuple[Dataset, dict[str, Any]]:
    """Checks the claimed folder, the plug-ins and the data; records the search; returns the data and the search's fingerprint."""
    path = claim.path
    saved = check_search_dir(path, resume=resume, overwrite=overwrite, train_config=train_config, search_config=search_config)
    for spec in train_config.callbacks:
        load_callback(spec)  # a broken plug-in fails now, not once per trial
    if dataset is None:
        dataset = _load(train_config)
    fingerprint = {**config_fingerprint(train_config, search_config), "data": data_fingerprint(dataset)}
    if saved is not None:
        check_same_search(saved.get("fingerprint", {}), fingerprint, path)
    claim.clear_previous()  # Only now that the new search's flags and data passed their checks.
    rundir.write_json_atomic(path / SEARCH_CONFIG_FILE, {
        "fingerprint": fingerprint, "search_config": search_config.to_dict(), "train_config": train_config.to_dict(),
        "input_shape": list(dataset.input_shape), "num_classes": dataset.num_classes, "versions": saved_run.library_versions(),
    })
    return dataset, fingerprint


def _run_trials(
    train_config: TrainConfig, search_config: SearchConfig, path: Path, dataset: Dataset, *,
    role: str, say: Callable[[str], Any], print_fn: Callable[[str], Any] | None, server: Any = None, identity: str = "",
) -> tuple[keras_tuner.Tuner, list[dict[str, Any]]]:
    """Runs (or, as the chief, serves through `server`) the trials left; returns the tuner and every trial's row."""
    x_train, y_train, num_fit_samples = split_for_validation(dataset, train_config)
    tuner, tuner_said = _make_tuner(train_config, search_config, path, dataset.input_shape, dataset.num_classes, trial_strategy(train_config))
    if tuner_said:
        say(tuner_said)
    tensorboard_dir = path / TENSORBOARD_DIR
    if not any(tensorboard_dir.glob("events.out.tfevents*")):
        names = [hp.name for hp in tuner.oracle.get_space().space]
        write_hparams_experiment(tensorboard_dir, names, HPARAMS_METRICS)
    recorder = TrialRecorder(path, tensorboard_dir=tensorboard_dir, objective=search_config.objective, max_trials=search_config.max_trials, print_fn=print_fn, role=role)
    if role == "chief":
        tuner.oracle.recorder = recorder  # the chief trains nothing: its oracle hears of each trial
    else:
        tuner.recorder = recorder
    say(
        f"search: {search_config.tuner}, up to {search_config.max_trials} trials of {train_config.epochs} epochs, "
        f"{search_config.objective} ({search_config.direction}imized) on {len(y_train) - num_fit_samples} validation rows "
        f"of {len(y_train)} training rows; {len(tuner.oracle.trials)} trials already in {path}"
    )
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
        _search_until_fatal(tuner, x_train, y_train, train_config)
    return tuner, recorder.write(tuner.oracle.trials)


def _search_until_fatal(
    tuner: keras_tuner.Tuner, x_train: Any, y_train: Any, train_config: TrainConfig, *, passed_on: tuple[type[Exception], ...] = (),
) -> None:
    """Runs KerasTuner's search; an error every trial would share ends it in one `SearchError` line.

    `passed_on` names errors the caller handles itself (a worker's word from its chief).
    """
    try:
        with failed_trials_untraced():
            tuner.search(x_train, y_train, epochs=train_config.epochs, validation_split=train_config.validation_split, shuffle=True, verbose=0)
    except (rundir.RunDirError, *passed_on):
        raise  # A full or read-only disk: the CLI names the file.
    except keras_tuner.errors.FatalError as error:
        raise SearchError(f"the search stopped: {error} (every trial would fail the same way; fix it and start again, --overwrite replaces this folder)") from error


def _pick_winner(rows: list[dict[str, Any]], train_config: TrainConfig, search_config: SearchConfig, path: Path) -> tuple[dict[str, Any], TrainConfig]:
    """Returns the best completed trial's row and its settings for retraining; writes `best_hyperparameters.json`."""
    completed = [row for row in rows if row["status"] == "COMPLETED" and row["objective"] is not None]
    if not completed:
        raise SearchError(f"no trial completed ({summarize_failures(rows) or 'no trial ran'}); the trial table is in {path / TRIALS_JSON}")
    sign = -1.0 if search_config.direction == "max" else 1.0
    best = min(completed, key=lambda row: (sign * row["objective"], row["number"]))
    retrain_epochs = best["best_epoch"] or train_config.epochs
    winner_config = train_config_for(train_config, best["hyperparameters"]).replace(epochs=retrain_epochs)
    rundir.write_json_atomic(path / BEST_HYPERPARAMETERS_FILE, {
        "trial_id": best["trial_id"], "objective": search_config.objective, "value": best["objective"],
        "hyperparameters": best["hyperparameters"], "train_config": winner_config.to_dict(),
    })
    return best, winner_config


def _retrain_winner(
    best: dict[str, Any], winner_config: TrainConfig, dataset: Dataset, path: Path, rows: list[dict[str, Any]], search_config: SearchConfig,
) -> tuple[keras.Model, dict[str, float]]:
    """Retrains the winner on every training row (validation rows too), then takes the only look at the test split."""
    # Without validation rows there is nothing for early stopping or the plug-ins to watch.
    trainer = Trainer(winner_config, input_shape=dataset.input_shape, num_classes=dataset.num_classes, epoch_rows=len(dataset.y_train))
    winner_logdir = path / TENSORBOARD_DIR / WINNER_RUN
    outcome = trainer.train((dataset.x_train, dataset.y_train), epochs=winner_config.epochs, tensorboard_dir=winner_logdir, early_stopping=False, plugins=False)
    if outcome.divergence:
        raise SearchError(f"retraining trial {best['number']}'s hyperparameters on every training row failed: {outcome.divergence}")
    test_metrics = trainer.score_test_split(dataset.x_test, dataset.y_test)
    report.write_test_scalars(winner_logdir, test_metrics, step=winner_config.epochs)
    with rundir.atomic_path(path / MODEL_FILE) as temp_model_path:
        trainer.model.save(temp_model_path)
    num_completed = sum(row["status"] == "COMPLETED" and row["objective"] is not None for row in rows)
    rundir.write_json_atomic(path / METRICS_FILE, {
        **test_metrics, "best_trial_id": best["trial_id"], search_config.objective: best["objective"],
        "retrain_epochs": winner_config.epochs, "num_trials": len(rows), "num_completed": num_completed,
        "num_failed": len(rows) - num_completed, "failures": summarize_failures(rows) or None,
    })
    return trainer.model, test_metrics


def _check_runs_the_chiefs_search(path: Path, train_config: TrainConfig, search_config: SearchConfig, dataset: Dataset, *, say: Callable[[str], Any]) -> None:
    """Refuses a worker whose space, objective, tuner, training settings or data are not the chief's.

    The chief records the search's fingerprint in `search_config.json` before it
    serves; a worker sharing the folder (one machine, or a shared file system)
    compares its own before its first trial, so it never reports scores of
    another search as the chief's.

    Raises:
        SearchError: naming what differs.
    """
    record_path = path / SEARCH_CONFIG_FILE
    if not record_path.is_file():
        say(f"worker: {record_path} is not visible here (no shared folder), so this worker cannot check it runs the chief's search; start it with the chief's flags and data")
        return
    try:
        chiefs = json.loads(record_path.read_text(encoding="utf-8"))["fingerprint"]
        differences = search_differences(chiefs, {**config_fingerprint(train_config, search_config), "data": data_fingerprint(dataset)})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SearchError(f"{str(record_path)!r}, the chief's record of the search, cannot be read ({error}); is the chief running on this folder?") from error
    if differences:
        raise SearchError(
            f"this worker does not run the chief's search in {str(path)!r}: different {'; '.join(differences)}; "
            "start it with the chief's flags and data (its trials would be counted as the chief's)"
        )


def _load(train_config: TrainConfig) -> Dataset:
    return load_dataset_for(train_config)


def _search_is_over(oracle: Any, max_trials: int) -> bool:
    """Whether a reloaded oracle has created its last trial and every trial has ended."""
    return len(oracle.trials) >= max_trials and all(trial.status not in ("RUNNING", "IDLE") for trial in oracle.trials.values())


def _work_for_chief(
    train_config: TrainConfig,
    search_config: SearchConfig,
    workdir: str | os.PathLike,
    *,
    dataset: Dataset | None,
    heartbeat_timeout: float,
    say: Callable[[str], Any],
    print_fn: Callable[[str], Any] | None,
) -> SearchResult:
    """A distributed search's worker: runs the trials the chief's oracle hands out.

    Raises:
        SearchError: when the chief refuses this worker (another search, a
            taken id) or stops answering for `heartbeat_timeout` seconds.
    """
    from keras_minibatch.tuning.oracle_service import ChiefLostError, SearchOverError, WorkerConnection, WorkerRefusedError  # imports gRPC

    for spec in train_config.callbacks:
        load_callback(spec)
    if dataset is None:
        dataset = _load(train_config)
    path = Path(workdir)
    fingerprint = {**config_fingerprint(train_config, search_config), "data": data_fingerprint(dataset)}
    connection = WorkerConnection(oracle_address(), search_identity=search_identity(fingerprint), heartbeat_timeout=heartbeat_timeout)
    rows: list[dict[str, Any]] = []
    tuner = None
    try:
        say(f"worker: waiting for the chief's oracle at {connection.address.target} (at most {heartbeat_timeout:g} s of silence)")
        # The chief checks and prepares the folder before it serves.
        connection.wait_for_chief(search_is_over=lambda: _finished_without_chief(path, fingerprint, search_config.max_trials))
        if path.exists() and not path.is_dir():
            raise rundir.RunDirError(f"--workdir {str(path)!r} is a file, not a folder; choose another path.")
        _check_runs_the_chiefs_search(path, train_config, search_config, dataset, say=say)
        path.mkdir(parents=True, exist_ok=True)
        x_train, y_train, _ = split_for_validation(dataset, train_config)
        tuner, _ = _make_tuner(train_config, search_config, path, dataset.input_shape, dataset.num_classes, trial_strategy(train_config))
        tuner.recorder = TrialRecorder(path, tensorboard_dir=path / TENSORBOARD_DIR, objective=search_config.objective, max_trials=search_config.max_trials, print_fn=print_fn, role="worker")
        connection.attach(tuner)
        try:
            _search_until_fatal(tuner, x_train, y_train, train_config, passed_on=(ChiefLostError, WorkerRefusedError, SearchOverError))
        except KeyboardInterrupt:
            if connection.lost is None:
                raise  # Ctrl-C or SIGTERM
            raise connection.lost from None  # the heartbeat stopped this worker
        rows = tuner.recorder.ended_here()
    except SearchOverError as over:
        if tuner is None:  # it ended before this worker came
            say(f"worker {connection.address.tuner_id}: {over}; nothing to run")
            return SearchResult(
                best_hyperparameters={}, best_trial_id=None, objective=search_config.objective, trials=[], test_metrics={},
                retrain_epochs=None, model=None, workdir=path, tuner=None, role="worker",
            )
        rows = tuner.recorder.ended_here()
    except (ChiefLostError, WorkerRefusedError) as error:
        raise SearchError(str(error)) from None
    finally:
        connection.close()
    numbers = ", ".join(str(row["number"]) for row in rows) or "none"
    say(f"worker {connection.address.tuner_id}: ran {len(rows)} trial{'s' if len(rows) != 1 else ''} ({numbers}); the chief writes the trial table, retrains the winner and scores the test split")
    return SearchResult(
        best_hyperparameters={}, best_trial_id=None, objective=search_config.objective, trials=rows, test_metrics={},
        retrain_epochs=None, model=None, workdir=path, tuner=tuner, role="worker",
    )


def _finished_without_chief(path: Path, fingerprint: dict[str, Any], max_trials: int) -> bool:
    """Whether `path` holds this search, finished (winner picked, `max_trials` trials), with no process on it."""
    try:
        if not (path / BEST_HYPERPARAMETERS_FILE).is_file() or folder_in_use(path):
            return False
        saved = json.loads((path / SEARCH_CONFIG_FILE).read_text(encoding="utf-8"))["fingerprint"]
        rows = json.loads((path / TRIALS_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return search_identity(saved) == search_identity(fingerprint) and isinstance(rows, list) and len(rows) >= max_trials
