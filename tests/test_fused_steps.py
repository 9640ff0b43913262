"""`fuse_train_steps`: several updates per compiled call, the same updates as batch_size alone."""

import keras
import numpy as np
import pytest

from keras_minibatch.training import fused_steps
from keras_minibatch.training.fused_steps import full_chunks, fuse_train_steps
from keras_minibatch.training.model import build_mlp

# 90 fit rows with validation_split=0.1 of 100: batches of 32 leave a short batch of 26.
X = np.random.default_rng(0).integers(0, 256, (100, 8, 8), dtype=np.uint8)  # Pixels, as loaded.
Y = np.arange(100) % 10


def train(steps_per_execution, *, jit_compile=False):
    keras.utils.set_random_seed(0)
    model = build_mlp((8, 8), 10, hidden_units=(16,))
    if jit_compile:
        model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"], jit_compile=True)
    fit_batch_size = fuse_train_steps(model, batch_size=32, steps_per_execution=steps_per_execution)
    history = model.fit(X, Y, batch_size=fit_batch_size, epochs=2, validation_split=0.1, verbose=0)
    return model, history.history


@pytest.fixture(scope="module")
def unfused():
    return train(1)


@pytest.mark.parametrize("steps_per_execution", [2, 3, 8])
def test_fused_updates_equal_plain_batches(unfused, steps_per_execution):
    model, history = train(steps_per_execution)
    assert int(model.optimizer.iterations) == int(unfused[0].optimizer.iterations) == 2 * 3
    for fused_weights, plain_weights in zip(model.get_weights(), unfused[0].get_weights()):
        np.testing.assert_array_equal(fused_weights, plain_weights)
    assert history == unfused[1]


def test_fused_xla_updates_match_within_rounding(unfused):
    model, history = train(2, jit_compile=True)
    for fused_weights, plain_weights in zip(model.get_weights(), unfused[0].get_weights()):
        np.testing.assert_allclose(fused_weights, plain_weights, atol=1e-5)
    assert history["loss"] == pytest.approx(unfused[1]["loss"], rel=1e-5)


def test_without_xla_the_step_is_traced_as_often_as_unfused(monkeypatch):
    # One loop over every slice, the short last one too: no second trace for the short batch.
    original = keras.Sequential.train_step
    traces = {}
    for steps_per_execution in (1, 3):
        calls = []
        monkeypatch.setattr(keras.Sequential, "train_step", lambda self, data, calls=calls: (calls.append(1), original(self, data))[1])
        train(steps_per_execution)  # 90 fit rows a call: 2 whole slices and a short one of 26 rows.
        traces[steps_per_execution] = len(calls)
        monkeypatch.undo()
    assert traces[3] == traces[1]


def test_xla_compiles_the_fused_updates_and_not_evaluation():
    model = build_mlp((8, 8), 10, hidden_units=(4,), jit_compile=True)
    fuse_train_steps(model, batch_size=32, steps_per_execution=4)
    # One XLA program for the updates; validation, evaluate and predict (one pass over
    # a few batches, a new shape each) are not worth another compile and its memory.
    assert model.fused_updates.function_spec.jit_compile is True
    assert model.jit_compile is False


def test_every_call_pads_to_steps_per_execution_chunks(monkeypatch):
    # With full_chunks' padding (tested below), one shape for every call: one XLA compile.
    min_chunks = []

    def spy(tensor, batch_size, min_chunks_wanted):
        min_chunks.append(min_chunks_wanted)
        return full_chunks(tensor, batch_size, min_chunks_wanted)

    monkeypatch.setattr(fused_steps, "full_chunks", spy)
    train(3, jit_compile=True)  # 90 fit rows a call: 2 whole slices padded to 3, 26 rows after.
    assert min_chunks and set(min_chunks) == {3}


@pytest.mark.parametrize("num_rows, expected_shape", [(64, (2, 32, 8, 8)), (26, (2, 32, 8, 8)), (40, (2, 32, 8, 8)), (96, (3, 32, 8, 8))])
def test_full_chunks_pads_every_batch_to_one_shape(num_rows, expected_shape):
    rows = X[:num_rows]
    chunks = full_chunks(rows, 32, 2).numpy()
    assert chunks.shape == expected_shape
    whole = num_rows // 32 * 32
    np.testing.assert_array_equal(chunks.reshape(-1, 8, 8)[:whole], rows[:whole])
    assert not chunks.reshape(-1, 8, 8)[whole:].any()  # Padding, never run.


def test_returns_the_fit_batch_size():
    model = build_mlp((8, 8), 10, hidden_units=(4,))
    assert fuse_train_steps(model, batch_size=32, steps_per_execution=64) == 2048


@pytest.mark.parametrize("epoch_rows, expected", [(90, 96), (64, 64), (10_000, 256), (20, 32)])
def test_calls_never_pad_past_an_epochs_updates(epoch_rows, expected):
    # Every call is padded to its updates' rows: a full-batch regime would otherwise
    # be padded to steps_per_execution copies of the data.
    model = build_mlp((8, 8), 10, hidden_units=(4,))
    assert fuse_train_steps(model, batch_size=32, steps_per_execution=8, epoch_rows=epoch_rows) == expected


def test_capped_at_one_update_a_call_the_model_is_still_fused():
    # Like every other regime of `compare`: XLA for the updates, evaluation op by op.
    model = build_mlp((8, 8), 10, hidden_units=(4,), jit_compile=True)
    assert fuse_train_steps(model, batch_size=32, steps_per_execution=8, epoch_rows=20) == 32
    assert model.jit_compile is False and "train_step" in vars(model)


def test_one_step_per_execution_leaves_the_model_alone():
    model = build_mlp((8, 8), 10, hidden_units=(4,))
    assert fuse_train_steps(model, batch_size=32, steps_per_execution=1) == 32
    assert "train_step" not in vars(model)


@pytest.mark.parametrize("name, value", [("batch_size", 0), ("steps_per_execution", 0), ("batch_size", 2.0), ("steps_per_execution", True)])
def test_bad_sizes_are_refused(name, value):
    model = build_mlp((8, 8), 10, hidden_units=(4,))
    arguments = {"batch_size": 32, "steps_per_execution": 4, name: value}
    with pytest.raises(ValueError, match=f"`{name}` \\({value!r}\\) must be an integer >= 1"):
        fuse_train_steps(model, **arguments)


def test_a_trained_model_is_refused():
    model = build_mlp((8, 8), 10, hidden_units=(4,))
    model.fit(X, Y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="before the first `fit`"):
        fuse_train_steps(model, batch_size=32, steps_per_execution=4)


def test_a_fused_model_saves_as_a_plain_keras_model(tmp_path):
    model, _ = train(2)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded) is keras.Sequential
    assert "train_step" not in vars(loaded)
    np.testing.assert_array_equal(loaded.predict(X[:4], verbose=0), model.predict(X[:4], verbose=0))
