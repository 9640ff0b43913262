import contextlib
import copy
import io
import json

import pytest

from callbacks import ProgressLogger
from callbacks.progress_logger import format_duration


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (59.6, "1:00"), (61, "1:01"), (3723, "1:02:03")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_prints_position_and_time_left(monkeypatch, capsys):
    clock = iter([0.0, 0.0, 5.0, 11.0, 12.0])
    monkeypatch.setattr("callbacks.progress_logger.time.perf_counter", lambda: next(clock))
    logger = ProgressLogger(interval=10.0)  # on_train_begin reads the clock once
    logger.set_params({"epochs": 2, "steps": 100})
    logger.on_epoch_begin(0)
    logger.on_train_batch_end(9)   # 5 s: quiet
    logger.on_train_batch_end(19)  # 11 s after the epoch began: 20 of 100 steps
    logger.on_train_batch_end(20)  # 1 s later: quiet again
    out = capsys.readouterr().out
    assert out == "epoch 1/2  20/100 steps (20%)  0:44 left in epoch, 1:39 in run\n"
    assert logger.lines_printed == 1


def test_short_epochs_print_nothing(capsys):
    logger = ProgressLogger(interval=60.0)
    logger.set_params({"epochs": 1, "steps": 3})
    logger.on_epoch_begin(0)
    for batch in range(3):
        logger.on_train_batch_end(batch)
    assert capsys.readouterr().out == ""


def test_config_round_trips_and_deepcopies():
    logger = ProgressLogger(interval=2.5)
    assert ProgressLogger.from_config(json.loads(json.dumps(logger.get_config()))).interval == 2.5
    assert copy.deepcopy(logger).interval == 2.5


@pytest.mark.parametrize("interval", [0, -1, "10", True, None])
def test_bad_interval_is_refused(interval):
    with pytest.raises(ValueError, match="`interval`"):
        ProgressLogger(interval=interval)


def test_long_epochs_of_a_real_run_show_progress_lines(tmp_path):
    from keras_minibatch import TrainConfig, train_and_evaluate

    config = TrainConfig(dataset="digits", max_train_samples=200, epochs=1, hidden_units=(8,), batch_size=1)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        train_and_evaluate(config, tmp_path, progress_interval=1e-9, print_fn=lambda line: None)
    progress = [line for line in buffer.getvalue().splitlines() if "steps (" in line]
    assert progress and "left in epoch" in progress[-1]
    assert "\r" not in buffer.getvalue()


def test_steps_per_execution_past_the_epoch_end_reports_the_epochs_last_batch(capsys):
    logger = ProgressLogger(interval=1e-9)
    logger.set_params({"epochs": 1, "steps": 7})
    logger.on_epoch_begin(0)

    logger.on_train_batch_end(99)  # Keras counts a step of 100 batches as if it were full.

    assert capsys.readouterr().out.startswith("epoch 1/1  7/7 steps (100%)  0:00 left in epoch")


def test_steps_per_execution_in_a_real_fit_counts_batches_within_the_epoch(capsys):
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=4)
    x = np.zeros((14, 2), dtype="float32")

    model.fit(x, x[:, :1], batch_size=2, epochs=2, verbose=0, callbacks=[ProgressLogger(interval=1e-9)])

    counts = [line.split()[2] for line in capsys.readouterr().out.splitlines()]
    assert counts == ["4/7", "7/7", "4/7", "7/7"]


def test_numpy_interval_is_accepted():
    import numpy as np

    assert ProgressLogger(interval=np.float32(2.5)).get_config() == {"interval": 2.5}
