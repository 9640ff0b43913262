"""Fault injection: random flags and arrays, full and read-only disks.

Every outcome must be a success or one clean error (a `ValueError`/`DataError`
in the library, one line and exit 2 at the CLI), never a traceback or a hang.
"""

import errno
import math
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np
import pytest
from absl import flags
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as np_st

from keras_minibatch.cli import flags as cli_flags
from keras_minibatch.cli import main as cli
from keras_minibatch.cli.errors import UsageError
from keras_minibatch.run_folders import rundir
from keras_minibatch.checks import ConfigError
from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import DataError
from keras_minibatch.data.loading import load_dataset
from keras_minibatch.data.splits import stratified_validation_order

# derandomize: the same examples on every run, so the suite stays deterministic.
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])

text_value = st.one_of(
    st.integers(-5, 300).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "inf", "-inf", "1e-3", "abc", "0x10", "32,64", "adam", "relu", " ", "1,,2", "-0", "2.0"]),
)
flag_names = st.sampled_from(
    ["epochs", "batch_size", "validation_split", "learning_rate", "optimizer", "activation", "dropout",
     "hidden_units", "seed", "test_fraction", "max_train_samples", "early_stopping_patience",
     "early_stopping_mode", "early_stopping_min_delta", "steps_per_execution", "distribution",
     "max_trials", "tuner", "objective", "executions_per_trial", "fix"]
)


@pytest.fixture
def clean_flags():
    yield
    flags.FLAGS.unparse_flags()
    flags.FLAGS.mark_as_parsed()


@FUZZ
@given(assignments=st.lists(st.tuples(flag_names, text_value), max_size=4))
def test_random_flag_values_are_accepted_or_refused_in_one_line(clean_flags, capsys, assignments):
    argv = ["keras-minibatch", "tune", *(f"--{name}={value}" for name, value in assignments)]
    flags.FLAGS.unparse_flags()
    try:
        cli._parse_flags(argv)
        cli_flags.build_config()
        cli_flags.build_search_config()
    except SystemExit as exit_:  # absl could not parse a value
        assert exit_.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("keras-minibatch: error: --")
    except UsageError as error:
        message = str(error)
        assert "\n" not in message and message.startswith("--")


finite = st.floats(-1e6, 1e6)


@FUZZ
@given(
    epochs=st.one_of(st.integers(-3, 5), finite, st.booleans(), st.none()),
    batch_size=st.one_of(st.integers(-3, 5000), finite),
    validation_split=st.one_of(st.floats(allow_nan=True), st.integers(-1, 2)),
    learning_rate=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 1)),
    hidden_units=st.lists(st.integers(-2, 4), max_size=3),
)
def test_random_config_values_are_accepted_or_refused_with_config_error(epochs, batch_size, validation_split, learning_rate, hidden_units):
    try:
        config = TrainConfig(epochs=epochs, batch_size=batch_size, validation_split=validation_split, learning_rate=learning_rate, hidden_units=hidden_units)
    except ConfigError as error:
        assert error.field in str(error)
        return
    assert config.epochs >= 1 and config.batch_size >= 1 and 0 < config.validation_split < 1
    assert math.isfinite(config.learning_rate) and config.learning_rate > 0


@FUZZ
@given(
    x=np_st.arrays(np.float64, np_st.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=10), elements=st.floats(-2, 300) | st.sampled_from([np.nan, np.inf, 0.5, 255.0])),
    y=np_st.arrays(np.float64, np_st.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=60), elements=st.integers(-1, 12) | st.floats(-1, 12)),
    y_dtype=st.sampled_from(["int64", "float64", "uint8"]),
)
def test_random_npz_arrays_load_or_fail_with_data_error(x, y, y_dtype):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "data.npz")
        np.savez(path, x=x, y=y.astype(y_dtype) if y_dtype != "uint8" else np.clip(y, 0, 255).astype("uint8"))
        try:
            dataset = load_dataset(path, seed=0)
        except DataError as error:
            assert "\n" not in str(error)
            return
    assert dataset.x_train.dtype == np.uint8 and dataset.x_test.dtype == np.uint8
    assert dataset.y_train.min() >= 0 and dataset.y_train.max() < dataset.num_classes


def test_images_without_pixels_are_a_data_error(tmp_path):
    path = tmp_path / "empty_images.npz"
    np.savez(path, x=np.zeros((1, 0, 0)), y=np.zeros((1,), dtype=np.int64))
    with pytest.raises(DataError, match="hold no pixels"):
        load_dataset(str(path))


@FUZZ
@given(labels=st.lists(st.integers(0, 5), max_size=80), validation_split=st.floats(0.01, 0.99))
def test_stratified_validation_order_is_a_permutation_or_a_data_error(labels, validation_split):
    y = np.asarray(labels, dtype=np.int64)
    try:
        order = stratified_validation_order(y, validation_split=validation_split, seed=0)
    except DataError:
        return
    assert sorted(order.tolist()) == list(range(len(y)))


# --- Disks that refuse writes. ---------------------------------------------------------------

def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    return model


@pytest.mark.parametrize(("code", "reason"), [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only")])
def test_failed_model_save_keeps_the_previous_model_loadable(tmp_path, monkeypatch, code, reason):
    target = tmp_path / "model.keras"
    good = tiny_model()
    with rundir.atomic_path(target) as temp:
        good.save(temp)
    original_save = keras.Model.save

    def save_half_then_fail(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as stream:
            stream.write(b"PK\x03\x04 truncated")  # a partial zip, as a full disk leaves it
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(keras.Model, "save", save_half_then_fail)
    with pytest.raises(rundir.RunDirError, match=reason):
        with rundir.atomic_path(target) as temp:
            tiny_model().save(temp)
    monkeypatch.setattr(keras.Model, "save", original_save)
    reloaded = keras.models.load_model(target)
    for a, b in zip(reloaded.get_weights(), good.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary left behind


def test_a_real_full_file_system_keeps_the_previous_file(small_disk):
    mount = small_disk("64k")
    target = mount / "metrics.json"
    rundir.write_json_atomic(target, {"test_accuracy": 0.9})
    with pytest.raises(rundir.RunDirError, match="disk is full"):
        rundir.write_text_atomic(target, "x" * 200_000)
    assert target.read_text().strip().startswith("{")
    assert [p.name for p in mount.iterdir()] == ["metrics.json"]


def test_corrupt_model_file_is_one_clear_error(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"not a zip")
    result = subprocess.run([sys.executable, "-m", "keras_minibatch", "evaluate", f"--model={tmp_path}", "--dataset=digits"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "could not be loaded" in result.stderr and "model.keras" in result.stderr
