"""The search's own per-trial callbacks: `EpochScalars` and `DeferredCheckpoint`, hooks called by hand."""

import copy
import json

import keras
import keras_tuner
import numpy as np
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from keras_minibatch import compat
from keras_minibatch.run_folders import rundir
from keras_minibatch.tuning.deferred_checkpoint import DeferredCheckpoint
from keras_minibatch.training.epoch_scalars import EpochScalars


def _scalars(folder):
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return {tag: [(event.step, float(tensor_util.make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]
            for tag in accumulator.Tags()["tensors"]}


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


def test_epoch_scalars_config_round_trips_through_json_and_deepcopy(tmp_path):
    callback = EpochScalars(tmp_path / "logs")
    config = json.loads(json.dumps(callback.get_config()))
    assert EpochScalars.from_config(config).get_config() == config == {"log_dir": str(tmp_path / "logs")}
    assert copy.deepcopy(callback).log_dir == callback.log_dir


def test_epoch_scalars_write_keras_tensorboard_layout_per_epoch(tmp_path):
    callback = EpochScalars(tmp_path)
    callback.on_train_begin()
    callback.on_epoch_end(0, {"loss": 1.5, "accuracy": 0.25, "val_loss": 1.75, "val_accuracy": 0.5})
    callback.on_epoch_end(1, {"loss": 1.0, "accuracy": 0.5, "val_loss": 1.25, "val_accuracy": 0.75})
    callback.on_train_end()
    assert _scalars(tmp_path / "train") == {"epoch_loss": [(0, 1.5), (1, 1.0)], "epoch_accuracy": [(0, 0.25), (1, 0.5)]}
    assert _scalars(tmp_path / "validation") == {"epoch_loss": [(0, 1.75), (1, 1.25)], "epoch_accuracy": [(0, 0.5), (1, 0.75)]}


def test_epoch_scalars_write_the_optimizers_learning_rate(tmp_path):
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(0.25), loss="mse")
    callback = EpochScalars(tmp_path)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0, {"loss": 1.5})
    callback.on_train_end()
    assert _scalars(tmp_path / "train") == {"epoch_loss": [(0, 1.5)], "epoch_learning_rate": [(0, 0.25)]}


def test_epoch_scalars_have_no_batch_hook():
    # Keras' TensorBoard callback does summary work on every batch; on JAX and PyTorch any
    # batch hook also turns off Keras' asynchronous dispatch of batch callbacks.
    assert EpochScalars.on_train_batch_end is keras.callbacks.Callback.on_train_batch_end


def _checkpoint_pair(tmp_path):
    target = compat.kerastuner_save_best_epoch()(keras_tuner.Objective("val_accuracy", "max"), str(tmp_path / "checkpoint.weights.h5"))
    model = _model()
    deferred = DeferredCheckpoint(target)
    deferred.set_model(model)
    return target, deferred, model


def test_deferred_checkpoint_writes_the_best_epochs_weights_once_at_the_end(tmp_path, monkeypatch):
    target, deferred, model = _checkpoint_pair(tmp_path)
    saves = []
    original_write = rundir.write_bytes_atomic
    monkeypatch.setattr(rundir, "write_bytes_atomic", lambda *args: (saves.append(1), original_write(*args)))
    deferred.on_train_begin()
    best = None
    for epoch, score in enumerate([0.5, 0.7, 0.6]):
        model.set_weights([weights + 1.0 for weights in model.get_weights()])  # training moves the weights
        deferred.on_epoch_end(epoch, {"val_accuracy": score})
        if score == 0.7:
            best = model.get_weights()
    final = model.get_weights()
    assert not saves and not (tmp_path / "checkpoint.weights.h5").exists()
    deferred.on_train_end()
    assert len(saves) == 1 and target.best_value == 0.7
    for kept, current in zip(model.get_weights(), final):
        np.testing.assert_array_equal(kept, current)  # the model keeps its final weights
    reloaded = _model()
    reloaded.load_weights(tmp_path / "checkpoint.weights.h5")
    for saved, expected in zip(reloaded.get_weights(), best):
        np.testing.assert_array_equal(saved, expected)


def test_deferred_checkpoint_keeps_the_best_across_a_trials_executions(tmp_path):
    target, deferred, _ = _checkpoint_pair(tmp_path)
    deferred.on_train_begin()
    deferred.on_epoch_end(0, {"val_accuracy": 0.8})
    deferred.on_train_end()
    deferred.on_train_begin()  # the next execution: worse epochs write nothing
    deferred.on_epoch_end(0, {"val_accuracy": 0.6})
    (tmp_path / "checkpoint.weights.h5").unlink()
    deferred.on_train_end()
    assert target.best_value == 0.8 and not (tmp_path / "checkpoint.weights.h5").exists()


def test_deferred_checkpoint_keeps_every_epoch_without_the_objective(tmp_path):
    _, deferred, _ = _checkpoint_pair(tmp_path)
    deferred.on_train_begin()
    deferred.on_epoch_end(0, {"loss": 1.0})
    deferred.on_train_end()
    assert (tmp_path / "checkpoint.weights.h5").is_file()
