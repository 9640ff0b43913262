"""Per-epoch TensorBoard scalars for runs and search trials, without per-batch work."""

from __future__ import annotations

import os
from typing import Any

import keras


class EpochScalars(keras.callbacks.Callback):
    """Writes each epoch's logs as TensorBoard scalars, laid out as Keras' `TensorBoard` does.

    `log_dir/train` gets `epoch_<name>` for every training metric and the
    optimizer's `epoch_learning_rate`, and `log_dir/validation` gets
    `epoch_<name>` for every `val_<name>`, one value per epoch: the layout and
    tags of `keras.callbacks.TensorBoard(update_freq="epoch")`, so TensorBoard
    shows trials and `train` runs side by side. (Keras' callback also writes
    `evaluation_<name>_vs_iterations`, the validation metrics against optimizer
    updates; per epoch is the same curve.) The writers are flushed every epoch,
    so an interrupted run keeps the scalars of its finished epochs.

    Why not Keras' callback: it has a batch-end hook that it runs even when it
    only logs epochs: a no-op summary call per logged value, time taken from the
    training thread on every call into the training function (measured in
    benchmarks/README.md).

    Args:
        log_dir: Folder of the two runs; created when training begins.
    """

    def __init__(self, log_dir: str | os.PathLike):
        super().__init__()
        self.log_dir = str(log_dir)
        self._writers: dict[str, Any] = {}

    def get_config(self) -> dict[str, Any]:
        return {"log_dir": self.log_dir}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EpochScalars:
        return cls(**config)

    def on_train_begin(self, logs: dict | None = None) -> None:
        import tensorflow as tf

        self._writers = {run: tf.summary.create_file_writer(os.path.join(self.log_dir, run)) for run in ("train", "validation")}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        import tensorflow as tf

        logs = logs or {}
        learning_rate = self._learning_rate()
        for run, prefix in (("train", ""), ("validation", "val_")):
            names = [name for name in logs if name.startswith("val_") == (prefix == "val_")]
            if not names or run not in self._writers:
                continue
            with self._writers[run].as_default():
                for name in names:
                    tf.summary.scalar(f"epoch_{name.removeprefix(prefix)}", float(logs[name]), step=epoch)
                if run == "train" and learning_rate is not None:
                    tf.summary.scalar("epoch_learning_rate", learning_rate, step=epoch)
            self._writers[run].flush()

    def _learning_rate(self) -> float | None:
        """The optimizer's learning rate now (a schedule's current value), if there is an optimizer."""
        if getattr(self, "_model", None) is None:  # Hooks called without a model (tests).
            return None
        optimizer = getattr(self.model, "optimizer", None)
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            return None
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))

    def on_train_end(self, logs: dict | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
