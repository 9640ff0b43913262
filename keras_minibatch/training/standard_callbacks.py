"""The callbacks every training runs, built in one place for `Trainer.train`.

Each is switched on or off by an argument: the live progress line of a
terminal, the epoch log, TensorBoard scalars, early stopping, the `--callbacks`
plug-ins, the non-finite-loss stop, progress lines, the per-epoch checkpoint and
the termination guard; the caller's own callbacks come after them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import keras

import callbacks as minibatch_callbacks
from keras_minibatch.config import TrainConfig
from keras_minibatch.run_folders.rundir import CorruptCheckpointError
from keras_minibatch.training.checkpointing import Checkpoint, TrainingCheckpoint
from keras_minibatch.training.epoch_scalars import EpochScalars
from keras_minibatch.training.plugins import load_callback
from keras_minibatch.training.termination_callback import RaiseOnStopRequest


def make_early_stopping(config: TrainConfig) -> minibatch_callbacks.EarlyStopping | None:
    """Returns the run's early stopping callback, or `None` when it is off."""
    if not config.early_stopping:
        return None
    return minibatch_callbacks.EarlyStopping(
        monitor=config.early_stopping_monitor,
        min_delta=config.early_stopping_min_delta,
        patience=config.early_stopping_patience,
        mode=config.early_stopping_mode,
        restore_best_weights=config.restore_best_weights,
        verbose=0,
    )


@dataclasses.dataclass
class StandardCallbacks:
    """The callbacks of one `fit`, and those whose state is read after it.

    Attributes:
        in_order: Every callback for `fit`: the standard ones, then the caller's.
        early_stopping: The run's early stopping, or `None`.
        guard: The non-finite-loss stop, or `None`.
        checkpoint: The per-epoch checkpoint, or `None`.
        epoch_log: The epoch log, or `None`.
        progress_bar: The live progress line, or `None`.

    Call `finish()` after `fit`, also an interrupted one.
    """

    in_order: list[keras.callbacks.Callback]
    early_stopping: minibatch_callbacks.EarlyStopping | None
    guard: minibatch_callbacks.StopOnNonFiniteLoss | None
    checkpoint: TrainingCheckpoint | None
    epoch_log: minibatch_callbacks.EpochMetricsLogger | None
    progress_bar: minibatch_callbacks.ProgressBar | None = None

    def finish(self) -> None:
        """Closes what `fit` leaves open when interrupted (it skips `on_train_end`).

        The epoch log is closed, the live line erased (an error would be
        printed onto it) and the last checkpoint write waited for, so the last
        epoch's checkpoint is on disk before the caller goes on.
        """
        if self.epoch_log is not None:
            self.epoch_log.close()
        if self.progress_bar is not None:
            self.progress_bar.erase()
        if self.checkpoint is not None:
            self.checkpoint.finish()


def standard_callbacks(
    config: TrainConfig,
    *,
    num_samples: int,
    initial_epoch: int,
    checkpoint: Checkpoint | None,
    checkpoint_dir: str | os.PathLike | None,
    epoch_log: str | os.PathLike | None,
    print_epochs: bool,
    tensorboard_dir: str | os.PathLike | None,
    early_stopping: bool,
    plugins: bool,
    guards: bool,
    progress_interval: float | None,
    extra_callbacks: Sequence[keras.callbacks.Callback],
    progress_bar: minibatch_callbacks.ProgressBar | None = None,
) -> StandardCallbacks:
    """Builds the callbacks of one `fit`, in the order they run.

    `num_samples` is the number of rows `fit` trains on (for the epoch log);
    `progress_bar` is the terminal's live line (`None`: none), which the epoch
    log's lines are then wrapped to fit; every other argument is
    `Trainer.train`'s, documented there. The epoch log prints without a file
    when `epoch_log` is `None` and `print_epochs` is set.

    Raises:
        CorruptCheckpointError: when `checkpoint`'s early stopping state is damaged.
        CallbackSpecError: when a plug-in cannot be loaded.
    """
    stopper = make_early_stopping(config) if early_stopping else None
    if stopper is not None and checkpoint is not None and checkpoint.early_stopping is not None:
        try:
            stopper.set_state(checkpoint.early_stopping, checkpoint.best_weights)
        except (TypeError, ValueError, KeyError) as error:
            raise CorruptCheckpointError(
                f"the checkpoint's early stopping state is damaged ({error}); delete the checkpoint folder "
                "to restart from epoch 1, or rerun with --overwrite."
            ) from error
    guard = minibatch_callbacks.StopOnNonFiniteLoss() if guards else None
    saver = None
    if checkpoint_dir is not None:
        saver = TrainingCheckpoint(checkpoint_dir, history_before=checkpoint.history if checkpoint else None, early_stopping=stopper)
    logger = None
    if epoch_log is not None or print_epochs:
        logger = minibatch_callbacks.EpochMetricsLogger(
            None if epoch_log is None else str(epoch_log), num_samples=num_samples, verbose=1 if print_epochs else 0,
            append=initial_epoch > 0 or checkpoint is not None, wrap=progress_bar is not None,
        )
    in_order = [
        *([progress_bar] if progress_bar else []),  # First: it erases its line before anything prints an epoch's end.
        *([logger] if logger else []),
        # Keras' TensorBoard callback would add a no-op hook to every call (see EpochScalars).
        *([EpochScalars(tensorboard_dir)] if tensorboard_dir is not None else []),
        *([stopper] if stopper else []),
        *((load_callback(spec) for spec in config.callbacks) if plugins else ()),
        *([guard] if guard else []),
        # Where a long epoch is, as whole lines, when there is no progress bar (a log, a pipe).
        *([minibatch_callbacks.ProgressLogger(interval=progress_interval)] if progress_interval is not None else []),
        *([saver] if saver else []),  # Last of ours but one: it saves the state the others reached this epoch.
        *([RaiseOnStopRequest()] if guards else []),  # A Ctrl-C or SIGTERM whose exception was lost still stops the run, after the save.
        *extra_callbacks,
    ]
    return StandardCallbacks(in_order=in_order, early_stopping=stopper, guard=guard, checkpoint=saver, epoch_log=logger, progress_bar=progress_bar)
