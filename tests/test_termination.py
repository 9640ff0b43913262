"""Ctrl-C and SIGTERM are never lost: a request whose first exception was swallowed still stops fit and the command."""

import signal

import keras
import numpy as np
import pytest

from keras_minibatch import TrainConfig, train_and_evaluate
from keras_minibatch.cli import errors, main as cli_main
from keras_minibatch.training import termination
from keras_minibatch.training.model import build_mlp
from keras_minibatch.training.termination_callback import RaiseOnStopRequest


@pytest.fixture
def requested():
    termination.forget_stop_request()
    with pytest.raises(termination.Terminated):
        termination.handle_stop_signal(signal.SIGTERM, None)
    yield
    termination.forget_stop_request()


@pytest.fixture(autouse=True)
def no_request_left_behind():
    """A request one test makes must not stop the trainings of the tests after it."""
    termination.forget_stop_request()
    yield
    termination.forget_stop_request()


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
                termination.handle_stop_signal(signal.SIGTERM, None)
            except termination.Terminated:
                pass

    return keras.callbacks.LambdaCallback(on_train_batch_end=hook)


def test_the_handler_remembers_the_request_and_raises_a_keyboard_interrupt(requested):
    assert issubclass(termination.Terminated, KeyboardInterrupt)  # The CLI stops as on Ctrl-C.
    with pytest.raises(termination.Terminated):
        termination.raise_if_stop_requested()


def test_callback_stops_fit_at_the_batch_whose_sigterm_was_swallowed():
    termination.forget_stop_request()
    seen = []
    try:
        with pytest.raises(termination.Terminated):
            fit_with([swallow_sigterm_at(1), RaiseOnStopRequest()], seen)
    finally:
        termination.forget_stop_request()
    assert seen == [0, 1]  # No batch ran after the one SIGTERM hit.


def test_callback_stops_fit_before_it_trains_once_sigterm_arrived(requested):
    seen = []
    with pytest.raises(termination.Terminated):
        fit_with([RaiseOnStopRequest()], seen)
    assert seen == []


def test_callback_does_nothing_without_sigterm():
    termination.forget_stop_request()
    seen = []
    fit_with([RaiseOnStopRequest()], seen)
    assert len(seen) == 12  # 3 epochs of 4 batches.


def test_train_stops_before_its_first_epoch_after_a_lost_sigterm(requested, tmp_path):
    with pytest.raises(termination.Terminated):
        train_and_evaluate(TrainConfig(dataset="digits", max_train_samples=200, epochs=2, hidden_units=(8,)), tmp_path, verbose=0)
    assert not (tmp_path / "checkpoint").exists() and not (tmp_path / "model.keras").exists()


def test_sigint_is_remembered_as_a_plain_keyboard_interrupt():
    termination.forget_stop_request()
    try:
        with pytest.raises(KeyboardInterrupt) as raised:
            termination.handle_stop_signal(signal.SIGINT, None)
        assert not isinstance(raised.value, termination.Terminated)  # exit 130, not 143
        with pytest.raises(KeyboardInterrupt) as again:
            termination.raise_if_stop_requested()
        assert not isinstance(again.value, termination.Terminated)
    finally:
        termination.forget_stop_request()


def swallowed_ctrl_c(argv):
    """A command that finishes after its Ctrl-C was swallowed, as in a weakref callback during garbage collection."""
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        pass
    return 0


def test_a_command_whose_ctrl_c_was_swallowed_exits_130_not_0(monkeypatch, capsys):
    monkeypatch.setattr(cli_main, "_run_command", lambda command, stray: swallowed_ctrl_c(stray))
    with pytest.raises(SystemExit) as exit_:
        errors.run_with_clean_errors(cli_main.main, ["keras-minibatch", "train"])
    assert exit_.value.code == errors.EXIT_SIGINT
    assert "interrupted (SIGINT) before anything was written" in capsys.readouterr().err
    termination.forget_stop_request()


def test_the_command_line_restores_the_callers_handlers_and_keeps_an_ignored_sigint():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    seen = {}
    try:
        def record(argv):
            seen["sigint"], seen["sigterm"] = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
            return 0

        sigterm_before = signal.getsignal(signal.SIGTERM)
        assert errors.run_with_clean_errors(record, ["keras-minibatch", "train"]) == 0
        assert seen == {"sigint": signal.SIG_IGN, "sigterm": termination.handle_stop_signal}
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) == sigterm_before
    finally:
        signal.signal(signal.SIGINT, previous)



def test_the_command_line_forgets_its_stop_request_when_it_returns(monkeypatch, capsys):
    monkeypatch.setattr(cli_main, "_run_command", lambda command, stray: swallowed_ctrl_c(stray))
    with pytest.raises(SystemExit):
        errors.run_with_clean_errors(cli_main.main, ["keras-minibatch", "train"])
    termination.raise_if_stop_requested()  # nothing left for a later training in this process
