"""The search space as a KerasTuner `HyperModel` over the one model builder, `build_mlp`.

Hidden layer `i` has its own `units_i`, declared inside
`hp.conditional_scope("num_layers", [i, ..., max])`: KerasTuner then knows which
units are active in a trial, so grid search does not enumerate widths of absent
layers, random search does not count them in its duplicate check, and Bayesian
optimization embeds absent layers at their default (all three handle conditional
scopes). For grid search the learning rate is a sorted choice of
half-decades. Every hyperparameter is declared in `build`, the batch
size included, so the space is complete before the first trial; `fit` reads the
batch size back.

A trial's `fit` costs what a plain `fit` costs (benchmarks/tuning_overhead.py):
its TensorBoard scalars come from `EpochScalars` (Keras' `TensorBoard` callback
does work after every batch), and KerasTuner's best-epoch checkpoint is written
once per trial by `DeferredCheckpoint` instead of after every improving epoch.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Sequence
from typing import Any

import keras
import keras_tuner

from keras_minibatch import compat
from keras_minibatch.config import TrainConfig
from keras_minibatch.training.core import Trainer
from keras_minibatch.data.splits import num_fit_rows
from keras_minibatch.tuning.deferred_checkpoint import DeferredCheckpoint
from keras_minibatch.training.model import build_mlp
from keras_minibatch.tuning.search_config import SearchConfig

__all__ = ["MLPHyperModel", "RequireObjective"]


def _log_grid(low: float, high: float, wanted: float) -> list[float]:
    """Returns `low`, `low * sqrt(10)`, `low * 10`, ... up to `high` (3 significant digits), with `wanted`."""
    steps = math.floor(2 * math.log10(high / low) + 1e-9)
    points = {float(f"{low * 10 ** (step / 2):.3g}") for step in range(steps + 1)} | {low, high}
    if low <= wanted <= high:
        points.add(wanted)
    return sorted(point for point in points if low <= point <= high)


class RequireObjective(keras.callbacks.Callback):
    """Stops the whole search when the objective is missing from the epoch logs.

    Every trial would fail the same way, so this raises KerasTuner's
    `FatalValueError`, which ends the search instead of failing trial after trial.
    """

    def __init__(self, objective: str):
        super().__init__()
        self.objective = objective

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.objective not in logs:
            raise keras_tuner.errors.FatalValueError(
                f"objective {self.objective!r} is not among the metrics fit() logged: "
                f"{', '.join(sorted(logs)) or 'none'}; fit with validation_split so val_ metrics exist."
            )


class MLPHyperModel(keras_tuner.HyperModel):
    """Samples the lecture's MLP (`build_mlp`) and its batch size from a `SearchConfig`.

    Defaults of each hyperparameter, the first trial of a grid search, are the
    `TrainConfig`'s own values where the space holds them (the lecture's MLP for
    a default `TrainConfig`).

    Args:
        input_shape: Shape of one sample, e.g. `(28, 28)`.
        num_classes: Number of classes.
        search_config: The space and objective.
        train_config: The seed, `steps_per_execution`, early stopping and
            plug-in callbacks used by every trial, and the defaults.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, *, search_config: SearchConfig, train_config: TrainConfig):
        super().__init__(name="mlp", tunable=True)
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.search_config = search_config
        self.train_config = train_config
        self._builds = 0  # models built since `begin_trial`: execution k builds with seed + k
        self._fits = 0  # fits since `begin_trial`: execution k logs to `execution<k>`

    def _choice(self, hp: keras_tuner.HyperParameters, name: str, values: Sequence[Any], wanted: Any, fixed_name: str | None = None) -> Any:
        fixed = self.search_config.fixed_values
        key = fixed_name or name
        if key in fixed:
            return hp.Fixed(name, fixed[key])
        if len(values) == 1:
            return hp.Fixed(name, values[0])
        return hp.Choice(name, list(values), default=wanted if wanted in values else None)

    def _number(self, hp: keras_tuner.HyperParameters, name: str, bounds: tuple[float, float], wanted: float, **kwargs: Any) -> float:
        fixed = self.search_config.fixed_values
        if name in fixed:
            return hp.Fixed(name, fixed[name])
        low, high = bounds
        if low == high:
            return hp.Fixed(name, low)
        return hp.Float(name, low, high, default=wanted if low <= wanted <= high else None, **kwargs)

    def _num_layers(self, hp: keras_tuner.HyperParameters) -> tuple[int, int, int]:
        """Declares `num_layers`; returns its value and the fewest and most layers a trial can have."""
        fixed = self.search_config.fixed_values
        low, high = self.search_config.num_layers_range
        if "num_layers" in fixed:
            low = high = fixed["num_layers"]
        if low == high:
            return hp.Fixed("num_layers", low), low, high
        wanted = len(self.train_config.hidden_units)
        return hp.Int("num_layers", low, high, default=wanted if low <= wanted <= high else None), low, high

    def batch_size(self, hp: keras_tuner.HyperParameters) -> int:
        """Declares (or reads back) `batch_size`."""
        return self._choice(hp, "batch_size", self.search_config.batch_size_choices, self.train_config.batch_size)

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        """Declares the space and returns the compiled MLP for `hp`'s values."""
        space, wanted = self.search_config, self.train_config
        num_layers, min_layers, max_layers = self._num_layers(hp)
        hidden_units = []
        for index in range(1, max_layers + 1):
            default = wanted.hidden_units[index - 1] if index <= len(wanted.hidden_units) else None
            # Layers every trial has need no condition; deeper ones exist for num_layers >= index.
            scope = hp.conditional_scope("num_layers", list(range(index, max_layers + 1))) if index > min_layers else contextlib.nullcontext()
            with scope:
                units = self._choice(hp, f"units_{index}", space.units_choices, default, fixed_name="units")
            if index <= num_layers:
                hidden_units.append(units)
        activation = self._choice(hp, "activation", space.activation_choices, wanted.activation)
        dropout = self._number(hp, "dropout", space.dropout_range, wanted.dropout, step=0.1)
        optimizer = self._choice(hp, "optimizer", space.optimizer_choices, wanted.optimizer)
        if space.tuner == "grid" and "learning_rate" not in space.fixed_values:
            # KerasTuner's grid walks a stepless Float's 10 mid-decile values in set order; a
            # sorted Choice of half-decades (plus the configured rate) is a grid one can read.
            learning_rate = self._choice(hp, "learning_rate", _log_grid(*space.learning_rate_range, wanted.learning_rate), wanted.learning_rate)
        else:
            learning_rate = self._number(hp, "learning_rate", space.learning_rate_range, wanted.learning_rate, sampling="log")
        self.batch_size(hp)
        # Every trial starts from the same seed (and so does its rerun after a crash); the
        # executions of one trial differ, or averaging them would average copies.
        keras.utils.set_random_seed(wanted.seed + self._builds)
        self._builds += 1
        return build_mlp(
            self.input_shape,
            self.num_classes,
            hidden_units=hidden_units,
            activation=activation,
            dropout=round(float(dropout), 10),
            optimizer=optimizer,
            learning_rate=float(learning_rate),
            # Fused updates (see `fit`) on one replica; Keras' own steps_per_execution under a strategy.
            steps_per_execution=1 if wanted.distribution == "none" else wanted.steps_per_execution,
            jit_compile=False,  # XLA or not is the training core's choice, once it knows the trial's updates (`Trainer`).
        )

    def fit(
        self, hp: keras_tuner.HyperParameters, model: keras.Model, *args: Any, trial_logdir: str | None = None,
        progress_label: str | None = None, callbacks: Sequence[keras.callbacks.Callback] = (), **kwargs: Any,
    ) -> keras.callbacks.History:
        """Fits `model` through the training core with the trial's batch size; a NaN or infinite loss fails the trial.

        Args:
            hp: The trial's hyperparameters.
            model: The model `build` returned.
            *args: `x` and `y`, the reordered training rows (KerasTuner passes
                `tuner.search`'s arguments on).
            trial_logdir: Folder for this trial's TensorBoard logs; each execution
                writes to `execution<k>` inside it. Defaults to `None` (no logs).
            progress_label: The trial's name on a live progress line for a
                terminal (`"trial 3/10"`), or `None` for no line. Defaults to `None`.
            callbacks: KerasTuner's callbacks for this execution.
            **kwargs: `x`, `y`, `epochs`, `validation_split` (Keras' meaning: the
                last rows), `shuffle` (always on) and `verbose` (ignored: Keras'
                bar would count fused calls; `progress_label` asks for ours).

        Returns:
            A `History` whose `history` holds the per-epoch metrics.

        Raises:
            keras_tuner.errors.FailedTrialError: when the loss became NaN or infinite.
            ValueError: for a `fit` argument the training core does not take.
        """
        x, y, epochs, initial_epoch, validation_split = _fit_arguments(args, kwargs)
        num_fit = num_fit_rows(len(y), validation_split)
        execution, self._fits = self._fits, self._fits + 1
        trainer = Trainer(self.train_config, model=model, batch_size=self.batch_size(hp), epoch_rows=num_fit, seed=self.train_config.seed + execution)
        save_best_epoch = compat.kerastuner_save_best_epoch()
        if progress_label is not None and self.search_config.executions_per_trial > 1:
            progress_label += f" run {execution + 1}/{self.search_config.executions_per_trial}"
        outcome = trainer.train(
            (x[:num_fit], y[:num_fit]), (x[num_fit:], y[num_fit:]) if num_fit < len(y) else None, epochs=epochs, initial_epoch=initial_epoch,
            tensorboard_dir=os.path.join(trial_logdir, f"execution{execution}") if trial_logdir is not None else None,
            extra_callbacks=[
                *(DeferredCheckpoint(callback) if isinstance(callback, save_best_epoch) else callback for callback in callbacks),
                RequireObjective(self.search_config.objective),
            ],
            progress_bar=progress_label is not None, progress_label=progress_label or "",
        )
        if outcome.divergence:
            raise keras_tuner.errors.FailedTrialError(outcome.divergence)
        history = keras.callbacks.History()  # What `model.fit` returns, for KerasTuner and the trial table.
        history.history = outcome.history
        history.epoch = list(range(initial_epoch, initial_epoch + len(outcome.history.get("loss", []))))
        return history

    def begin_trial(self) -> None:
        """Restarts execution numbering; the tuner calls it before each trial's first build."""
        self._builds = 0
        self._fits = 0


# What `tuning.search` passes to `tuner.search`, and `initial_epoch` (Hyperband continues trials).
_FIT_KEYWORDS = ("x", "y", "epochs", "initial_epoch", "validation_split", "shuffle", "verbose")


def _fit_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, int, int, float]:
    """Reads `tuner.search`'s `fit` arguments: `(x, y, epochs, initial_epoch, validation_split)`."""
    unknown = sorted(set(kwargs) - set(_FIT_KEYWORDS))
    if unknown or len(args) > 2:
        raise ValueError(
            f"MLPHyperModel.fit takes x, y and the keywords {', '.join(_FIT_KEYWORDS)}; got {', '.join(unknown) or f'{len(args)} positional arguments'}. "
            "The training core chooses batches, shuffling and validation rows itself."
        )
    values = dict(zip(("x", "y"), args), **kwargs)
    return (
        values["x"], values["y"], int(values.get("epochs", 1)), int(values.get("initial_epoch", 0)),
        float(values.get("validation_split", 0.0)),
    )
