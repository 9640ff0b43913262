"""KerasTuner's best-epoch checkpoint, written once per `fit` instead of after every improving epoch."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import keras

from keras_minibatch.run_folders import rundir


class DeferredCheckpoint(keras.callbacks.Callback):
    """Keeps the best epoch's weights in memory and has KerasTuner's `SaveBestEpoch` write them at the end.

    KerasTuner's `Tuner.run_trial` gives every trial a `SaveBestEpoch`, which
    writes the weights file (`tuner/trial_<id>/checkpoint.weights.h5`, read by
    `Tuner.get_best_models` and by Hyperband to continue a trial) after every
    epoch that improves the objective: several writes per trial, a visible share
    of a short trial (benchmarks/tuning_overhead.py). This callback makes the same
    decisions on the same `SaveBestEpoch` (its `best_value` carries over between a
    trial's executions, as KerasTuner intends), copies the weights in memory
    instead, and writes the file once when `fit` ends. A `fit` killed part-way writes nothing;
    its trial is run again on resume. The file is written by HDF5 into a scratch
    folder and copied into the search folder by Python (HDF5 writing straight to
    a full disk can crash the process; a copy fails with one `RunDirError`).

    Args:
        checkpoint: The `SaveBestEpoch` KerasTuner made for this trial
            (`compat.kerastuner_save_best_epoch`).
    """

    def __init__(self, checkpoint: keras.callbacks.Callback):
        super().__init__()
        self.checkpoint = checkpoint
        self._weights: list[Any] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._weights = None
        self.checkpoint.set_model(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        objective = self.checkpoint.objective
        if objective.has_value(logs):
            value = objective.get_value(logs)
            if not objective.better_than(value, self.checkpoint.best_value):
                return
            self.checkpoint.best_value = value
        # Without the objective in the logs KerasTuner keeps every epoch; so does this.
        self._weights = self.model.get_weights()  # fresh NumPy copies

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._weights is None:
            return
        final = self.model.get_weights()
        self.model.set_weights(self._weights)
        try:
            # Where KerasTuner's `SaveBestEpoch._save_model` writes; trials never run under a
            # multi-worker strategy here (`tuning` refuses it), so its chief-only logic is not needed.
            target = Path(self.checkpoint.filepath)
            with tempfile.TemporaryDirectory() as scratch:
                local = Path(scratch) / target.name
                self.model.save_weights(local)
                rundir.write_bytes_atomic(target, local.read_bytes())
        finally:
            self.model.set_weights(final)
        self._weights = None
