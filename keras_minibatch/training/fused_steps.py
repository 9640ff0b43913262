"""Runs several mini-batch updates per call into the compiled training function.

Keras' TensorFlow trainer implements `steps_per_execution` as a `tf.while_loop`
that pulls one batch at a time from a `tf.data` iterator and launches one step
per batch: at the lecture's small batches on a CPU the iterator hand-off and the
per-op dispatch of a step's many small ops cost more than its few matrix products
(see benchmarks/README.md), and `jit_compile` cannot fuse across the loop. Here `fit` is handed *super-batches*
of `steps_per_execution * batch_size` rows instead; the model's `train_step`
cuts each one into consecutive `batch_size` slices and applies one optimizer
update per slice, all inside one compiled function (one XLA program with
`jit_compile=True`, compiled once: every call hands it the same shape).

The updates are exactly those of `fit(batch_size=batch_size)`: Keras shuffles
all rows once per epoch and slices the permutation into super-batches, so the
slices are the consecutive `batch_size` chunks of that permutation, with the
same short last batch. Only the batch hooks of callbacks run less often: once
per super-batch, with `batch` counting super-batches (as with Keras' own
`steps_per_execution`, per-batch callbacks see one call per execution).

TensorFlow backend only. The saved model is the plain Keras model: the fused
step is an attribute of this instance, not part of its class or config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    import tensorflow as tf


def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` ({value!r}) must be an integer >= 1.")


def full_chunks(tensor: tf.Tensor, batch_size: int, min_chunks: int) -> tf.Tensor:
    """Stacks a batch's whole `batch_size`-row slices into one tensor, padded to `min_chunks`.

    The rows after the last whole slice are left out. Fewer than `min_chunks`
    slices are padded with zero slices, so every batch of up to
    `min_chunks * batch_size` rows gives the same shape: XLA then compiles the
    updates once, where each new shape would cost another compile (peak memory
    and time; see benchmarks/README.md). A larger batch gives more slices.

    Args:
        tensor: A batch, rows first.
        batch_size: Rows per slice.
        min_chunks: How many slices to pad up to.

    Returns:
        A tensor shaped `[max(whole slices, min_chunks), batch_size, *tensor.shape[1:]]`.
    """
    import tensorflow as tf

    num_full = tf.shape(tensor)[0] // batch_size
    rows = tf.maximum(num_full, min_chunks) * batch_size
    padded = tf.pad(tensor[: num_full * batch_size], [[0, rows - num_full * batch_size]] + [[0, 0]] * (len(tensor.shape) - 1))
    return tf.reshape(padded, tf.concat([[-1, batch_size], tf.shape(tensor)[1:]], axis=0))


def fuse_train_steps(model: keras.Model, *, batch_size: int, steps_per_execution: int, epoch_rows: int | None = None) -> int:
    """Makes `model.train_step` run one update per `batch_size` rows of its batch.

    Call after `compile` and before the first `fit`; then pass the returned
    size as `fit(batch_size=...)`. A batch of `batch_size` rows or fewer is one
    update, as before, so a caller that keeps `fit(batch_size=batch_size)`
    trains exactly as without fusing (only slower under XLA: every call's whole
    slices are padded to `steps_per_execution` of them, so keep `steps_per_execution`
    no larger than an epoch's updates, as `epoch_rows` does).

    Without XLA one loop runs every slice, the short last one included. A
    model compiled with `jit_compile=True` gets its whole slices padded to
    `steps_per_execution` and compiled into one XLA program
    (`model.fused_updates`), and only them: the short
    last batch of an epoch, validation, `evaluate` and `predict` run op by op
    (`model.jit_compile` becomes `False`), because every new batch shape costs
    XLA another compile, in peak memory and time, to save little on one pass
    over a few batches.

    Args:
        model: A compiled model, with the TensorFlow backend.
        batch_size: Rows per optimizer update (the mini-batch).
        steps_per_execution: Updates per call into the compiled function;
            `1` leaves the model untouched.
        epoch_rows: Rows `fit` trains on per epoch, when known: the updates
            per call are then at most an epoch's, since every call is padded
            to `steps_per_execution` slices (a full-batch `batch_size` would
            otherwise be padded to `steps_per_execution` copies of the data).

    Returns:
        The batch size to pass to `fit`: `batch_size` times the updates per call.

    Raises:
        ValueError: for a size below 1, a model that has already been trained
            (its training function is built), or another backend.
    """
    _check_count("batch_size", batch_size)
    _check_count("steps_per_execution", steps_per_execution)
    if epoch_rows is not None:
        _check_count("epoch_rows", epoch_rows)
    if steps_per_execution == 1:
        return batch_size
    if epoch_rows is not None:
        # Capped at one update a call, the model is still fused: XLA for its updates only.
        steps_per_execution = min(steps_per_execution, -(-epoch_rows // batch_size))
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"fused steps need the TensorFlow backend, not {keras.backend.backend()!r}; "
            "use `compile(steps_per_execution=...)` there instead."
        )
    if getattr(model, "train_function", None) is not None:
        raise ValueError(
            "`model` has already been fit, so its training function is built; call "
            "`fuse_train_steps` before the first `fit`."
        )
    import tensorflow as tf  # The backend is TensorFlow, so this import is free.

    class_train_step = type(model).train_step
    fit_batch_size = batch_size * steps_per_execution

    if not model.jit_compile:
        model.train_step = _op_by_op_train_step(model, class_train_step, batch_size)
        return fit_batch_size
    model.jit_compile = False  # Test and predict steps: see the docstring.

    def fused_updates(chunks, num_full):
        """Applies one update per leading slice of `chunks`, for the first `num_full`."""

        def update(index):
            class_train_step(model, keras.tree.map_structure(lambda t: None if t is None else t[index], chunks, none_is_leaf=True))
            return (index + 1,)

        tf.while_loop(lambda index: index < num_full, update, (tf.constant(0),))

    model.fused_updates = tf.function(fused_updates, jit_compile=True)

    def train_step(data):
        num_rows = tf.shape(next(t for t in keras.tree.flatten(data) if t is not None))[0]
        num_full = num_rows // batch_size
        end_of_full = num_full * batch_size

        def chunked(tensor):
            return None if tensor is None else full_chunks(tensor, batch_size, steps_per_execution)

        # Every call hands the updates the same shape, so XLA compiles them once; a
        # batch without a whole slice (an epoch's last, short one) skips them.
        def update_whole_slices():
            model.fused_updates(keras.tree.map_structure(chunked, data, none_is_leaf=True), num_full)
            return tf.constant(True)

        tf.cond(num_full > 0, update_whole_slices, lambda: tf.constant(False))

        # The rows after the last whole slice (the epoch's short last batch) are one
        # update of their own, outside XLA: their one-off shape is not worth a compile.
        def update_short_batch():
            class_train_step(model, keras.tree.map_structure(lambda t: None if t is None else t[end_of_full:], data, none_is_leaf=True))
            return tf.constant(True)

        tf.cond(end_of_full < num_rows, update_short_batch, lambda: tf.constant(False))
        # What Keras' own train_step returns (`compute_metrics` ends with it); reading
        # the metric variables after the updates orders the read after all of them.
        return model.get_metrics_result()

    model.train_step = train_step
    return fit_batch_size


def _op_by_op_train_step(model: keras.Model, class_train_step: Callable[..., Any], batch_size: int) -> Callable[[Any], Any]:
    """A `train_step` without XLA: one loop over every `batch_size` slice of the batch, the short last one too.

    Without XLA a slice may have any number of rows, so the loop needs no
    padding and no separate update for the short last batch: the training step
    is traced once, where the padded XLA loop and the short batch trace it
    twice (tracing is most of a short run's fixed cost).
    """
    import tensorflow as tf

    def train_step(data):
        num_rows = tf.shape(next(t for t in keras.tree.flatten(data) if t is not None))[0]

        def update(index):
            start = index * batch_size
            class_train_step(model, keras.tree.map_structure(lambda t: None if t is None else t[start:start + batch_size], data, none_is_leaf=True))
            return (index + 1,)

        tf.while_loop(lambda index: index < (num_rows + batch_size - 1) // batch_size, update, (tf.constant(0),))
        return model.get_metrics_result()  # As in the XLA step: read after every update.

    return train_step
