"""Checkpoints written off the training thread: in order, one at a time, errors raised on the training thread."""

import errno
import json
import os
import threading

import keras
import numpy as np
import pytest

import callbacks as minibatch_callbacks
from keras_minibatch.run_folders import rundir
from keras_minibatch.training import checkpoint_writer
from keras_minibatch.training.checkpoint_writer import CheckpointSnapshot, CheckpointWriter
from keras_minibatch.training.checkpointing import TrainingCheckpoint, load_checkpoint


def snapshot(epochs_done, best_file=None, best_weights=None):
    return CheckpointSnapshot(
        epochs_done=epochs_done, variables=[np.full(3, float(epochs_done))], history={"loss": [1.0] * epochs_done},
        early_stopping=None, best_weights=best_weights, best_file=best_file,
    )


def test_the_variables_and_best_weights_are_written_before_state_json(tmp_path, monkeypatch):
    written = []
    real_bytes, real_json = rundir.write_bytes_atomic, rundir.write_json_atomic
    monkeypatch.setattr(rundir, "write_bytes_atomic", lambda path, data: (written.append(path.name), real_bytes(path, data)))
    monkeypatch.setattr(rundir, "write_json_atomic", lambda path, data: (written.append(path.name), real_json(path, data)))
    checkpoint_writer.write_checkpoint(tmp_path, snapshot(1, "epoch-0001.best.npz", [np.ones(2)]))
    assert written == ["epoch-0001.variables.npz", "epoch-0001.best.npz", "state.json"]


def test_submit_returns_while_the_write_goes_on_and_the_next_waits_for_it(tmp_path, monkeypatch):
    release, order = threading.Event(), []
    real_write = checkpoint_writer.write_checkpoint

    def held_write(directory, item):
        if item.epochs_done == 1:
            assert release.wait(timeout=60)
        real_write(directory, item)
        order.append(item.epochs_done)

    monkeypatch.setattr(checkpoint_writer, "write_checkpoint", held_write)
    writer = CheckpointWriter(tmp_path / "checkpoint")
    writer.submit(snapshot(1))  # Returns although the write waits for `release`.
    assert order == [] and load_checkpoint(tmp_path / "checkpoint") is None
    threading.Timer(0.05, release.set).start()
    writer.submit(snapshot(2))  # Waits for the first write: one in flight, in order.
    assert order[0] == 1
    writer.finish()
    assert order == [1, 2]
    assert load_checkpoint(tmp_path / "checkpoint").epochs_done == 2
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == ["epoch-0002.variables.npz", "state.json"]


def test_a_failed_write_is_raised_once_on_the_training_thread_and_the_previous_checkpoint_stays(tmp_path, monkeypatch):
    writer = CheckpointWriter(tmp_path)
    writer.submit(snapshot(1))
    writer.finish()
    real_bytes = rundir.write_bytes_atomic

    def full_disk(path, data):
        if "0002" in path.name:
            raise rundir.RunDirError(f"cannot write {str(path)!r}: the disk is full")
        real_bytes(path, data)

    monkeypatch.setattr(rundir, "write_bytes_atomic", full_disk)
    writer.submit(snapshot(2))
    with pytest.raises(rundir.RunDirError, match="the disk is full"):
        writer.submit(snapshot(3))  # The error of epoch 2's write; epoch 3 is not started.
    writer.finish()  # Raised once.
    assert load_checkpoint(tmp_path).epochs_done == 1

    def no_space(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(rundir, "write_bytes_atomic", no_space)
    writer.submit(snapshot(4))
    with pytest.raises(OSError, match="No space left"):
        writer.finish()  # The last write's error, at the end of training.


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_best_weights_are_written_only_when_early_stopping_replaces_them(tmp_path, monkeypatch):
    written = []
    real_bytes = rundir.write_bytes_atomic
    monkeypatch.setattr(rundir, "write_bytes_atomic", lambda path, data: (written.append(path.name), real_bytes(path, data)))
    stopper = minibatch_callbacks.EarlyStopping(restore_best_weights=True)
    saver = TrainingCheckpoint(tmp_path, early_stopping=stopper)
    saver.set_model(tiny_model())
    saver.on_train_begin()
    first_best = [np.zeros(2)]
    for epoch, best in enumerate([first_best, first_best, first_best, [np.ones(2)]]):
        stopper.best_weights = best
        saver.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 1.0})
        saver.finish()
        state = json.loads((tmp_path / "state.json").read_text())
        assert state["best_weights"] == ("epoch-0001.best.npz" if epoch < 3 else "epoch-0004.best.npz")
    assert [name for name in written if "best" in name] == ["epoch-0001.best.npz", "epoch-0004.best.npz"]
    assert sorted(os.listdir(tmp_path)) == ["epoch-0004.best.npz", "epoch-0004.variables.npz", "state.json"]
    np.testing.assert_array_equal(load_checkpoint(tmp_path).best_weights[0], np.ones(2))


def test_an_epoch_with_non_finite_weights_writes_nothing(tmp_path):
    model = tiny_model()
    saver = TrainingCheckpoint(tmp_path)
    saver.set_model(model)
    saver.on_train_begin()
    saver.on_epoch_end(0, {"loss": 1.0})
    model.layers[0].kernel.assign(np.full((3, 2), np.nan, dtype="float32"))
    saver.on_epoch_end(1, {"loss": 1.0})
    saver.on_train_end()
    assert load_checkpoint(tmp_path).epochs_done == 1 and saver.last_saved_epoch == 0
