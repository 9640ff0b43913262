"""A distributed search's worker: waits for its chief, checks it runs the chief's search, runs the trials it is handed.

A worker waits until the chief's oracle answers (so it never touches a folder the
chief is still checking or emptying), then runs the trials it is handed, writing
only per-trial files (`tensorboard/<trial_id>/`, KerasTuner's `tuner/trial_<id>/`
checkpoint and its own `tuner/<tuner id>.json`), and returns the rows of the
trials it ran. The chief writes the trial table and the summary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keras_minibatch import compat
from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.data.fingerprints import data_fingerprint
from keras_minibatch.data.loading import load_dataset_for
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.locking import folder_in_use
from keras_minibatch.run_folders.run_files import BEST_HYPERPARAMETERS_FILE, SEARCH_CONFIG_FILE, TENSORBOARD_DIR, TRIALS_JSON
from keras_minibatch.training.validation_rows import split_for_validation
from keras_minibatch.training.distribution import trial_strategy
from keras_minibatch.training.plugins import load_callback
from keras_minibatch.tuning.oracle_address import oracle_address
from keras_minibatch.tuning.search_config import SearchConfig
from keras_minibatch.tuning.search_folder import config_fingerprint, search_differences, search_identity
from keras_minibatch.tuning.search_result import SearchError, SearchResult
from keras_minibatch.tuning.search_run import open_tuner, search_until_fatal
from keras_minibatch.tuning.trial_recorder import TrialRecorder

__all__ = ["work_for_chief"]


def work_for_chief(
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

    Args:
        train_config: The search's training settings, as the chief's.
        search_config: The search's tuner, budget, objective and space, as the chief's.
        workdir: The search folder as this machine sees it.
        dataset: Already loaded data; `None` loads `train_config.dataset`.
        heartbeat_timeout: Most seconds without a word from the chief.
        say: Receives this worker's own lines.
        print_fn: Receives each trial's line; `None` prints none.

    Returns:
        A `SearchResult` with the rows of the trials this worker ran (`role="worker"`).

    Raises:
        SearchError: when the chief refuses this worker (another search, a
            taken id) or stops answering for `heartbeat_timeout` seconds.
    """
    from keras_minibatch.tuning.worker_connection import ChiefLostError, SearchOverError, WorkerConnection, WorkerRefusedError  # imports gRPC

    for spec in train_config.callbacks:
        load_callback(spec)
    if dataset is None:
        dataset = load_dataset_for(train_config)
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
        tuner, _ = open_tuner(train_config, search_config, path, dataset.input_shape, dataset.num_classes, trial_strategy(train_config))
        tuner.recorder = TrialRecorder(path, tensorboard_dir=path / TENSORBOARD_DIR, objective=search_config.objective, max_trials=search_config.max_trials, print_fn=print_fn, role="worker")
        connection.attach(tuner)
        compat.quiet_oracle_client(tuner.oracle)  # its protos of conditional hyperparameters print
        try:
            search_until_fatal(tuner, x_train, y_train, train_config, passed_on=(ChiefLostError, WorkerRefusedError, SearchOverError))
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
