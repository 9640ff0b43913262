"""Tests for `callbacks.EarlyStopping`, side by side with `keras.callbacks.EarlyStopping`."""

import copy
import inspect
import json

import keras
import numpy as np
import pytest

from callbacks import EarlyStopping

NAN = float("nan")


@pytest.fixture(scope="module")
def model():
    """A tiny compiled model whose compiled metrics are built (for `mode="auto"`)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy", "mae"])
    x = np.zeros((4, 3), dtype="float32")
    model.evaluate(x, np.ones((4, 1), dtype="float32"), verbose=0)
    return model


def public_state(callback):
    """The callback's public attributes, its best weights as the epoch marker `drive` set."""
    state = {name: value for name, value in vars(callback).items() if not name.startswith("_") and name != "params"}
    if state.get("best_weights") is not None:
        state["best_weights"] = float(state["best_weights"][0].flat[0])
    return state


def drive(callback, model, monitor, values, trace=None):
    """Runs the epoch hooks as `fit` would; returns (stop epoch, weights marker).

    Before each epoch's end the weights are set to that epoch's index, so the
    marker left at the end tells which epoch's weights were restored. With
    `trace`, the public state after each hook is appended to it.
    """
    record = (lambda: trace.append({**public_state(callback), "stop_training": model.stop_training})) if trace is not None else (lambda: None)
    model.stop_training = False
    record()  # As constructed.
    callback.set_model(model)
    callback.on_train_begin()
    record()
    stopped = None
    for epoch, value in enumerate(values):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        model.stop_training = False
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"loss": 0.5, monitor: value})
        record()
        if model.stop_training:
            stopped = epoch
            break
    callback.on_train_end()
    record()
    return stopped, float(model.get_weights()[0].flat[0])


def side_by_side(model, monitor, values, **kwargs):
    """Drives Keras' class and ours through the same epochs; returns (theirs, ours) traces and callbacks."""
    theirs, ours = keras.callbacks.EarlyStopping(monitor, **kwargs), EarlyStopping(monitor, **kwargs)
    keras_trace, our_trace = [], []
    keras_result = drive(theirs, model, monitor, values, keras_trace)
    our_result = drive(ours, model, monitor, values, our_trace)
    assert our_result == keras_result
    # Ours has every attribute Keras' has, with its value; `stop_reason` is extra.
    return keras_trace, [{name: state.get(name, "MISSING") for name in keras_state}
                         for state, keras_state in zip(our_trace, keras_trace)], theirs, ours


LOSS, ACCURACY = "val_loss", "val_accuracy"
CASES = [  # monitor, values per epoch, other arguments
    pytest.param(LOSS, [1.0, 0.9, 0.8], {}, id="improving_never_stops"),
    pytest.param(LOSS, [1.0, 0.9, 0.95, 0.8], {}, id="patience_0_stops_at_first_worse"),
    pytest.param(LOSS, [1.0, 0.9, 0.95, 0.93, 0.94, 0.5], {"patience": 2}, id="patience_2"),
    pytest.param(LOSS, [1, 0.9, 0.95, 0.96, 0.85, 0.9, 0.91, 0.92, 0.93], {"patience": 3},
                 id="patience_3_recovers"),
    pytest.param(LOSS, [1.0, 1.0, 1.0, 0.5], {"patience": 1}, id="ties_are_not_improvements"),
    pytest.param(LOSS, [1.0, 0.95, 0.85, 0.8, 0.78, 0.6], {"patience": 2, "min_delta": 0.1},
                 id="min_delta_min"),
    # 0.7 + 0.1 < 0.8 in float64 but not in float32, where Keras compares.
    pytest.param(LOSS, [0.8, 0.7, 0.75], {"min_delta": 0.1}, id="min_delta_rounds_like_keras"),
    pytest.param(LOSS, [1.0, 0.95, 0.85, 0.8], {"min_delta": -0.1}, id="negative_min_delta_counts_by_size"),
    pytest.param(ACCURACY, [0.5, 0.53, 0.6, 0.62, 0.64],
                 {"mode": "max", "patience": 2, "min_delta": 0.05}, id="min_delta_max"),
    pytest.param(ACCURACY, [0.5, 0.6, 0.55, 0.58], {"mode": "max"}, id="max_accuracy"),
    pytest.param(ACCURACY, [0.5, 0.7, 0.6, 0.65, 0.8], {"patience": 1}, id="auto_accuracy_goes_up"),
    pytest.param("loss", [0.9, 0.8, 0.85, 0.7, 0.75, 0.76], {"patience": 1}, id="auto_train_loss"),
    pytest.param("val_mae", [0.5, 0.4, 0.45, 0.46], {"patience": 1}, id="auto_mae_goes_down"),
    pytest.param(ACCURACY, [0.5, 0.4, 0.6], {"mode": "min"}, id="min_on_accuracy_name"),
    pytest.param(LOSS, [1.0, 0.9, 0.7, 0.75, 0.76, 0.77], {"patience": 2, "baseline": 0.8},
                 id="baseline_reached"),
    pytest.param(LOSS, [1.0, 0.9, 0.8, 0.85, 0.9], {"patience": 2, "baseline": 0.5},
                 id="baseline_never_reached"),
    pytest.param(LOSS, [1.0, 0.9, 0.8, 0.7], {"patience": 1, "baseline": 0.5},
                 id="baseline_unmet_while_improving_never_stops"),
    pytest.param(ACCURACY, [0.5, 0.6, 0.55, 0.7, 0.65],
                 {"patience": 1, "baseline": 0.9, "mode": "max"}, id="baseline_max"),
    pytest.param(LOSS, [1.0, 2.0, 3.0, 2.5, 2.6, 2.7], {"patience": 1, "start_from_epoch": 2},
                 id="start_from_epoch"),
    pytest.param(LOSS, [1.0, 2.0, 3.0], {"start_from_epoch": 5}, id="warm_up_longer_than_run"),
    pytest.param(LOSS, [1.0, NAN, NAN, 0.5], {"patience": 1}, id="nan_after_best_counts_as_worse"),
    pytest.param(LOSS, [1.0, 0.5, 0.7, 0.8, 0.1], {"patience": 2, "restore_best_weights": True},
                 id="restore_when_stopped"),
    pytest.param(LOSS, [1.0, 0.5, 0.7], {"patience": 5, "restore_best_weights": True},
                 id="restore_when_ran_out"),
    pytest.param(LOSS, [1.0, 0.8, 1.2, 1.3],
                 {"patience": 1, "baseline": 0.5, "restore_best_weights": True},
                 id="restore_baseline_never_reached"),
    pytest.param(LOSS, [0.1, 0.2, 0.9, 0.8, 0.85, 0.86],
                 {"patience": 1, "start_from_epoch": 2, "restore_best_weights": True},
                 id="restore_after_warm_up"),
    pytest.param(ACCURACY, [0.5, 0.9, 0.7, 0.8, 0.85],
                 {"mode": "max", "patience": 2, "restore_best_weights": True}, id="restore_max"),
    pytest.param(LOSS, [np.float32(1.0), np.float64(0.9), np.float32(0.95)], {}, id="numpy_scalar_values"),
    pytest.param(ACCURACY, [np.array([0.5]), np.array([0.6]), np.array([0.55])], {"mode": "max"},
                 id="one_element_array_values"),
    pytest.param(LOSS, [1.0, 0.9, 0.95, 0.96, 0.97],
                 {"patience": np.int64(2), "min_delta": np.float32(0.01), "baseline": np.float64(2.0),
                  "start_from_epoch": np.int64(1), "verbose": np.int64(0), "restore_best_weights": np.bool_(True)},
                 id="numpy_scalar_arguments"),
]


@pytest.mark.parametrize(("monitor", "values", "kwargs"), CASES)
def test_every_attribute_matches_keras_after_every_hook(model, monitor, values, kwargs):
    keras_trace, our_trace, _, _ = side_by_side(model, monitor, values, **kwargs)

    # One-element arrays: Keras keeps the array as `best`, ours its number; they compare equal.
    assert our_trace == keras_trace


def test_get_monitor_value_matches_keras(model):
    logs = {"loss": 0.5, "val_loss": 0.25}

    assert EarlyStopping().get_monitor_value(logs) == keras.callbacks.EarlyStopping().get_monitor_value(logs)
    assert EarlyStopping().get_monitor_value({"val_loss": np.array([0.25])}) == 0.25


def test_signature_matches_keras_and_additions_are_keyword_only():
    ours = list(inspect.signature(EarlyStopping).parameters.values())
    theirs = list(inspect.signature(keras.callbacks.EarlyStopping).parameters.values())

    assert [(p.name, p.default, p.kind) for p in ours[:len(theirs)]] == [
        (p.name, p.default, p.kind) for p in theirs]
    assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in ours[len(theirs):])


def test_has_every_public_attribute_and_method_of_keras():
    theirs, ours = keras.callbacks.EarlyStopping(), EarlyStopping()
    theirs.on_train_begin()  # Keras sets `best_epoch` only here.

    assert [name for name in dir(theirs) if not name.startswith("_") and not hasattr(ours, name)] == []


def test_assigned_best_weights_are_restored_like_keras(model):
    restored = []
    for cls in (keras.callbacks.EarlyStopping, EarlyStopping):
        callback = cls(restore_best_weights=True)
        callback.set_model(model)
        callback.on_train_begin()
        callback.on_epoch_end(0, {"val_loss": 1.0})
        callback.best_weights = [np.full_like(w, 7.0) for w in model.get_weights()]
        callback.on_train_end()
        restored.append(float(model.get_weights()[0].flat[0]))

    assert restored == [7.0, 7.0]


def test_unknown_mode_warns_and_falls_back_to_auto_like_keras():
    with pytest.warns(UserWarning, match="mode 'maximum' is unknown, fallback to auto mode"):
        ours = EarlyStopping(mode="maximum")

    assert ours.mode == "auto"


def test_nan_first_value_never_becomes_best(model):
    values = [NAN, 1.0, 1.1, 0.9]
    keras_stop, _ = drive(keras.callbacks.EarlyStopping(patience=1), model, "val_loss", values)
    ours = EarlyStopping(patience=1)

    ours_stop, _ = drive(ours, model, "val_loss", values)

    assert keras_stop == 1  # Keras keeps NaN as its best and nothing beats it.
    assert (ours_stop, ours.best, ours.best_epoch) == (2, 1.0, 1)


def test_all_nan_stops_without_best_and_restores_the_first_epoch_like_keras(model):
    ours = EarlyStopping(patience=1, restore_best_weights=True)

    stopped, marker = drive(ours, model, "val_loss", [NAN, NAN, NAN])

    # Keras too restores the first monitored epoch's weights when nothing improves.
    assert (stopped, marker, ours.best, ours.best_epoch) == (1, 0.0, None, 0)
    assert ours.stop_reason == "val_loss was NaN for 2 epochs"


def test_reports_best_and_stop_reason(model):
    ours = EarlyStopping(patience=2)

    drive(ours, model, "val_loss", [1.0, 0.5, 0.7, 0.8])

    assert (ours.best, ours.best_epoch, ours.stopped_epoch) == (0.5, 1, 3)
    assert ours.stop_reason == (
        "val_loss did not improve by more than 0 for 2 epochs after epoch 2 (best 0.5000)")


def test_stop_reason_names_unmet_baseline(model):
    ours = EarlyStopping(patience=1, baseline=0.2, min_delta=0.05)

    drive(ours, model, "val_loss", [1.0, 0.5, 0.7])

    assert ours.stop_reason == (
        "val_loss did not beat baseline 0.2 by more than 0.05 in 3 epochs (best 0.5000 at epoch 2)")


def test_not_stopping_leaves_stopped_epoch_0_like_keras(model):
    ours = EarlyStopping(patience=1)

    drive(ours, model, "val_loss", [1.0, 0.9, 0.8])

    assert (ours.stopped_epoch, ours.stop_reason, ours.best_epoch) == (0, None, 2)


def test_verbose_prints_keras_lines_with_the_reason(model, capsys):
    drive(EarlyStopping(verbose=1, restore_best_weights=True), model, "val_loss", [1.0, 1.5])

    assert capsys.readouterr().out == (
        "Epoch 2: early stopping: val_loss did not improve by more than 0 for 1 epoch "
        "after epoch 1 (best 1.0000).\nRestoring model weights from the end of the best epoch: 1.\n"
    )


def test_missing_monitor_raises_listing_keys(model):
    ours = EarlyStopping(monitor="val_acc")
    ours.set_model(model)
    ours.on_train_begin()

    with pytest.raises(ValueError, match=r"'val_acc'.*\['loss', 'val_accuracy', 'val_loss'\]"):
        ours.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.0, "val_accuracy": 0.5})


def test_several_numbers_raise_saying_how_to_get_one(model):
    ours = EarlyStopping(monitor="val_f1", mode="max")

    with pytest.raises(ValueError, match=r"`val_f1` logged array\(\[0.5, 0.6\]\), not one number.*average="):
        ours.get_monitor_value({"val_f1": np.array([0.5, 0.6])})


def test_epoch_without_validation_is_skipped(model):
    ours = EarlyStopping()
    ours.set_model(model)
    ours.on_train_begin()

    ours.on_epoch_end(0, {"loss": 1.0})
    ours.on_epoch_end(1, {"loss": 0.9, "val_loss": 2.0})

    assert (ours.best, ours.best_epoch, ours.monitor_op) == (2.0, 1, keras.ops.less)


def test_run_that_never_logs_monitor_raises_at_end(model):
    ours = EarlyStopping()
    ours.set_model(model)
    ours.on_train_begin()
    ours.on_epoch_end(0, {"loss": 1.0})

    with pytest.raises(ValueError, match=r"\('val_loss'\) is not in the epoch logs; keys there: \['loss'"):
        ours.on_train_end()


def test_auto_mode_without_known_direction_raises(model):
    ours = EarlyStopping(monitor="val_score")
    ours.set_model(model)
    ours.on_train_begin()

    with pytest.raises(ValueError, match=r"'val_score'.*Pass `mode='max'` or `mode='min'`"):
        ours.on_epoch_end(0, {"val_score": 1.0})


def test_state_resumes_a_run(model):
    whole = EarlyStopping(patience=2)
    drive(whole, model, "val_loss", [1.0, 0.9, 0.95, 0.96])
    first = EarlyStopping(patience=2)
    drive(first, model, "val_loss", [1.0, 0.9, 0.95])
    state = json.loads(json.dumps(first.get_state()))
    resumed = EarlyStopping(patience=2)
    resumed.set_state(state)
    resumed.set_model(model)

    resumed.on_train_begin()
    resumed.on_epoch_end(3, {"val_loss": 0.96})

    assert state == {"wait": 1, "best": 0.9, "best_epoch": 1, "stopped_epoch": 0, "stop_reason": None}
    assert resumed.get_state() == whole.get_state() == {
        "wait": 2, "best": 0.9, "best_epoch": 1, "stopped_epoch": 3, "stop_reason": whole.stop_reason}
    assert whole.stop_reason.startswith("val_loss did not improve")


def test_state_saved_by_earlier_versions_still_resumes(model):
    # Earlier versions saved None for an epoch not reached yet, and no stop_reason.
    ours = EarlyStopping(patience=1)
    ours.set_state({"wait": 0, "best": None, "best_epoch": None, "stopped_epoch": None})
    ours.set_model(model)

    ours.on_train_begin()
    ours.on_epoch_end(2, {"val_loss": 0.5})

    assert ours.get_state() == {"wait": 0, "best": 0.5, "best_epoch": 2, "stopped_epoch": 0, "stop_reason": None}


def test_set_state_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"`state` \(\['wait'\]\) must be a dict with the keys"):
        EarlyStopping().set_state({"wait": 0})


def test_new_run_resets_state(model):
    ours = EarlyStopping()
    drive(ours, model, "val_loss", [1.0, 2.0])

    drive(ours, model, "val_loss", [3.0, 2.5])

    assert (ours.best, ours.best_epoch, ours.stopped_epoch, ours.stop_reason) == (2.5, 1, 0, None)


def test_config_json_round_trip_after_a_run(model):
    ours = EarlyStopping("val_loss", 0.01, 3, 1, "min", 0.5, True, 2)
    drive(ours, model, "val_loss", [1.0])

    config = json.loads(json.dumps(ours.get_config()))

    assert ours.min_delta == -0.01  # As Keras stores it once `monitor_op` is `less`.
    assert EarlyStopping.from_config(config).get_config() == ours.get_config() == {
        "monitor": "val_loss", "min_delta": 0.01, "patience": 3, "verbose": 1,
        "mode": "min", "baseline": 0.5, "restore_best_weights": True, "start_from_epoch": 2,
    }


def test_config_is_json_native_for_numpy_arguments():
    ours = EarlyStopping(patience=np.int64(3), min_delta=np.float32(0.5), baseline=np.float64(1.0))

    assert json.loads(json.dumps(ours.get_config()))["patience"] == 3


def test_deepcopy_is_independent(model):
    ours = EarlyStopping(patience=1, restore_best_weights=True)
    clone = copy.deepcopy(ours)

    drive(ours, model, "val_loss", [1.0, 2.0])

    assert clone.get_config() == ours.get_config()
    assert (clone.best, clone.stopped_epoch, ours.stopped_epoch) == (None, 0, 1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"monitor": ""}, r"`monitor` \(''\) must be a metric name"),
        ({"min_delta": NAN}, r"`min_delta` \(nan\) must be a finite number"),
        ({"min_delta": "0"}, r"`min_delta` \('0'\) must be a finite number"),
        ({"patience": -1}, r"`patience` \(-1\) must be a whole number >= 0"),
        ({"patience": 1.5}, r"`patience` \(1.5\) must be a whole number >= 0"),
        ({"verbose": -1}, r"`verbose` \(-1\) must be a whole number >= 0"),
        ({"baseline": NAN}, r"`baseline` \(nan\) must be a number or None"),
        ({"restore_best_weights": "yes"}, r"`restore_best_weights` \('yes'\) must be a bool"),
        ({"start_from_epoch": -1}, r"`start_from_epoch` \(-1\) must be a whole number >= 0"),
    ],
)
def test_bad_argument_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**kwargs)


def test_fit_stops_early_and_restores_best_weights():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
    epoch_weights = []
    recorder = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: epoch_weights.append(model.get_weights()))
    # No epoch improves val_loss by more than 100, so patience alone decides.
    stopper = EarlyStopping(min_delta=100, patience=2, restore_best_weights=True)

    history = model.fit(x[:16], y[:16], validation_data=(x[16:], y[16:]), batch_size=8,
                        epochs=20, verbose=0, callbacks=[recorder, stopper])

    assert len(history.history["loss"]) == 3
    assert (stopper.best_epoch, stopper.stopped_epoch) == (0, 2)
    for restored, best in zip(model.get_weights(), epoch_weights[0]):
        np.testing.assert_array_equal(restored, best)


def fit_side_by_side(metrics, monitor, epochs, **fit_kwargs):
    """One real `fit` with Keras' class and ours watching the same logs; returns (theirs, ours, history)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy", metrics=metrics)
    theirs = keras.callbacks.EarlyStopping(monitor, patience=1, min_delta=0.02)
    ours = EarlyStopping(monitor, patience=1, min_delta=0.02)
    history = model.fit(x[:24], y[:24], validation_data=(x[24:], y[24:]), batch_size=8, epochs=epochs,
                        verbose=0, callbacks=[theirs, ours], **fit_kwargs)
    return theirs, ours, history.history


def decisions(callback):
    return (callback.monitor_op, callback.min_delta, callback.wait, callback.stopped_epoch, callback.best_epoch)


def test_f1_score_array_metric_in_a_real_fit_decides_like_keras():
    theirs, ours, history = fit_side_by_side([keras.metrics.F1Score(name="f1")], "val_f1", epochs=6)

    assert isinstance(theirs.best, np.ndarray) and theirs.best.shape == (1,)  # F1Score logs array([f]).
    assert decisions(ours) == decisions(theirs) and ours.monitor_op is keras.ops.greater
    assert ours.best == float(theirs.best[0])


def test_validation_freq_2_in_a_real_fit_decides_like_keras():
    theirs, ours, history = fit_side_by_side(["accuracy"], "val_loss", epochs=8, validation_freq=2)

    assert len(history["val_loss"]) < len(history["loss"])
    assert decisions(ours) == decisions(theirs) and ours.best == theirs.best


def test_kerass_own_early_stopping_tests_run_against_ours():
    import test_early_stopping_upstream as upstream  # pytest's default import mode puts tests/ on sys.path

    assert upstream.callbacks.EarlyStopping is EarlyStopping and EarlyStopping is not keras.callbacks.EarlyStopping
