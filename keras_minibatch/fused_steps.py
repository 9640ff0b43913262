"""Runs several mini-batch updates per call into the compiled training function.

Keras' TensorFlow trainer implements `steps_per_execution` as a `tf.while_loop`
that pulls one batch at a time from a `tf.data` iterator and launches one step
per batch: at the lecture's batch of 32 on a CPU the iterator hand-off and the
per-op dispatch of ~300 small ops cost more than the 14 matrix products, and
`jit_compile` cannot fuse across the loop. Here `fit` is handed *super-batches*
of `steps_per_execution * batch_size` rows instead; the model's `train_step`
cuts each one into consecutive `batch_size` slices and applies one optimizer
update per slice, all inside one compiled function (one XLA program with
`jit_compile=True`).

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

import keras


def _check_count(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` ({value!r}) must be an integer >= 1.")


def fuse_train_steps(model: keras.Model, *, batch_size: int, steps_per_execution: int) -> int:
    """Makes `model.train_step` run one update per `batch_size` rows of its batch.

    Call after `compile` and before the first `fit`; then pass the returned
    size as `fit(batch_size=...)`. A batch of `batch_size` rows or fewer is one
    update, as before, so a caller that keeps `fit(batch_size=batch_size)`
    trains exactly as without fusing (only slower).

    A model compiled with `jit_compile=True` gets its fused updates compiled
    into one XLA program, and only them: validation, `evaluate` and `predict`
    then run op by op (`model.jit_compile` becomes `False`), because every new
    batch shape costs XLA another compile, about 0.1 GB of peak memory and a
    second or two, to save little on one pass over a few batches.

    Args:
        model: A compiled model, with the TensorFlow backend.
        batch_size: Rows per optimizer update (the mini-batch).
        steps_per_execution: Updates per call into the compiled function;
            `1` leaves the model untouched.

    Returns:
        The batch size to pass to `fit`: `batch_size * steps_per_execution`.

    Raises:
        ValueError: for a size below 1, a model that has already been trained
            (its training function is built), or another backend.
    """
    _check_count("batch_size", batch_size)
    _check_count("steps_per_execution", steps_per_execution)
    if steps_per_execution == 1:
        return batch_size
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

    def train_step(data):
        leaves = [t for t in keras.tree.flatten(data) if t is not None]
        num_rows = tf.shape(leaves[0])[0]
        num_full = num_rows // batch_size
        end_of_full = num_full * batch_size

        # XLA compiles the loop body even when it never runs, and slicing a chunk
        # out of a batch shorter than `batch_size` does not compile: such a batch
        # is padded to one (unused) chunk of zeros.
        num_chunks = tf.maximum(num_full, 1)

        def chunked(tensor):
            if tensor is None:
                return None
            padding = [[0, tf.maximum(batch_size - num_rows, 0)]] + [[0, 0]] * (len(tensor.shape) - 1)
            padded = tf.pad(tensor, padding)[: num_chunks * batch_size]
            return tf.reshape(padded, tf.concat([[num_chunks, batch_size], tf.shape(tensor)[1:]], axis=0))

        chunks = keras.tree.map_structure(chunked, data, none_is_leaf=True)

        def update(index):
            class_train_step(model, keras.tree.map_structure(lambda t: None if t is None else t[index], chunks, none_is_leaf=True))
            return (index + 1,)

        tf.while_loop(lambda index: index < num_full, update, (tf.constant(0),))

        def update_short_batch():
            class_train_step(model, keras.tree.map_structure(lambda t: None if t is None else t[end_of_full:], data, none_is_leaf=True))
            return tf.constant(True)

        tf.cond(end_of_full < num_rows, update_short_batch, lambda: tf.constant(False))
        # What Keras' own train_step returns (`compute_metrics` ends with it); reading
        # the metric variables after the loop orders the read after every update.
        return model.get_metrics_result()

    if model.jit_compile:
        model.jit_compile = False  # Test and predict steps: see the docstring.
        train_step = tf.function(train_step, jit_compile=True)
    model.train_step = train_step
    return batch_size * steps_per_execution
