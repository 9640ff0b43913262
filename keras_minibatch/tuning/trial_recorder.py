"""Recording a search's trials as they begin, train and end: the table, the live lines, HParams, failures.

`TrialRecorder` hears of each trial from the tuner (a local search or a worker)
or from the oracle (a distributed search's chief), keeps its row (see
`trial_table`), and writes what that process owns: the trial table, the trial's
HParams session, its failure's traceback.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from callbacks.terminal_lines import terminal_width
from keras_minibatch import compat
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.tuning.search_config import OBJECTIVES
from keras_minibatch.tuning.trial_table import TRIALS_JSON, format_trial_line, hyperparameter_order, write_trial_files

__all__ = ["TrialRecorder", "write_hparams_experiment"]

TUNER_PROJECT = run_files.TUNER_PROJECT
FAILURE_FILE = run_files.TRIAL_FAILURE_FILE


def _failure_reason(message: str | None, objective: str) -> str:
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    if not lines:  # KerasTuner fails a trial without a message when its score is NaN
        return f"{objective} was NaN"
    return lines[-1].removeprefix(compat.FAILED_TRIAL_PREFIX)


def write_hparams_experiment(logdir: Path, hyperparameter_names: Iterable[str], metric_names: Iterable[str]) -> None:
    """Declares the HParams dashboard's columns (once per search) in `logdir`."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api

    logdir.mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        hparams_api.hparams_config(
            hparams=[hparams_api.HParam(name) for name in hyperparameter_names],
            metrics=[hparams_api.Metric(name) for name in metric_names],
        )
    writer.close()


def _write_trial_hparams(logdir: Path, row: Mapping[str, Any]) -> None:
    """One HParams session per trial: its values, its metrics at the best epoch, its status."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams_api
    from tensorboard.plugins.hparams import api_pb2
    from tensorboard.plugins.hparams import summary as hparams_summary

    logdir.mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        hparams_api.hparams(dict(row["hyperparameters"]), trial_id=row["trial_id"])
        step = row["best_epoch"] or 0
        for name, value in row["metrics"].items():
            tf.summary.scalar(name, value, step=step)
        if row["seconds"] is not None:
            tf.summary.scalar("seconds", row["seconds"], step=step)
        status = api_pb2.STATUS_SUCCESS if row["status"] == "COMPLETED" else api_pb2.STATUS_FAILURE
        tf.summary.experimental.write_raw_pb(hparams_summary.session_end_pb(status).SerializeToString(), step=0)
    writer.close()


def _seconds_left(rows: list[dict[str, Any]], max_trials: int) -> float | None:
    """The search's time left: the mean time of its ended trials times the trials left, or `None` when none is timed or none is left."""
    ended = [row for row in rows if row["status"] not in ("RUNNING", "IDLE")]
    seconds = [row["seconds"] for row in ended if row["seconds"] is not None]
    left = max_trials - len(ended)
    return sum(seconds) / len(seconds) * left if seconds and left > 0 else None


class TrialRecorder:
    """Keeps the trial table of one search up to date, in files, TensorBoard and print.

    Rows of trials that ended in an earlier (resumed) run are read back from
    `trials.json`, so their epochs and seconds survive a restart.

    In a distributed search each process records what it sees, and one file has
    one writer: a worker (`role="worker"`) runs trials, so it writes their
    TensorBoard logs and HParams sessions and prints their lines, but not the trial
    table, which it cannot see; the chief (`role="chief"`) holds the oracle, so it
    writes `trials.json` and `trials.csv` and prints a line per ended trial, timing
    each from the oracle's hand-out to its end. The chief cannot know the epochs a
    trial ran on a worker (`epochs` is `None` there; early stopping decides them).

    Args:
        workdir: The search folder.
        tensorboard_dir: Folder of the per-trial TensorBoard logs.
        objective: The objective name.
        max_trials: The trial budget, for "trial 3/10".
        print_fn: Receives each live line; `None` prints nothing.
        role: `"local"`, `"chief"` or `"worker"` (see above). Defaults to `"local"`.
        progress_bar: Whether the trials this process trains show a live
            progress line (a terminal; see `progress_label`), their ended
            lines then wrapped to the terminal's width. Defaults to `False`.
    """

    def __init__(self, workdir: Path, *, tensorboard_dir: Path, objective: str, max_trials: int,
                 print_fn: Callable[[str], Any] | None, role: str = "local", progress_bar: bool = False):
        if role not in ("local", "chief", "worker"):
            raise ValueError(f"`role` ({role!r}) must be 'local', 'chief' or 'worker'.")
        self.workdir = workdir
        self.tensorboard_dir = tensorboard_dir
        self.objective = objective
        self.max_trials = max_trials
        self.print_fn = print_fn
        self.role = role
        self.progress_bar = progress_bar and print_fn is not None
        self._started: dict[str, float] = {}
        self._trained: dict[str, dict[str, Any]] = {}
        self._ended_here: list[str] = []
        previous = workdir / TRIALS_JSON
        rows = json.loads(previous.read_text(encoding="utf-8")) if previous.is_file() and role != "worker" else []
        self._saved = {row["trial_id"]: row for row in rows}

    def trial_logdir(self, trial_id: str) -> str:
        """Returns the trial's TensorBoard folder."""
        return str(self.tensorboard_dir / trial_id)

    def progress_label(self, trial) -> str | None:
        """Returns what the trial's live progress line starts with (`"trial 3/10"`), or `None` for no line."""
        return f"trial {int(trial.trial_id) + 1}/{self.max_trials}" if self.progress_bar else None

    def trial_started(self, trial_id: str) -> None:
        """Starts the trial's clock (the chief's view: the oracle handed the trial out)."""
        self._started.setdefault(trial_id, time.monotonic())
        self._trained.pop(trial_id, None)

    def trial_began(self, trial) -> None:
        """Starts the clock; drops logs a killed earlier run of this trial left."""
        self._started[trial.trial_id] = time.monotonic()
        self._trained.pop(trial.trial_id, None)
        shutil.rmtree(self.trial_logdir(trial.trial_id), ignore_errors=True)

    def trial_trained(self, trial, results: Any) -> None:
        """Notes how many epochs the trial's model reached (`results`: its histories)."""
        histories = results if isinstance(results, list) else [results]
        epochs = [max(history.epoch) + 1 for history in histories if getattr(history, "epoch", None)]
        self._trained[trial.trial_id] = {"epochs": max(epochs) if epochs else None}

    def row(self, trial) -> dict[str, Any]:
        """Returns the table row of a KerasTuner `Trial`."""
        values = dict(trial.hyperparameters.values)
        initial_epoch = int(values.get("tuner/initial_epoch", 0))
        active = trial.hyperparameters.copy()
        # A trial read back over gRPC (a distributed search's worker) holds the defaults of
        # inactive hyperparameters too (`HyperParameters.from_proto`); keep the active ones.
        active.ensure_active_values()
        completed = trial.status == "COMPLETED"
        saved = self._saved.get(trial.trial_id, {})
        trained = self._trained.get(trial.trial_id, {})
        started = self._started.get(trial.trial_id)
        metrics = {name: float(trial.metrics.get_last_value(name)) for name in trial.metrics.metrics} if completed else {}
        return {
            "trial_id": trial.trial_id,
            "number": int(trial.trial_id) + 1,
            "status": trial.status,
            "objective": float(trial.score) if completed and trial.score is not None and math.isfinite(trial.score) else None,
            "epochs": trained.get("epochs", saved.get("epochs")),
            "best_epoch": initial_epoch + int(trial.best_step) + 1 if completed else None,
            "seconds": round(time.monotonic() - started, 3) if started is not None else saved.get("seconds"),
            "failure": _failure_reason(trial.message, self.objective) if trial.status in ("FAILED", "INVALID") else None,
            # In the space's order (a distributed search's protos sort them by name).
            "hyperparameters": {name: active.values[name] for name in sorted(active.values, key=hyperparameter_order) if not name.startswith("tuner/")},
            "metrics": metrics,
        }

    def rows(self, trials: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Returns the rows of every trial (KerasTuner's `oracle.trials`), by trial number."""
        rows = [self._saved_or_new(trial) for trial in trials.values()]
        return sorted(rows, key=lambda row: row["number"])

    def ended_here(self) -> list[dict[str, Any]]:
        """Returns the rows of the trials that ended in this process, by trial number."""
        return sorted((self._saved[trial_id] for trial_id in set(self._ended_here)), key=lambda row: row["number"])

    def _saved_or_new(self, trial) -> dict[str, Any]:
        saved = self._saved.get(trial.trial_id)
        return saved if saved is not None and saved["status"] == trial.status else self.row(trial)

    def trial_ended(self, trial, trials: Mapping[str, Any] | None) -> None:
        """Records an ended trial: trial files, its HParams session and the live line.

        Args:
            trial: The ended KerasTuner `Trial`, as the oracle scored it.
            trials: Every trial (`oracle.trials`), or `None` on a worker, which
                cannot see them and writes no trial table.
        """
        row = self.row(trial)
        self._saved[trial.trial_id] = row
        if row["failure"] and trial.message and self.role != "chief":
            # The one-line reason is in the table; the whole traceback stays with the trial.
            trial_dir = self.workdir / TUNER_PROJECT / f"trial_{trial.trial_id}"
            trial_dir.mkdir(parents=True, exist_ok=True)
            rundir.write_text_atomic(trial_dir / FAILURE_FILE, trial.message)
        self._started.pop(trial.trial_id, None)
        self._ended_here.append(trial.trial_id)
        best = seconds_left = None
        if trials is not None and self.role != "worker":
            rows = self.rows(trials)
            write_trial_files(self.workdir, rows)
            scores = [other["objective"] for other in rows if other["objective"] is not None]
            best = (max if OBJECTIVES[self.objective] == "max" else min)(scores) if scores else None
            if self.role == "local":  # a chief's trials run side by side on workers it cannot count
                seconds_left = _seconds_left(rows, self.max_trials)
        if self.role != "chief":  # the process that trained the trial logs it
            _write_trial_hparams(Path(self.trial_logdir(trial.trial_id)), row)
        if self.print_fn is not None:
            self.print_fn(format_trial_line(
                row, max_trials=self.max_trials, objective=self.objective, best=best, seconds_left=seconds_left,
                width=terminal_width() - 1 if self.progress_bar else None,
            ))

    def write(self, trials: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Writes `trials.json` and `trials.csv` for every trial and returns the rows."""
        rows = self.rows(trials)
        write_trial_files(self.workdir, rows)
        return rows
