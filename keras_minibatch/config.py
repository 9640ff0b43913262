"""The training configuration: the single source of truth for hyperparameters.

`TrainConfig` is built by the command line, by the tuner and by user scripts, so
the same invalid value gets the same error everywhere (`checks`). This module
imports only the standard library: the CLI checks every value here *before*
TensorFlow is imported, which keeps a typo's error instant.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any

from keras_minibatch.checks import (
    MAX_SEED,
    ConfigError,
    check_choice,
    check_dropout,
    check_finite_non_negative,
    check_hidden_units,
    check_known_fields,
    check_learning_rate,
    check_non_negative_int,
    check_open_fraction,
    check_positive_int,
    plain_number,
)

# Names accepted by `keras.optimizers.get` (lower case) that make sense for an MLP.
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "lion")
ACTIVATIONS = ("relu", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid", "leaky_relu", "softplus", "linear")
EARLY_STOPPING_MODES = ("auto", "min", "max")
# What every epoch logs when early stopping reads it: the loss and the accuracy `build_mlp`
# compiles, on the training and the validation rows. Callbacks that add keys run after it.
EPOCH_LOG_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
# `jit_compile="auto"`: XLA when the training's updates repay the compile (`training.xla_choice`).
JIT_COMPILE_AUTO = "auto"
# tf.distribute strategies `train` can run under: none, MirroredStrategy (local
# devices), MultiWorkerMirroredStrategy (machines named by TF_CONFIG; multi_worker.py).
DISTRIBUTIONS = ("none", "mirrored", "multi_worker")

# Data sources known by name; anything else is a path (see `data.loading.load_dataset`).
SOURCE_NAMES = ("mnist", "fashion_mnist", "digits")
# What `dataset` may name, as error messages put it.
SOURCE_HELP = (
    "use one of: mnist, fashion_mnist, digits, a .npz file (x_train, y_train, x_test, y_test) "
    "or a folder of IDX files"
)

# The lecture's MLP: Flatten 28x28 -> Dense 32 -> 64 -> 128 -> 256 (relu) -> Dense 10 softmax.
LECTURE_HIDDEN_UNITS = (32, 64, 128, 256)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run, checked on construction.

    Args:
        dataset: A named source (`"digits"`, `"mnist"`, `"fashion_mnist"`) or
            a path to a `.npz` file or a folder of IDX files; a relative path is made absolute
            against the current folder, so a run names its data wherever it is
            resumed or scored from. Defaults to `"digits"` (offline).
        test_fraction: Share of the data held out as the test split for sources
            without one of their own. Defaults to `0.2`.
        max_train_samples: Optional cap on training rows (a stratified subsample)
            for quick runs. Defaults to `None` (all rows).
        hidden_units: Units of each hidden `Dense` layer. Defaults to the
            lecture's `(32, 64, 128, 256)`.
        activation: Activation of the hidden layers. Defaults to `"relu"`.
        dropout: Dropout rate after each hidden layer, in `[0, 1)`. Defaults to `0.0`.
        optimizer: Optimizer name. Defaults to `"adam"`.
        learning_rate: Optimizer learning rate, > 0. Defaults to `1e-3`.
        epochs: Passes over the training data. Defaults to `10`.
        batch_size: Samples per gradient update. Defaults to `32`.
        validation_split: Share of the training data held out (stratified) to
            check training as it goes. Defaults to `0.1`.
        seed: Seed for data splits, weight initialisation and shuffling.
            Defaults to `0`.
        steps_per_execution: Mini-batch updates per call into the compiled
            training function. `train` hands `fit` `batch_size *
            steps_per_execution` rows per call and applies one update per
            `batch_size` of them (`fused_steps`), so the updates are those of
            `1`; per-batch callback hooks run once per call. Every call is
            padded to this many updates' rows (one shape, one XLA compile), so
            `train` uses at most an epoch's updates. Under a `distribution`
            strategy Keras' own `steps_per_execution` is used. Defaults to
            `256`.
        jit_compile: Whether to compile the training updates with XLA:
            `True`, `False` or `"auto"`. XLA makes epochs at small batches on a
            CPU faster after a compile before the first step
            (docs/performance.md); `"auto"` compiles when the training's number
            of updates repays that compile (`training.xla_choice`), and never
            with `distribution="multi_worker"`. A run records the choice in its
            `config.json`, so a resumed run makes the same one. Defaults to
            `"auto"`.
        early_stopping: Whether to stop when `early_stopping_monitor` stops
            improving. Defaults to `False`.
        early_stopping_monitor: Metric watched by early stopping, one of
            `EPOCH_LOG_KEYS` (checked when `early_stopping` is on). Defaults
            to `"val_loss"`.
        early_stopping_patience: Epochs without improvement before stopping.
            Defaults to `3`.
        early_stopping_min_delta: Smallest change that counts as an improvement.
            Defaults to `0.0`.
        early_stopping_mode: `"auto"`, `"min"` or `"max"`. Defaults to `"auto"`.
        restore_best_weights: Whether early stopping restores the best epoch's
            weights. Defaults to `True`.
        callbacks: Extra callbacks as import specs,
            `"package.module:ClassName(key=value, ...)"`. Defaults to `()`.
        distribution: `"none"`, `"mirrored"` (`tf.distribute.MirroredStrategy`
            over the local devices) or `"multi_worker"`
            (`tf.distribute.MultiWorkerMirroredStrategy` over the workers named
            by the `TF_CONFIG` environment variable); `batch_size` is the
            global batch. Defaults to `"none"`.

    Raises:
        ConfigError: (a `ValueError`) naming the field, the value and what is allowed.
    """

    dataset: str = "digits"
    test_fraction: float = 0.2
    max_train_samples: int | None = None
    hidden_units: tuple[int, ...] = LECTURE_HIDDEN_UNITS
    activation: str = "relu"
    dropout: float = 0.0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    epochs: int = 10
    batch_size: int = 32
    validation_split: float = 0.1
    seed: int = 0
    steps_per_execution: int = 256
    jit_compile: bool | str = "auto"
    early_stopping: bool = False
    early_stopping_monitor: str = "val_loss"
    early_stopping_patience: int = 3
    early_stopping_min_delta: float = 0.0
    early_stopping_mode: str = "auto"
    restore_best_weights: bool = True
    callbacks: tuple[str, ...] = ()
    distribution: str = "none"

    def __post_init__(self) -> None:
        # NumPy scalars count as the numbers they are (a sweep over `np.arange` is common).
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, plain_number(getattr(self, field.name)))
        # Lists from JSON or flags become tuples, so configs stay hashable and comparable.
        object.__setattr__(self, "hidden_units", check_hidden_units(self.hidden_units))
        object.__setattr__(self, "callbacks", _callback_specs(self.callbacks))
        if isinstance(self.dataset, os.PathLike):
            object.__setattr__(self, "dataset", os.fspath(self.dataset))
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError("dataset", self.dataset, "must be a source name or a path")
        if self.dataset not in SOURCE_NAMES:
            # A run names its data by absolute path: resumed or scored from another folder, it is the same file.
            object.__setattr__(self, "dataset", os.path.abspath(os.path.expanduser(self.dataset)))
        check_open_fraction("test_fraction", self.test_fraction)
        if self.max_train_samples is not None:
            check_positive_int("max_train_samples", self.max_train_samples)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_dropout(self.dropout)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_learning_rate(self.learning_rate)
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_open_fraction("validation_split", self.validation_split)
        check_non_negative_int("seed", self.seed, maximum=MAX_SEED)
        check_positive_int("steps_per_execution", self.steps_per_execution)
        if not isinstance(self.jit_compile, bool) and self.jit_compile != JIT_COMPILE_AUTO:
            raise ConfigError("jit_compile", self.jit_compile, "must be true, false or auto")
        if not isinstance(self.early_stopping, bool):
            raise ConfigError("early_stopping", self.early_stopping, "must be true or false")
        if self.early_stopping:  # Read only then: a run recorded before this check may name anything without it.
            check_choice("early_stopping_monitor", self.early_stopping_monitor, EPOCH_LOG_KEYS)
        check_non_negative_int("early_stopping_patience", self.early_stopping_patience)
        check_finite_non_negative("early_stopping_min_delta", self.early_stopping_min_delta)
        check_choice("early_stopping_mode", self.early_stopping_mode, EARLY_STOPPING_MODES)
        if not isinstance(self.restore_best_weights, bool):
            raise ConfigError("restore_best_weights", self.restore_best_weights, "must be true or false")
        check_choice("distribution", self.distribution, DISTRIBUTIONS)
        if self.distribution == "multi_worker":
            # Both fail under MultiWorkerMirroredStrategy on CPU workers (multi_worker.py).
            if self.steps_per_execution != 1:
                raise ConfigError("steps_per_execution", self.steps_per_execution, "must be 1 with distribution=multi_worker: Keras 3's multi-step loop fails under MultiWorkerMirroredStrategy")
            if self.jit_compile is True:
                raise ConfigError("jit_compile", self.jit_compile, "must be false with distribution=multi_worker: XLA has no cross-worker collectives on CPU")

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as JSON-native values (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Builds a config from `to_dict()` output, refusing unknown keys.

        Raises:
            ConfigError: for an unknown key or an invalid value.
        """
        check_known_fields(cls, values, "config")
        return cls(**values)

    def replace(self, **changes: Any) -> "TrainConfig":
        """Returns a copy with `changes` applied (and checked)."""
        return dataclasses.replace(self, **changes)


def _callback_specs(value: Any) -> tuple[str, ...]:
    """`callbacks` as a tuple of specs: one string is one spec, `None` is none."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable) or not all(isinstance(spec, str) and spec for spec in value):
        raise ConfigError("callbacks", value, "must be a list of 'module:Class(key=value)' strings")
    return tuple(value)
