"""The one training core: every command that trains builds, fits and scores through `Trainer`.

`train`, a search trial (`MLPHyperModel.fit`), the winner's retraining, each
seed-variance run and each `compare` regime make a `Trainer` and call its `train`
with different arguments; none assembles its own `fit`. The `Trainer` alone:

- builds the model (or takes the one KerasTuner built for a trial), decides
  whether XLA compiles its updates (`xla_choice`), and chooses between fused
  updates on one replica (`fuse_train_steps`) and a `tf.distribute` strategy
  (`distribution.make_strategy`);
- builds the input pipelines (`input_pipeline.fit_inputs` on one replica,
  arrays under a strategy, which shards them);
- runs `fit` with the standard callbacks (`standard_callbacks`), each switched
  on or off by an argument, the caller's own after them;
- scores the test split, once, when asked (`score_test_split`, one pass of predictions).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from callbacks.progress_bar import ProgressBar
from keras_minibatch.config import TrainConfig
from keras_minibatch.data.input_pipeline import fit_inputs
from keras_minibatch.training import multi_worker
from keras_minibatch.training.checkpointing import Checkpoint, restore_weights, weights_are_finite
from keras_minibatch.training.distribution import make_strategy
from keras_minibatch.training.fused_steps import fuse_train_steps
from keras_minibatch.training.model import build_mlp_for, build_training_variables
from keras_minibatch.training.scoring import TestScores, score_test_split
from keras_minibatch.training.standard_callbacks import standard_callbacks
from keras_minibatch.training.xla_choice import planned_updates, resolve_jit_compile

__all__ = ["FitOutcome", "Trainer"]

# Keras seeds initial weights, dropout and shuffling from one process-wide random state, so two
# trainings in threads of one process would draw from each other's numbers: one at a time.
_TRAINING = threading.Lock()


def _stopped_early(checkpoint: Checkpoint | None) -> bool:
    return checkpoint is not None and bool((checkpoint.early_stopping or {}).get("stopped_epoch"))


@dataclasses.dataclass
class FitOutcome:
    """What one `Trainer.train` produced.

    Attributes:
        history: Per-epoch metrics (with a resumed run's earlier epochs).
        stop_reason: Why early stopping stopped training, or `None`.
        divergence: Why the loss or the weights became NaN or infinite, or `None`.
        last_saved_epoch: The last checkpointed epoch (0-based), or `None`.
        callbacks: Every callback `fit` ran, in order (for tests and reports).
    """

    history: dict[str, list[float]]
    stop_reason: str | None
    divergence: str | None
    last_saved_epoch: int | None
    callbacks: list[keras.callbacks.Callback]


class Trainer:
    """Builds one model for `config` and fits and scores it.

    One process trains one model at a time: `train` refuses to start while
    another thread of the process is training (Keras' random state is shared).

    Args:
        config: The run's settings: model and optimizer (when the model is built
            here), `distribution`, `steps_per_execution`, early stopping, the
            plug-in callbacks and `seed`.
        input_shape: Shape of one sample (when the model is built here).
        num_classes: Number of classes (when the model is built here).
        epoch_rows: Rows one epoch trains on: fused updates per call are capped
            at an epoch's.
        batch_size: Rows per update. Defaults to `config.batch_size`.
        model: A compiled model built elsewhere (KerasTuner builds a trial's in
            its strategy's scope); its `jit_compile` is set to this training's
            choice. Defaults to `None`: built here, after
            `keras.utils.set_random_seed(seed)`.
        seed: Seeds the initial weights (when the model is built here) and the
            order of the rows every epoch. Defaults to `config.seed`.
        checkpoint: Weights and optimizer state to start from (a resumed run).
            Defaults to `None`.
        strategy: The strategy from `start_distribution` (made early, as
            multi-worker training needs). Defaults to `None`: made here when
            `config.distribution` asks for one.
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        epoch_rows: int,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        batch_size: int | None = None,
        model: keras.Model | None = None,
        seed: int | None = None,
        checkpoint: Checkpoint | None = None,
        strategy: Any = None,
    ):
        self.config = config
        self.batch_size = config.batch_size if batch_size is None else batch_size
        self.seed = config.seed if seed is None else seed
        # One process, one replica: fused updates split its batch, and the rows can be
        # datasets (under a strategy Keras' own steps_per_execution runs, and a dataset
        # would be sharded across workers where arrays are not).
        self.fused = config.distribution == "none"
        # Whether XLA compiles the updates: `auto` weighs the compile against the updates planned (config.epochs).
        self.jit_compile = resolve_jit_compile(
            config, num_updates=planned_updates(epochs=config.epochs, epoch_rows=epoch_rows, batch_size=self.batch_size),
        )
        if model is None:
            strategy = strategy or make_strategy(config.distribution)
            keras.utils.set_random_seed(self.seed)
            with strategy.scope():
                model = build_mlp_for(config, input_shape, num_classes, fused_steps=self.fused, jit_compile=self.jit_compile)
                if config.distribution == "multi_worker":
                    multi_worker.prepare_model(model, strategy)
                if checkpoint is not None:
                    restore_weights(model, checkpoint)
        else:
            model.jit_compile = self.jit_compile  # Read by fuse_train_steps and by Keras' first `fit`.
        self.model = model
        # `fit` gets `steps_per_execution` mini-batches per call (at most an epoch's), one update per `batch_size` rows.
        fit_batch_size = (
            fuse_train_steps(model, batch_size=self.batch_size, steps_per_execution=config.steps_per_execution, epoch_rows=epoch_rows)
            if self.fused else self.batch_size
        )
        self.fit_batch_size = min(fit_batch_size, epoch_rows)

    def train(
        self,
        fit_rows: tuple[Any, np.ndarray],
        validation_rows: tuple[Any, np.ndarray] | None = None,
        *,
        epochs: int,
        initial_epoch: int = 0,
        checkpoint: Checkpoint | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        epoch_log: str | os.PathLike | None = None,
        print_epochs: bool = False,
        tensorboard_dir: str | os.PathLike | None = None,
        early_stopping: bool = True,
        plugins: bool = True,
        guards: bool = True,
        progress_interval: float | None = None,
        extra_callbacks: Sequence[keras.callbacks.Callback] = (),
        progress_bar: bool = False,
        progress_label: str = "",
    ) -> FitOutcome:
        """Trains the model with `fit` on `fit_rows`, checking on `validation_rows` after every epoch.

        Args:
            fit_rows: `(x, y)` the updates learn from.
            validation_rows: `(x, y)` scored after every epoch. Defaults to `None`.
            epochs: The epoch to stop after (as `fit`'s `epochs`).
            initial_epoch: Epochs already done (a resumed run). Defaults to `0`.
            checkpoint: The checkpoint a resumed run starts from: its history
                and early stopping's state carry over. Defaults to `None`.
            checkpoint_dir: Where a per-epoch checkpoint is written (`None`: none).
            epoch_log: The `epochs.jsonl` to write (`None`: none); appended to
                when resuming.
            print_epochs: Whether the epoch log also prints one line per epoch.
            tensorboard_dir: Where per-epoch TensorBoard scalars go (`None`: none).
            early_stopping: Whether `config.early_stopping` applies (off for a
                fit without validation rows to watch). Defaults to `True`.
            plugins: Whether `config.callbacks` run. Defaults to `True`.
            guards: Whether the non-finite-loss stop and the termination guard
                run. Defaults to `True` (`compare` turns them off: its clock
                times the updates alone).
            progress_interval: Seconds between progress lines for long epochs
                (`None`: none).
            extra_callbacks: The caller's callbacks, after the standard ones.
            progress_bar: Whether a live line counts each epoch's updates (`callbacks.ProgressBar`, for a terminal;
                Keras' bar, which would count fused calls, is always off). Defaults to `False`.
            progress_label: Text that line starts with (`"trial 3/10"`). Defaults to `""`.

        Returns:
            A `FitOutcome`.
        """
        if early_stopping and _stopped_early(checkpoint):
            return self._outcome_of_stopped_run(checkpoint)
        x, y = fit_rows
        if self.fused:  # Without a strategy: made now, not in the first trace, which would then run twice.
            build_training_variables(self.model, x[:1], y[:1])
        # One fused call applies fit_batch_size / batch_size updates; under a strategy Keras' steps are batches.
        bar = ProgressBar(math.ceil(self.fit_batch_size / self.batch_size) if self.fused else 1, math.ceil(len(y) / self.batch_size), progress_label) if progress_bar else None
        built = standard_callbacks(
            self.config, num_samples=len(y), initial_epoch=initial_epoch, checkpoint=checkpoint, checkpoint_dir=checkpoint_dir,
            epoch_log=epoch_log, print_epochs=print_epochs, tensorboard_dir=tensorboard_dir, early_stopping=early_stopping,
            plugins=plugins, guards=guards, progress_interval=progress_interval, extra_callbacks=extra_callbacks, progress_bar=bar,
        )
        if not _TRAINING.acquire(blocking=False):
            raise RuntimeError("another thread of this process is training a model; Keras' random state is process-wide, so two trainings "
                               "at once would not be reproducible: train one model at a time per process (use processes for more).")
        try:
            history = self.model.fit(
                **self._inputs(x, y, validation_rows, first_epoch=initial_epoch),
                epochs=epochs, initial_epoch=initial_epoch, callbacks=built.in_order, verbose=0,
            ).history
        finally:
            _TRAINING.release()
            built.finish()  # Also after an interrupted fit(), which skips on_train_end.
        divergence = built.guard.stop_reason if built.guard else None
        if guards and divergence is None and not weights_are_finite(self.model.get_weights()):
            divergence = "the weights became NaN or infinite"
        return FitOutcome(
            history=built.checkpoint.history if built.checkpoint else {key: [float(value) for value in values] for key, values in history.items()},
            stop_reason=built.early_stopping.stop_reason if built.early_stopping else None,
            divergence=divergence,
            last_saved_epoch=built.checkpoint.last_saved_epoch if built.checkpoint else None,
            callbacks=built.in_order,
        )

    def _outcome_of_stopped_run(self, checkpoint: Checkpoint) -> FitOutcome:
        """A run killed after early stopping fired, before its results were saved: nothing is left to train."""
        if self.config.restore_best_weights and checkpoint.best_weights is not None:
            self.model.set_weights(checkpoint.best_weights)  # what the stop restored before the kill
        return FitOutcome(
            history={key: list(values) for key, values in checkpoint.history.items()},
            stop_reason=checkpoint.early_stopping.get("stop_reason") or "early stopping had stopped this run before it was interrupted",
            divergence=None, last_saved_epoch=checkpoint.epochs_done - 1, callbacks=[],
        )

    def _inputs(self, x: Any, y: np.ndarray, validation_rows: tuple[Any, np.ndarray] | None, *, first_epoch: int) -> dict[str, Any]:
        if self.fused:
            # Endless pipelines: one training iterator for the run, not one per epoch (see input_pipeline).
            x_validation, y_validation = validation_rows if validation_rows is not None else (None, None)
            return fit_inputs(x, y, x_validation, y_validation, batch_size=self.fit_batch_size, seed=self.seed, first_epoch=first_epoch).fit_arguments()
        # Arrays, for the strategy to split across replicas.
        inputs = {"x": x, "y": y, "batch_size": self.fit_batch_size, "shuffle": True}
        if validation_rows is not None:
            inputs["validation_data"] = validation_rows
        return inputs

    def score_test_split(self, x_test: Any, y_test: np.ndarray) -> TestScores:
        """The one look at the test split: its scores (`{"test_loss": ..., "test_accuracy": ...}`) and predicted classes."""
        return score_test_split(self.model, x_test, y_test)
