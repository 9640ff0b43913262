import copy
import json

import keras
import numpy as np
import pytest

from callbacks import StopOnNonFiniteLoss


class _FakeModel:
    stop_training = False


def make_guard():
    guard = StopOnNonFiniteLoss()
    guard.set_model(_FakeModel())
    guard.on_train_begin()
    return guard


def test_records_the_first_bad_batch_and_stops():
    guard = make_guard()
    guard.on_epoch_begin(2)
    guard.on_train_batch_end(0, {"loss": 0.5})
    guard.on_train_batch_end(1, {"loss": float("nan")})
    guard.on_train_batch_end(2, {"loss": float("inf")})
    assert (guard.epoch, guard.batch) == (2, 1)
    assert guard.model.stop_training
    assert guard.stop_reason == "loss became nan at epoch 3, batch 2"


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_infinite_loss_stops_too(value):
    guard = make_guard()
    guard.on_train_batch_end(0, {"loss": value})
    assert guard.model.stop_training and "inf" in guard.stop_reason


def test_finite_losses_never_stop():
    guard = make_guard()
    for batch in range(5):
        guard.on_train_batch_end(batch, {"loss": 1.0 / (batch + 1)})
    guard.on_epoch_end(0, {"loss": 0.3})
    assert not guard.model.stop_training and guard.stop_reason is None


def test_epoch_logs_are_a_safety_net():
    guard = make_guard()
    guard.on_epoch_end(4, {"loss": float("nan")})
    assert guard.epoch == 4 and guard.batch is None
    assert "during epoch 5" in guard.stop_reason


def test_state_resets_for_each_fit():
    guard = make_guard()
    guard.on_train_batch_end(0, {"loss": float("nan")})
    guard.on_train_begin()
    assert guard.stop_reason is None and guard.epoch is None


def test_config_round_trips_through_json_and_deepcopy():
    guard = StopOnNonFiniteLoss(monitor="val_loss")
    restored = StopOnNonFiniteLoss.from_config(json.loads(json.dumps(guard.get_config())))
    assert restored.monitor == "val_loss"
    assert copy.deepcopy(guard).monitor == "val_loss"


@pytest.mark.parametrize("monitor", ["", None, 3])
def test_bad_monitor_is_refused(monitor):
    with pytest.raises(ValueError, match="`monitor`"):
        StopOnNonFiniteLoss(monitor=monitor)


def test_stops_a_real_fit_that_diverges():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    x[40, 0] = np.nan  # one poisoned row: the loss of its batch is NaN
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    guard = StopOnNonFiniteLoss()
    history = model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=[guard])
    assert guard.epoch == 0 and guard.batch == 5  # rows 40..47
    assert len(history.history["loss"]) == 1


def test_steps_per_execution_names_the_batches_of_the_bad_step():
    guard = make_guard()
    guard.set_params({"epochs": 1, "steps": 7})
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(3, {"loss": 0.5})

    guard.on_train_batch_end(7, {"loss": float("nan")})  # Batches 4..7 of a 7-batch epoch, counted as full.

    assert (guard.epoch, guard.batch) == (0, 6)
    assert guard.stop_reason == "loss became nan at epoch 1, batch 7 (one of batches 5-7, run in one step)"


def test_one_element_array_values_are_read_as_numbers():
    guard = StopOnNonFiniteLoss(monitor="f1")
    guard.set_model(_FakeModel())
    guard.on_train_begin()
    guard.on_train_batch_end(0, {"f1": np.array([0.5])})
    assert guard.stop_reason is None

    guard.on_train_batch_end(1, {"f1": np.array([np.inf])})

    assert guard.stop_reason == "f1 became inf at epoch 1, batch 2" and guard.value == float("inf")


def test_stops_a_real_fit_under_steps_per_execution_within_the_epoch():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(14, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    x[10, 0] = np.nan  # batch 6 of 7 (rows 10, 11)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", steps_per_execution=4)
    guard = StopOnNonFiniteLoss()

    model.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0, callbacks=[guard])

    assert (guard.epoch, guard.batch) == (0, 6)
    assert guard.stop_reason == "loss became nan at epoch 1, batch 7 (one of batches 5-7, run in one step)"
