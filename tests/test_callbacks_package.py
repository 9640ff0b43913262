"""Tests for the `callbacks` package as a whole: its API and its imports."""

import ast
import pathlib
import sys

import keras
import pytest

import callbacks

MODULES = sorted(pathlib.Path(callbacks.__file__).parent.glob("*.py"))
ALLOWED_THIRD_PARTY = {"keras", "numpy"}


def imported_modules(path):
    """Returns the absolute module names a source file imports."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module)
    return names


def test_all_is_pinned():
    assert callbacks.__all__ == ["EarlyStopping", "EpochMetricsLogger", "ProgressBar", "ProgressLogger", "StopOnNonFiniteLoss"]


@pytest.mark.parametrize("name", callbacks.__all__)
def test_exports_are_keras_callbacks(name):
    assert issubclass(getattr(callbacks, name), keras.callbacks.Callback)


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_imports_only_keras_numpy_and_stdlib(path):
    allowed = ALLOWED_THIRD_PARTY | set(sys.stdlib_module_names) | {"callbacks"}

    names = imported_modules(path)

    assert [name for name in names if name.split(".")[0] not in allowed] == []
    assert [name for name in names if name.startswith(("keras.src", "keras_minibatch"))] == []


@pytest.mark.parametrize("name", callbacks.__all__)
def test_never_blocks_the_training_loop(name):
    # On JAX and PyTorch a batch hook turns off Keras' asynchronous dispatch of batch
    # callbacks, unless the callback declares itself async_safe (TensorFlow runs them all
    # on the training thread).
    cls = getattr(callbacks, name)
    if getattr(cls, "async_safe", False):
        return
    batch_hooks = [hook for hook in dir(keras.callbacks.Callback) if "batch" in hook]

    overridden = [hook for hook in batch_hooks
                  if getattr(cls, hook) is not getattr(keras.callbacks.Callback, hook)]

    assert batch_hooks and overridden == []


def test_all_of_them_in_one_real_fit_with_a_per_class_metric_and_validation_freq(tmp_path, capsys):
    import numpy as np

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    # F1Score logs array([f]); validation every other epoch; two batches per call.
    model.compile("sgd", "binary_crossentropy", metrics=[keras.metrics.F1Score(name="f1")], steps_per_execution=2)
    stopper = callbacks.EarlyStopping("val_f1", patience=5)
    logger = callbacks.EpochMetricsLogger(str(tmp_path / "epochs.csv"), verbose=0)
    guard = callbacks.StopOnNonFiniteLoss("f1")

    history = model.fit(x[:16], y[:16], validation_data=(x[16:], y[16:]), validation_freq=2, batch_size=8,
                        epochs=4, verbose=0, callbacks=[stopper, logger, guard, callbacks.ProgressLogger(1e-9)])

    assert len(history.history["loss"]) == 4 and guard.stop_reason is None
    assert stopper.best == max(float(value[0]) for value in history.history["val_f1"])
    assert [row.get("val_f1") is None for row in logger.history] == [True, False, True, False]
    assert "2/2 steps (100%)" in capsys.readouterr().out
