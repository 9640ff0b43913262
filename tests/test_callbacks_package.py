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
    assert callbacks.__all__ == ["EarlyStopping", "EpochMetricsLogger", "ProgressLogger", "StopOnNonFiniteLoss"]


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
