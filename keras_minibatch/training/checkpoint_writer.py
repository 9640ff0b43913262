"""Writes per-epoch checkpoints to disk off the training thread, one at a time, in order.

`TrainingCheckpoint` (`training/checkpointing.py`) takes a `CheckpointSnapshot` at
the end of an epoch: copies of every variable, the history and early stopping's
state, nothing the training thread changes afterwards. A `CheckpointWriter` writes
it on a thread of its own while the next epoch trains, so the disk's time
(`fsync` above all, slow on a busy disk) is not taken from training. The files of
one checkpoint are written in a fixed order, `state.json` last: it is the commit
point, so a process killed during a write leaves the previous complete checkpoint.

At most one write is in flight: the next snapshot waits for the previous write,
so memory stays bounded and the checkpoints land in epoch order. A write that
fails (a full disk, a read-only folder) is raised on the training thread, as the
same exception, at the next epoch's end or at `finish()`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
from pathlib import Path
from typing import Any

import numpy as np

from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.run_files import STATE_FILE


@dataclasses.dataclass(frozen=True)
class CheckpointSnapshot:
    """One epoch's checkpoint, held in memory until it is written.

    Attributes:
        epochs_done: Completed epochs.
        variables: The model's and the optimizer's variables, as arrays.
        history: Per-epoch metrics of the run so far.
        early_stopping: Early stopping's `get_state()`, or `None`.
        best_weights: Early stopping's best weights to write, or `None` when
            there are none or when they are already on disk (`best_file`).
        best_file: The file that holds (or will hold) the best weights, or `None`.
    """

    epochs_done: int
    variables: list[np.ndarray]
    history: dict[str, list[float]]
    early_stopping: dict[str, Any] | None
    best_weights: list[np.ndarray] | None
    best_file: str | None


def variables_file(epochs_done: int) -> str:
    """The name of the file holding the variables after `epochs_done` epochs."""
    return f"epoch-{epochs_done:04d}.variables.npz"


def best_weights_file(epochs_done: int) -> str:
    """The name of the file holding early stopping's best weights, first written after `epochs_done` epochs."""
    return f"epoch-{epochs_done:04d}.best.npz"


def _write_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    # NumPy writes into memory and Python's own file calls write to disk: a full disk is one
    # clean error (HDF5 writing straight to a full disk can crash the process).
    buffer = io.BytesIO()
    np.savez(buffer, *arrays)
    rundir.write_bytes_atomic(path, buffer.getvalue())


def write_checkpoint(directory: str | Path, snapshot: CheckpointSnapshot) -> None:
    """Writes `snapshot` into `directory`: the variables, the best weights if new, then `state.json`.

    Files of earlier epochs are removed once `state.json` names the new ones.

    Raises:
        OSError: when the folder cannot be made or a file cannot be written
            (`RunDirError` for a refused write, naming the file).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights_name = variables_file(snapshot.epochs_done)
    _write_arrays(directory / weights_name, snapshot.variables)
    if snapshot.best_weights is not None:
        _write_arrays(directory / snapshot.best_file, snapshot.best_weights)
    state = {
        "epochs_done": snapshot.epochs_done,
        "weights": weights_name,
        "best_weights": snapshot.best_file,
        "early_stopping": snapshot.early_stopping,
        "history": snapshot.history,
    }
    rundir.write_json_atomic(directory / STATE_FILE, state)  # The commit point.
    keep = {STATE_FILE, weights_name, snapshot.best_file}
    for path in directory.iterdir():
        if path.name.startswith("epoch-") and path.name not in keep:  # Older epochs, in either format.
            path.unlink(missing_ok=True)


class CheckpointWriter:
    """Writes snapshots into `directory` on a background thread, one at a time, in order.

    The thread is made by the first `submit` and ended by `finish`. Python
    finishes its work before the process exits, so a write under way when the
    main thread ends (an uncaught exception, a signal) is completed first.

    Args:
        directory: The checkpoint folder (created by the first write).
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: concurrent.futures.Future | None = None

    def submit(self, snapshot: CheckpointSnapshot) -> None:
        """Starts writing `snapshot` once the previous write has finished.

        Raises:
            OSError: the previous write's error, if it failed (nothing new is started).
        """
        self._wait()
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-writer")
        self._pending = self._executor.submit(write_checkpoint, self.directory, snapshot)

    def finish(self) -> None:
        """Waits for the write under way, if any, and ends the thread.

        Raises:
            OSError: the write's error, once, if it failed.
        """
        try:
            self._wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def _wait(self) -> None:
        pending = self._pending
        if pending is None:
            return
        try:
            pending.result()  # Raises the write's own exception.
        finally:
            if pending.done():  # Not when the wait itself was interrupted (Ctrl-C): finish() waits again.
                self._pending = None
