"""SIGTERM is never lost: a request whose first exception was swallowed still stops fit."""

import keras
import numpy as np
import pytest

from keras_minibatch import TrainConfig, train_and_evaluate
from keras_minibatch.training import termination
from keras_minibatch.training.model import build_mlp
from keras_minibatch.training.termination_callback import RaiseWhenTerminated


@pytest.fixture
def requested():
    termination.reset_termination()
    with pytest.raises(termination.Terminated):
        termination.handle_sigterm(15, None)
    yield
    termination.reset_termination()


def fit_with(callbacks, seen, epochs=3):
    """Fits a tiny model with `callbacks`; `seen` receives the batches that ended."""
    keras.utils.set_random_seed(0)
    model = build_mlp((4, 4), 10, hidden_units=(4,))
    x, y = np.zeros((64, 4, 4), np.uint8), np.arange(64) % 10
    recorder = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    model.fit(x, y, batch_size=16, epochs=epochs, validation_data=(x, y), verbose=0, callbacks=[recorder, *callbacks])


def swallow_sigterm_at(batch_to_hit):
    """A callback in whose hook SIGTERM's exception lands and is swallowed, as happens rarely."""

    def hook(batch, logs):
        if batch == batch_to_hit:
            try:
                termination.handle_sigterm(15, None)
            except termination.Terminated:
                pass

    return keras.callbacks.LambdaCallback(on_train_batch_end=hook)


def test_the_handler_remembers_the_request_and_raises_a_keyboard_interrupt(requested):
    assert issubclass(termination.Terminated, KeyboardInterrupt)  # The CLI stops as on Ctrl-C.
    with pytest.raises(termination.Terminated):
        termination.raise_if_terminated()


def test_callback_stops_fit_at_the_batch_whose_sigterm_was_swallowed():
    termination.reset_termination()
    seen = []
    try:
        with pytest.raises(termination.Terminated):
            fit_with([swallow_sigterm_at(1), RaiseWhenTerminated()], seen)
    finally:
        termination.reset_termination()
    assert seen == [0, 1]  # No batch ran after the one SIGTERM hit.


def test_callback_stops_fit_before_it_trains_once_sigterm_arrived(requested):
    seen = []
    with pytest.raises(termination.Terminated):
        fit_with([RaiseWhenTerminated()], seen)
    assert seen == []


def test_callback_does_nothing_without_sigterm():
    termination.reset_termination()
    seen = []
    fit_with([RaiseWhenTerminated()], seen)
    assert len(seen) == 12  # 3 epochs of 4 batches.


def test_train_stops_before_its_first_epoch_after_a_lost_sigterm(requested, tmp_path):
    with pytest.raises(termination.Terminated):
        train_and_evaluate(TrainConfig(dataset="digits", max_train_samples=200, epochs=2, hidden_units=(8,)), tmp_path, verbose=0)
    assert not (tmp_path / "checkpoint").exists() and not (tmp_path / "model.keras").exists()
