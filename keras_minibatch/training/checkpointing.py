"""Per-epoch training checkpoints that a killed run resumes from.

After every epoch whose loss and weights are finite, the run folder's
`checkpoint/` receives the model's variables with the optimizer's
(`epoch-NNNN.variables.npz`), early stopping's best weights when they changed,
and `state.json`: the epoch count, the history so far and early stopping's
state. The epoch's state is copied on the training thread and written on a
background thread while the next epoch trains (`training/checkpoint_writer.py`);
`state.json` is written last and atomically, so it is the commit point: a
process killed at any moment leaves the previous complete checkpoint. A NaN
epoch never replaces the last good one.

Checkpoints of earlier versions (`epoch-NNNN.weights.h5`) still load.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_minibatch.run_folders.run_files import STATE_FILE
from keras_minibatch.run_folders.rundir import CorruptCheckpointError
from keras_minibatch.training.checkpoint_writer import CheckpointSnapshot, CheckpointWriter, best_weights_file


@dataclasses.dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        epochs_done: Completed epochs; training resumes at this epoch index.
        history: Per-epoch metrics of those epochs.
        weights_path: The weights file (model and optimizer variables).
        early_stopping: Early stopping's `get_state()`, or `None`.
        best_weights: Early stopping's best weights, or `None`.
    """

    epochs_done: int
    history: dict[str, list[float]]
    weights_path: Path
    early_stopping: dict[str, Any] | None
    best_weights: list[np.ndarray] | None


def _state_variables(model: keras.Model) -> list[Any]:
    """What a resumed `fit` needs: the model's variables (dropout's seed state too) and the optimizer's."""
    return [*model.variables, *(model.optimizer.variables if model.optimizer is not None else [])]


def weights_are_finite(weights: Sequence[np.ndarray]) -> bool:
    """Whether every weight is a finite number (NaN weights must never be saved)."""
    return all(np.all(np.isfinite(w)) for w in weights)


class TrainingCheckpoint(keras.callbacks.Callback):
    """Checkpoints the run into `directory` at the end of every good epoch.

    The epoch's state is copied at its end and written in the background while
    the next epoch trains (`CheckpointWriter`). Every write is finished by
    `on_train_end`; a `fit` that was interrupted skips that hook, so its caller
    calls `finish()`. A write that failed is raised at the next epoch's end or
    by `finish()`.

    Put it after early stopping in the callback list, so the saved state includes
    the epoch that just ended.

    Args:
        directory: The checkpoint folder (created on first save).
        history_before: History of the epochs already done (when resuming).
            Defaults to `None`.
        early_stopping: The run's `callbacks.EarlyStopping`, whose state is
            saved too. Defaults to `None`.
    """

    def __init__(self, directory: str | os.PathLike, *, history_before: Mapping[str, Sequence[float]] | None = None, early_stopping: Any = None):
        super().__init__()
        self.directory = str(directory)
        self._history_before = {key: list(values) for key, values in (history_before or {}).items()}
        self._early_stopping = early_stopping
        self._writer: CheckpointWriter | None = None  # Made per fit: a thread cannot be deep-copied.

    def on_train_begin(self, logs: dict | None = None) -> None:
        logs = logs or {}
        self.history = {key: list(values) for key, values in self._history_before.items()}
        self.last_saved_epoch: int | None = None
        self._writer = CheckpointWriter(self.directory)
        self._best_on_disk: tuple[Any, str] | None = None  # The best weights last written, and their file.

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        if not all(math.isfinite(float(value)) for value in logs.values()):
            return  # Keep the last good checkpoint.
        # One copy of every variable (keras.ops.convert_to_numpy copies): checked here, written in the background.
        variables = [keras.ops.convert_to_numpy(variable) for variable in _state_variables(self.model)]
        if not weights_are_finite(variables[: len(self.model.variables)]):
            return
        self._writer.submit(self._snapshot(epoch + 1, variables))  # Raises the previous write's error.
        self.last_saved_epoch = epoch

    def on_train_end(self, logs: dict | None = None) -> None:
        self.finish()

    def finish(self) -> None:
        """Waits until the last checkpoint is on disk.

        Raises:
            OSError: when a checkpoint could not be written (`RunDirError`
                naming the file for a refused write).
        """
        if self._writer is not None:
            self._writer.finish()

    def _snapshot(self, epochs_done: int, variables: list[np.ndarray]) -> CheckpointSnapshot:
        """What the writer needs, none of it changed by the training thread afterwards."""
        early_stopping_state, best_weights, best_file = None, None, None
        if self._early_stopping is not None:
            early_stopping_state = self._early_stopping.get_state()
            best = self._early_stopping.best_weights  # Replaced, never changed in place, when the monitor improves.
            if best is not None:
                if self._best_on_disk is None or self._best_on_disk[0] is not best:
                    self._best_on_disk = (best, best_weights_file(epochs_done))
                    best_weights = best
                best_file = self._best_on_disk[1]
        history = {key: list(values) for key, values in self.history.items()}
        return CheckpointSnapshot(epochs_done, variables, history, early_stopping_state, best_weights, best_file)


def _load_arrays(path: Path) -> list[np.ndarray]:
    """The positional arrays of an `np.savez` file; the file is closed even when it is damaged."""
    with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as archive:  # np.load(path) leaks it on a bad zip
        return [archive[f"arr_{index}"] for index in range(len(archive.files))]


def _is_file_name(value: Any) -> bool:
    return isinstance(value, str) and value not in ("", ".", "..") and "/" not in value and "\\" not in value


def _check_state(state: Any) -> None:
    """Raises `TypeError` naming the first field of `state.json` that does not have the type this module writes."""
    if not isinstance(state, dict):
        raise TypeError(f"it holds a {type(state).__name__}, not a JSON object")
    epochs_done = state.get("epochs_done")
    if not isinstance(epochs_done, int) or isinstance(epochs_done, bool) or epochs_done < 0:
        raise TypeError(f"epochs_done is {epochs_done!r}, not a whole number >= 0")
    if not _is_file_name(state.get("weights")):
        raise TypeError(f"weights is {state.get('weights')!r}, not a file name")
    if state.get("best_weights") is not None and not _is_file_name(state["best_weights"]):
        raise TypeError(f"best_weights is {state['best_weights']!r}, not a file name")
    if state.get("early_stopping") is not None and not isinstance(state["early_stopping"], dict):
        raise TypeError(f"early_stopping is {state['early_stopping']!r}, not an object")
    history = state.get("history")
    if not isinstance(history, dict) or not all(isinstance(values, list) for values in history.values()):
        raise TypeError("history is not an object of per-epoch lists")


def load_checkpoint(directory: str | os.PathLike) -> Checkpoint | None:
    """Reads the checkpoint in `directory`; `None` when no epoch was completed.

    Raises:
        CorruptCheckpointError: naming the unreadable file and the way out.
    """
    directory = Path(directory)
    state_path = directory / STATE_FILE
    if not state_path.is_file():
        return None
    way_out = "delete the checkpoint folder to restart from epoch 1, or rerun with --overwrite"
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
        _check_state(state)
        epochs_done = state["epochs_done"]
        weights_path = directory / state["weights"]
        history = {key: [math.nan if v is None else float(v) for v in values] for key, values in state["history"].items()}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CorruptCheckpointError(f"{str(state_path)!r} is corrupt ({error}); {way_out}.") from error
    if not weights_path.is_file():
        raise CorruptCheckpointError(f"{str(weights_path)!r}, named by {str(state_path)!r}, is missing; {way_out}.")
    best_weights = None
    if state.get("best_weights"):
        best_path = directory / state["best_weights"]
        try:
            best_weights = _load_arrays(best_path)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise CorruptCheckpointError(f"{str(best_path)!r} is corrupt or missing ({error}); {way_out}.") from error
    return Checkpoint(epochs_done, history, weights_path, state.get("early_stopping"), best_weights)


def restore_weights(model: keras.Model, checkpoint: Checkpoint) -> None:
    """Loads the checkpoint's model and optimizer variables into `model`.

    Raises:
        CorruptCheckpointError: when the weights file cannot be loaded.
    """
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    way_out = "delete the checkpoint folder to restart from epoch 1, or rerun with --overwrite"
    path = checkpoint.weights_path
    if path.name.endswith(".weights.h5"):  # Written by an earlier version.
        try:
            model.load_weights(path)
        except Exception as error:  # h5py and Keras raise many types for a damaged file.
            raise CorruptCheckpointError(f"{str(path)!r} could not be loaded ({type(error).__name__}: {error}); {way_out}.") from error
        return
    variables = _state_variables(model)
    try:
        arrays = _load_arrays(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise CorruptCheckpointError(f"{str(path)!r} could not be loaded ({type(error).__name__}: {error}); {way_out}.") from error
    shapes = [tuple(variable.shape) for variable in variables]
    if [array.shape for array in arrays] != shapes:
        raise CorruptCheckpointError(
            f"{str(path)!r} holds {len(arrays)} arrays that do not match this model's {len(variables)} variables; {way_out}."
        )
    for variable, array in zip(variables, arrays):
        variable.assign(array)
