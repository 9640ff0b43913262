"""Tests for `callbacks.ProgressBar`: its hooks driven by hand, and the screen a real fit leaves."""

import copy
import json
import re

import pyte
import pytest

import callbacks.progress_bar as bar_module
from callbacks import EpochMetricsLogger, ProgressBar

ERASE = "\r\x1b[K"


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves: `clock.now = 2.5`."""

    class Clock:
        now = 0.0

    fake = Clock()
    monkeypatch.setattr(bar_module.time, "perf_counter", lambda: fake.now)
    return fake


@pytest.fixture(autouse=True)
def columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")


def frames(out):
    """Each state of the line, in order: the text drawn after each erase."""
    return [frame for frame in out.split(ERASE) if frame]


def screen_rows(text, columns=100, rows=30):
    """The rows a terminal of `columns` shows after `text` (the tty's newline translation included)."""
    screen = pyte.Screen(columns, rows)
    pyte.Stream(screen).feed(text.replace("\n", "\r\n"))
    return [row.rstrip() for row in screen.display if row.strip()]


def drive(bar, steps, *, epochs=1, logs=None, clock=None, seconds_per_step=0.5):
    bar.set_params({"epochs": epochs, "steps": steps})
    bar.on_train_begin()
    for epoch in range(epochs):
        bar.on_epoch_begin(epoch)
        for step in range(steps):
            if clock is not None:
                clock.now += seconds_per_step
            bar.on_train_batch_end(step, logs or {"loss": 0.5})
        bar.on_epoch_end(epoch, {})
    bar.on_train_end()


def test_counts_the_updates_of_fused_steps(clock, capsys):
    # 54,000 rows at batch 32 in steps of 256 updates: 7 steps, 1688 updates.
    drive(ProgressBar(updates_per_step=256, updates_per_epoch=1688), steps=7, clock=clock)

    counts = [re.search(r"(\d+)/(\d+) updates", frame).groups() for frame in frames(capsys.readouterr().out)]

    assert counts == [(str(done), "1688") for done in (0, 256, 512, 768, 1024, 1280, 1536, 1688)]


def test_without_updates_per_epoch_counts_keras_steps(capsys):
    bar = ProgressBar(interval=0)
    bar.set_params({"epochs": 1, "steps": 7})
    bar.on_epoch_begin(0)

    bar.on_train_batch_end(99)  # Keras' steps_per_execution counts a last step of 100 batches as full.

    assert "7/7 updates" in frames(capsys.readouterr().out)[-1]


def test_rate_and_time_left_leave_out_the_first_step(clock, capsys):
    bar = ProgressBar(updates_per_step=10, updates_per_epoch=100, interval=0)
    bar.set_params({"epochs": 2, "steps": 10})
    bar.on_epoch_begin(0)
    clock.now = 5.0  # the first step compiles
    bar.on_train_batch_end(0)
    clock.now = 6.0
    bar.on_train_batch_end(1)  # then 10 updates a second: 80 left

    assert frames(capsys.readouterr().out)[-1].startswith("epoch 1/2  [=>........]  20/100 updates  10/s  0:08 left")


def test_redraws_at_most_every_interval(clock, capsys):
    drive(ProgressBar(interval=0.1), steps=100, clock=clock, seconds_per_step=0.01)

    assert len(frames(capsys.readouterr().out)) == 1 + 10  # the epoch's start, then every tenth step (the last included)


def test_the_line_is_erased_when_the_epoch_ends_so_the_summary_stands_alone(clock, capsys):
    logger = EpochMetricsLogger(num_samples=6400, wrap=True)  # 100 columns: its line is wrapped between two values
    bar = ProgressBar(updates_per_step=50, updates_per_epoch=200)
    for callback in (bar, logger):  # the bar first: it erases its line before the summary prints
        callback.set_params({"epochs": 2, "steps": 4})
        callback.on_train_begin()
    for epoch in range(2):
        for callback in (bar, logger):
            callback.on_epoch_begin(epoch)
        for step in range(4):
            clock.now += 1
            bar.on_train_batch_end(step, {"loss": 0.5, "accuracy": 0.75})
        bar.on_test_begin()
        for callback in (bar, logger):
            callback.on_epoch_end(epoch, {"loss": 0.5, "accuracy": 0.75, "val_loss": 0.6, "val_accuracy": 0.7})
    out = capsys.readouterr().out

    assert "200/200 updates  50/s  validating  loss 0.5000" in out
    rows = screen_rows(out)
    assert rows == [
        "epoch 1/2  loss 0.5000  accuracy 0.7500  val_loss 0.6000  val_accuracy 0.7000  time 4.00s",
        "           1,600 samples/s",
        "epoch 2/2  loss 0.5000  accuracy 0.7500  val_loss 0.6000  val_accuracy 0.7000  time 4.00s",
        "           1,600 samples/s",
    ]


def test_the_line_fits_the_terminal_leaving_out_what_does_not_fit(clock, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    logs = {"loss": 0.5, "accuracy": 0.75, "a_long_metric_name": 1.0}

    drive(ProgressBar(label="trial 3/10", updates_per_step=8, updates_per_epoch=1000), steps=125, logs=logs, clock=clock)

    drawn = frames(capsys.readouterr().out)
    assert drawn and max(len(frame) for frame in drawn) <= 79  # the last column would make some terminals wrap
    assert drawn[-1] == "trial 3/10  epoch 1/1  [========]  1000/1000 updates  16/s  0:00 left"


def test_the_metrics_come_loss_first_and_as_far_as_they_fit(clock, capsys):
    logs = {"accuracy": 0.75, "loss": 0.5, "val_like_metric": 0.25}

    drive(ProgressBar(label="trial 3/10", updates_per_step=8, updates_per_epoch=1000), steps=125, logs=logs, clock=clock)

    assert frames(capsys.readouterr().out)[-1] == (
        "trial 3/10  epoch 1/1  [==========]  1000/1000 updates  16/s  0:00 left  loss 0.5000")


def test_evaluate_outside_fit_draws_nothing(capsys):
    bar = ProgressBar()
    bar.set_params({"epochs": 1, "steps": 3})

    bar.on_test_begin()
    bar.on_train_batch_end(0)

    assert capsys.readouterr().out == ""


def test_erase_after_an_interrupted_fit_clears_the_line_once(capsys):
    bar = ProgressBar()
    bar.set_params({"epochs": 1, "steps": 3})
    bar.on_epoch_begin(0)  # then Ctrl-C: Keras runs no end hook

    bar.erase()
    bar.erase()

    out = capsys.readouterr().out
    assert out.endswith("updates" + ERASE) and out.count(ERASE) == 2  # the line drawn, then erased once


def test_config_round_trips_and_deepcopies():
    bar = ProgressBar(updates_per_step=256, updates_per_epoch=1688, label="trial 1/3", interval=0.25)

    config = json.loads(json.dumps(bar.get_config()))

    assert ProgressBar.from_config(config).get_config() == bar.get_config() == {
        "updates_per_step": 256, "updates_per_epoch": 1688, "label": "trial 1/3", "interval": 0.25}
    assert copy.deepcopy(bar).get_config() == bar.get_config()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"updates_per_step": 0}, r"`updates_per_step` \(0\) must be an integer >= 1"),
        ({"updates_per_step": 1.5}, r"`updates_per_step` \(1.5\) must be an integer >= 1"),
        ({"updates_per_epoch": 0}, r"`updates_per_epoch` \(0\) must be an integer >= 1 or None"),
        ({"label": "two\nlines"}, r"`label` \('two\\nlines'\) must be a one-line string"),
        ({"interval": -1}, r"`interval` \(-1\) must be a number of seconds >= 0"),
    ],
)
def test_bad_argument_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProgressBar(**kwargs)


def test_a_real_fit_leaves_one_summary_line_per_epoch(capsys):
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=4)
    x = np.zeros((14, 2), dtype="float32")

    model.fit(x, x[:, :1], batch_size=2, epochs=3, validation_split=0.2, verbose=0,
              callbacks=[ProgressBar(interval=0), EpochMetricsLogger(wrap=True)])
    out = capsys.readouterr().out

    assert set(re.findall(r"/(\d+) updates", out)) == {"6"}  # 12 rows at batch 2
    rows = screen_rows(out)
    assert [row.split("  ")[0] for row in rows] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert not any("updates" in row for row in rows)
