"""Hands `fit` its training and validation rows as endless `tf.data` pipelines.

Given arrays, Keras' `fit` builds a fresh `tf.data` iterator for the training
rows every epoch, and two for the validation rows (one to score them, one made
ahead for the next epoch). Starting and tearing down each one costs time that
is a noticeable share of an epoch with fused updates (benchmarks/README.md).

Here both are endless datasets read `steps_per_epoch` (and `validation_steps`)
batches at a time, so Keras keeps one training iterator for the whole run and
makes one validation iterator per epoch. What `fit` computes is unchanged:

- Training: every epoch is one pass over all rows in a new random order (a full
  permutation, as Keras' `shuffle=True` draws for arrays), cut into consecutive
  batches with a short last one. The order of epoch `e` depends only on
  `(seed, e)`, so a run resumed at epoch `e` sees the orders the uninterrupted
  run would have seen.
- Validation: the same consecutive batches, in the same order, every epoch.

Both keep the rows as they are (no copy: see `_rows_of`; arrays become
tensors with one copy, `data/row_tensors.py`) and run without `tf.data`'s graph
rewrites and autotuning (`_without_rewrites_or_autotuning`).

TensorFlow backend, one process: under a `tf.distribute` strategy hand `fit`
the arrays (a dataset would be sharded across workers where arrays are not).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_minibatch.data.row_tensors import rows_as_tensor

if TYPE_CHECKING:
    import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class FitInputs:
    """What `fit` trains and validates on: endless datasets and how much of them is an epoch.

    Attributes:
        x: `(inputs, labels)` batches, one epoch after another.
        steps_per_epoch: Batches in one epoch of `x`.
        validation_data: `(inputs, labels)` batches of the held-out rows, repeated.
        validation_steps: Batches in one pass over the held-out rows.
    """

    x: tf.data.Dataset
    steps_per_epoch: int
    validation_data: tf.data.Dataset | None
    validation_steps: int | None

    def fit_arguments(self) -> dict[str, Any]:
        """Returns the keyword arguments of `fit` that feed it these rows."""
        arguments = {
            "x": self.x,
            "steps_per_epoch": self.steps_per_epoch,
            "shuffle": False,  # The training dataset shuffles every epoch itself.
        }
        if self.validation_data is not None:
            arguments.update(validation_data=self.validation_data, validation_steps=self.validation_steps)
        return arguments


def _check_rows(name: str, x: Any, y: Any, batch_size: int) -> int:
    num_rows, num_labels = int(x.shape[0]), int(y.shape[0])
    whole = isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
    if num_rows == 0 or num_labels != num_rows or not whole or batch_size < 1:
        raise ValueError(
            f"{name} needs rows, as many labels as inputs and batch_size >= 1; "
            f"got {num_rows} inputs, {num_labels} labels, batch_size={batch_size!r}. "
            "Pass the same rows of inputs and labels, and a whole number of rows per batch."
        )
    return num_rows


def _rows_of(x: Any, y: Any) -> tf.data.Dataset:
    """The arrays as an endless dataset of the one element `(x, y)`.

    Batches are cut from its element rather than from tensors a `map` function
    captures: `tf.data` copies captured tensors into its graph, a second copy of
    every pixel.
    """
    import tensorflow as tf

    return tf.data.Dataset.from_tensors((rows_as_tensor(x), tf.convert_to_tensor(y))).repeat()


def _without_rewrites_or_autotuning(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Turns off `tf.data`'s default graph rewrites and its autotuning.

    Rewrites: to rewrite a pipeline `tf.data` serializes its graph when the
    iterator is made, and with it the arrays of `_rows_of`, a passing copy of
    every pixel (Keras' pipeline for arrays turns them off too).

    Autotuning: these pipelines have nothing to tune, and deleting an iterator
    that autotuning has watched for a while can block: in the benchmark Keras'
    `evaluate` sometimes stalled deleting the previous epoch's validation
    iterator (`EpochIterator.reset`), and never with autotuning off
    (benchmarks/README.md).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    options.autotune.enabled = False
    return dataset.with_options(options)


def shuffled_epochs(x: np.ndarray | tf.Tensor, y: np.ndarray | tf.Tensor, batch_size: int, *, seed: int, first_epoch: int = 0) -> tuple[tf.data.Dataset, int]:
    """Returns an endless dataset of training batches, one shuffled epoch after another.

    Each epoch is a permutation of all rows drawn from `(seed, epoch)`, cut into
    consecutive `batch_size` batches; the last batch of an epoch holds the rows
    left over (fewer when `batch_size` does not divide the rows).

    Args:
        x: The inputs, rows first.
        y: The labels, as many rows.
        batch_size: Rows per batch.
        seed: Seeds every epoch's order.
        first_epoch: The (0-based) epoch the dataset starts with; a resumed
            run passes the epochs already done.

    Returns:
        `(dataset, steps_per_epoch)`: the dataset of `(x_batch, y_batch)`
        tuples and how many batches make one epoch.

    Raises:
        ValueError: for no rows, `x` and `y` of different lengths, a
            `batch_size` below 1 or a negative `first_epoch`.
    """
    import tensorflow as tf

    num_rows = _check_rows("shuffled_epochs", x, y, batch_size)
    if not isinstance(first_epoch, int) or isinstance(first_epoch, bool) or first_epoch < 0:
        raise ValueError(f"shuffled_epochs needs first_epoch >= 0 (the epochs already done); got {first_epoch!r}.")

    def epoch_order(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(num_rows, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    batches = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max).flat_map(epoch_order)
    dataset = tf.data.Dataset.zip(batches, _rows_of(x, y)).map(lambda rows, xy: (tf.gather(xy[0], rows), tf.gather(xy[1], rows)))
    # prefetch(1): one gathered batch is made ready while the model trains on the one before.
    return _without_rewrites_or_autotuning(dataset.prefetch(1)), -(-num_rows // batch_size)


def consecutive_batches(x: np.ndarray | tf.Tensor, y: np.ndarray | tf.Tensor, batch_size: int) -> tuple[tf.data.Dataset, int]:
    """Returns an endless dataset of the rows' consecutive batches, pass after pass.

    One pass scores what `evaluate(x, y, batch_size=batch_size)` scores, with
    no index permutation or gather (Keras' pipeline for arrays).

    Args:
        x: The inputs, rows first.
        y: The labels, as many rows.
        batch_size: Rows per batch; the last batch of a pass may be shorter.

    Returns:
        `(dataset, steps)`: the dataset of `(x_batch, y_batch)` tuples and how
        many batches make one pass.

    Raises:
        ValueError: for no rows, `x` and `y` of different lengths, or a
            `batch_size` below 1.
    """
    import tensorflow as tf

    num_rows = _check_rows("consecutive_batches", x, y, batch_size)
    num_batches = -(-num_rows // batch_size)
    if num_batches == 1:
        # All rows in one batch (the usual case with fused super-batches): no function to
        # instantiate for every new iterator, a cost paid on every epoch's validation.
        return _without_rewrites_or_autotuning(_rows_of(x, y)), 1

    def batch(index, xy):
        rows = slice(index * batch_size, (index + 1) * batch_size)
        return xy[0][rows], xy[1][rows]

    return _without_rewrites_or_autotuning(tf.data.Dataset.zip(tf.data.Dataset.range(num_batches), _rows_of(x, y)).map(batch).repeat()), num_batches


def fit_inputs(
    x: np.ndarray | tf.Tensor,
    y: np.ndarray | tf.Tensor,
    x_validation: np.ndarray | tf.Tensor | None,
    y_validation: np.ndarray | tf.Tensor | None,
    *,
    batch_size: int,
    seed: int,
    first_epoch: int = 0,
) -> FitInputs:
    """Returns the training and held-out rows as `fit`'s endless pipelines.

    `model.fit(**fit_inputs(...).fit_arguments(), epochs=...)` trains as
    `model.fit(x, y, batch_size=batch_size, shuffle=True,
    validation_data=(x_validation, y_validation))` does, apart from which
    random order each epoch takes.

    Args:
        x: The training inputs, rows first.
        y: The training labels.
        x_validation: The held-out inputs, or `None` (no validation).
        y_validation: The held-out labels, or `None`.
        batch_size: Rows per batch, training and validation.
        seed: Seeds every epoch's order.
        first_epoch: The (0-based) epoch `fit` starts at (its `initial_epoch`).

    Returns:
        A `FitInputs`.

    Raises:
        ValueError: for no rows, inputs and labels of different lengths, a
            `batch_size` below 1 or a negative `first_epoch`.
    """
    training, steps_per_epoch = shuffled_epochs(x, y, batch_size, seed=seed, first_epoch=first_epoch)
    if x_validation is None:
        return FitInputs(training, steps_per_epoch, None, None)
    validation, validation_steps = consecutive_batches(x_validation, y_validation, batch_size)
    return FitInputs(training, steps_per_epoch, validation, validation_steps)
