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
| `trials.json`, `trials.csv` | one row per trial (see `keras_minibatch.tuning.trial_table`) |
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
  retrained winner, the one test score and `metrics.json` (`winner`);
- a worker (`search_worker`) waits until the chief's oracle answers, then runs
  the trials it is handed, writing only per-trial files, and returns the rows of
  the trials it ran.

On one machine all processes share the folder; across machines the chief's folder
holds the summary and each worker's folder its trials' logs (Hyperband continues
trials from other trials' checkpoints, so it needs one folder shared by all).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras_tuner

from callbacks.terminal_lines import terminal_width
from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.data.fingerprints import data_fingerprint
from keras_minibatch.data.loading import load_dataset_for
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.folder_claim import FolderClaim
from keras_minibatch.run_folders.run_files import SEARCH_CONFIG_FILE
from keras_minibatch.training import report
from keras_minibatch.training import saved_run
from keras_minibatch.training.plugins import load_callback
from keras_minibatch.tuning import winner
from keras_minibatch.tuning.oracle_address import DEFAULT_HEARTBEAT_TIMEOUT, check_heartbeat_timeout, oracle_address
from keras_minibatch.tuning.search_config import SearchConfig
from keras_minibatch.tuning.search_folder import check_same_search, check_search_dir, config_fingerprint, search_identity
from keras_minibatch.tuning.search_result import SearchResult
from keras_minibatch.tuning.search_run import open_tuner, run_trials
from keras_minibatch.tuning.search_worker import work_for_chief
from keras_minibatch.tuning.trial_table import format_trials_table
from keras_minibatch.tuning.tuners import distributed_role

__all__ = ["load_tuner", "search"]


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
    tuner, _ = open_tuner(train_config, search_config, path, saved["input_shape"], saved["num_classes"], None)
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
    progress_bar: bool = False,
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
            `max_trials` trials exist in all; a winner already retrained and
            scored in `workdir` is kept, not scored again. Defaults to `False`.
        overwrite: Delete what `workdir` holds first. Defaults to `False`.
        retrain_winner: Retrain the winner on every training row and score the
            test split once. `False` stops after the search (and
            `best_hyperparameters.json`): no `model.keras`, no `metrics.json`, the
            test split untouched, as a strategy comparison needs. Defaults to `True`.
        heartbeat_timeout: Distributed search only: seconds without a word after
            which the chief gives a worker's trial to another worker, and a
            worker stops waiting for its chief (at least 5). Defaults to 60.
        verbose: `0` prints nothing; `1` prints a header, a line per trial, the
            trial table, a line per epoch of the winner's retraining and the
            test metrics. Defaults to `1`.
        progress_bar: Whether a terminal shows each trial's progress, and the
            retraining's, on a live line (`callbacks.ProgressBar`), the printed
            lines wrapped to its width. Defaults to `False`.
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
    if role == "worker":
        return work_for_chief(
            train_config, search_config, workdir, dataset=dataset, heartbeat_timeout=heartbeat_timeout, say=say, print_fn=print_fn if verbose else None,
        )
    with contextlib.ExitStack() as stack:
        server = None
        if role == "chief":
            from keras_minibatch.tuning.chief_server import ChiefServer  # imports gRPC

            # The port first: a taken one is refused before anything in the folder changes.
            server = stack.enter_context(ChiefServer(oracle_address(), heartbeat_timeout=heartbeat_timeout, say=say))
        check_search_dir(workdir, resume=resume, overwrite=overwrite, train_config=train_config, search_config=search_config)
        # One process at a time per search folder (a distributed search's workers share it: they never get here).
        claim = stack.enter_context(FolderClaim(workdir, run_files.SEARCH, overwrite=overwrite, resume=resume))
        path = claim.path
        dataset, fingerprint = _prepare_folder(claim, train_config, search_config, dataset, resume=resume, overwrite=overwrite)
        tuner, rows = run_trials(
            train_config, search_config, path, dataset, role=role, say=say, print_fn=print_fn if verbose else None,
            server=server, identity=search_identity(fingerprint), progress_bar=progress_bar and bool(verbose),
        )
        if server is not None:
            server.finish()  # late workers hear that the search is over while the winner is retrained
        best, winner_config = winner.pick_winner(rows, train_config, search_config, path)
        say(format_trials_table(rows, search_config.objective, width=terminal_width() - 1 if progress_bar else None))
        result = SearchResult(
            best_hyperparameters=dict(best["hyperparameters"]), best_trial_id=best["trial_id"], objective=search_config.objective,
            trials=rows, test_metrics={}, retrain_epochs=winner_config.epochs, model=None, workdir=path, tuner=tuner, role=role,
        )
        if not retrain_winner:
            say(f"winner: trial {best['number']} ({search_config.objective} {best['objective']:.4f}); not retrained, the test split was not scored")
            say(f"search folder: {path}")
            return result
        earlier = winner.earlier_score(best, winner_config, path, rows, search_config) if resume else None
        if earlier is not None:
            say(f"winner: trial {best['number']} ({search_config.objective} {best['objective']:.4f}); retrained and scored before: "
                f"its {run_files.MODEL_FILE} and test score are kept (the test split is scored once)")
            model, test_metrics = earlier
        else:
            say(f"winner: trial {best['number']} ({search_config.objective} {best['objective']:.4f}); retraining it on all {len(dataset.y_train)} training rows for {winner_config.epochs} epoch{'s' if winner_config.epochs != 1 else ''}")
            model, test_metrics = winner.retrain_winner(
                best, winner_config, dataset, path, rows, search_config, print_epochs=bool(verbose), progress_bar=progress_bar and bool(verbose),
            )
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
        dataset = load_dataset_for(train_config)
    fingerprint = {**config_fingerprint(train_config, search_config), "data": data_fingerprint(dataset)}
    if saved is not None:
        check_same_search(saved.get("fingerprint", {}), fingerprint, path)
    claim.clear_previous()  # Only now that the new search's flags and data passed their checks.
    rundir.write_json_atomic(path / SEARCH_CONFIG_FILE, {
        "fingerprint": fingerprint, "search_config": search_config.to_dict(), "train_config": train_config.to_dict(),
        "input_shape": list(dataset.input_shape), "num_classes": dataset.num_classes, "versions": saved_run.library_versions(),
    })
    return dataset, fingerprint
