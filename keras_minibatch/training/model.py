"""Builds and compiles the lecture's multilayer perceptron."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import keras

from keras_minibatch.checks import (
    ConfigError,
    check_choice,
    check_dropout,
    check_hidden_units,
    check_learning_rate,
    plain_number,
)
from keras_minibatch.config import ACTIVATIONS, LECTURE_HIDDEN_UNITS, OPTIMIZERS, TrainConfig

_OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adagrad": keras.optimizers.Adagrad,
    "adadelta": keras.optimizers.Adadelta,
    "adamax": keras.optimizers.Adamax,
    "nadam": keras.optimizers.Nadam,
    "lion": keras.optimizers.Lion,
}


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """Returns a fresh optimizer called `name` with the given learning rate.

    Raises:
        ConfigError: if `name` is not one of `config.OPTIMIZERS`.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    return _OPTIMIZER_CLASSES[name](learning_rate=learning_rate)


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_model_size(input_shape: Sequence[int], num_classes: int, hidden_units: Sequence[int]) -> None:
    """Refuses an MLP whose training would not fit in this machine's memory.

    Training holds each float32 parameter about four times (the weight, its
    gradient and an optimizer's two slots, as Adam keeps); more than half the
    machine's memory for that is refused before anything is allocated.

    Raises:
        ConfigError: naming `hidden_units`, the parameter count and the memory.
    """
    sizes = [math.prod(input_shape), *hidden_units, num_classes]
    parameters = sum((inputs + 1) * outputs for inputs, outputs in zip(sizes, sizes[1:]))
    needed = parameters * 4 * 4
    memory = _physical_memory()
    if memory is not None and needed > memory // 2:
        raise ConfigError(
            "hidden_units", list(hidden_units),
            f"would make a model of {parameters:,} parameters, about {needed / 2**30:.1f} GiB to train; this machine has "
            f"{memory / 2**30:.1f} GiB: choose fewer or narrower layers",
        )


def build_mlp(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    hidden_units: Sequence[int] = LECTURE_HIDDEN_UNITS,
    activation: str = "relu",
    dropout: float = 0.0,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    steps_per_execution: int = 1,
    jit_compile: bool = False,
) -> keras.Model:
    """Builds the lecture's MLP and compiles it for integer class labels.

    `Input(uint8) -> Rescaling(1/255) -> Flatten -> Dense(u, activation)
    [-> Dropout] ... -> Dense(num_classes, softmax)`, compiled with sparse
    categorical cross-entropy and accuracy. The model takes 8-bit pixels
    (0..255, as `data.load_dataset` returns them) and scales them to [0, 1]
    itself: the data stays four times smaller until each batch reaches the
    model, and the saved model takes raw pixels like any image it will be
    shown. Weights are drawn from Keras' global seed, so call
    `keras.utils.set_random_seed` first for a reproducible model.

    Args:
        input_shape: Shape of one sample, e.g. `(28, 28)`.
        num_classes: Number of output classes.
        hidden_units: Units of each hidden layer. Defaults to `(32, 64, 128, 256)`.
        activation: Hidden-layer activation. Defaults to `"relu"`.
        dropout: Dropout rate after each hidden layer; `0` adds no dropout layer.
            Defaults to `0.0`.
        optimizer: Optimizer name, one of `config.OPTIMIZERS`. Defaults to `"adam"`.
        learning_rate: Learning rate. Defaults to `1e-3`.
        steps_per_execution: Batches per compiled call. Defaults to `1`.
        jit_compile: Whether to compile the train, test and predict steps with
            XLA. Defaults to `False`.

    Returns:
        A compiled `keras.Sequential` model.

    Raises:
        ConfigError: (a `ValueError`) for an unknown optimizer or activation,
            bad sizes, a dropout outside [0, 1), a learning rate that is not a
            finite number > 0, or a model too large for this machine's memory;
            the same checks and messages as `TrainConfig`.
    """
    check_choice("activation", activation, ACTIVATIONS)
    if not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) or num_classes < 2:
        raise ConfigError("num_classes", num_classes, "must be an integer >= 2: a classifier needs two classes or more")
    hidden_units = check_hidden_units(hidden_units)
    check_dropout(plain_number(dropout))
    check_learning_rate(plain_number(learning_rate))
    check_model_size(input_shape, int(num_classes), hidden_units)
    layers: list[keras.layers.Layer] = [
        keras.Input(shape=tuple(input_shape), dtype="uint8", name="pixels"),
        keras.layers.Rescaling(1.0 / 255, name="scale_to_unit"),
        keras.layers.Flatten(),
    ]
    for index, units in enumerate(hidden_units):
        layers.append(keras.layers.Dense(units, activation=activation, name=f"hidden_{index + 1}"))
        if dropout > 0:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout_{index + 1}"))
    layers.append(keras.layers.Dense(num_classes, activation="softmax", name="output"))
    model = keras.Sequential(layers, name="mlp")
    model.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    return model


def build_mlp_for(
    config: TrainConfig, input_shape: Sequence[int], num_classes: int, *, jit_compile: bool, fused_steps: bool = True,
) -> keras.Model:
    """Builds `build_mlp` with every model and optimizer setting of `config`.

    Args:
        config: The run's hyperparameters.
        input_shape: Shape of one sample.
        num_classes: Number of output classes.
        jit_compile: Whether XLA compiles the updates: `config.jit_compile`
            resolved for this training (`xla_choice.resolve_jit_compile`).
        fused_steps: Whether the caller fuses `config.steps_per_execution`
            updates per call itself (`fused_steps.fuse_train_steps`); if not,
            Keras' own `steps_per_execution` is compiled in (under a
            `tf.distribute` strategy). Defaults to `True`.
    """
    return build_mlp(
        input_shape,
        num_classes,
        hidden_units=config.hidden_units,
        activation=config.activation,
        dropout=config.dropout,
        optimizer=config.optimizer,
        learning_rate=config.learning_rate,
        steps_per_execution=1 if fused_steps else config.steps_per_execution,
        jit_compile=jit_compile,
    )


def build_training_variables(model: keras.Model, x_sample: Any, y_sample: Any) -> None:
    """Creates the optimizer's and the compiled metrics' variables now, eagerly.

    Without a `tf.distribute` strategy Keras creates them while it traces the
    first training step, and TensorFlow then traces that step a second time
    (a function whose first trace created variables is traced again without
    creating them): most of a short run's first epoch. Made beforehand, the
    step is traced once. Under a strategy Keras makes them itself, in its
    scope, before tracing: call this only without one.

    Args:
        model: A compiled model.
        x_sample: A few training rows, as `fit` gets them (their labels'
            form decides which accuracy the compiled `"accuracy"` is).
        y_sample: Their labels.
    """
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.compute_metrics(None, y_sample, model(x_sample, training=False))
    model.reset_metrics()


def count_parameters(model: keras.Model) -> tuple[int, int]:
    """Returns `(trainable, non_trainable)` parameter counts of a built model."""
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    non_trainable = sum(int(keras.ops.size(w)) for w in model.non_trainable_weights)
    return trainable, non_trainable
