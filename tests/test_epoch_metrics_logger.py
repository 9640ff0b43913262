"""Tests for `callbacks.EpochMetricsLogger`."""

import copy
import csv
import json
import types
from pathlib import Path

import keras
import numpy as np
import pytest

import callbacks.epoch_metrics_logger as logger_module
from callbacks import EpochMetricsLogger

NAN = float("nan")
PARAMS = {"verbose": 0, "epochs": 10, "steps": 10}


@pytest.fixture
def clock(monkeypatch):
    """Makes every epoch last exactly 2 seconds."""
    ticks = iter(range(0, 1000, 2))
    fake_time = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)))
    monkeypatch.setattr(logger_module, "time", fake_time)


def run(logger, epoch_logs, first_epoch=0):
    """Runs the hooks of one `fit` with the given logs per epoch."""
    logger.set_params(PARAMS)
    logger.on_train_begin()
    for epoch, logs in enumerate(epoch_logs, start=first_epoch):
        logger.on_epoch_begin(epoch)
        logger.on_epoch_end(epoch, logs)
    logger.on_train_end()


def test_prints_one_line_per_epoch_with_samples_per_second(clock, capsys):
    logs = {"loss": 0.21339, "accuracy": 0.93812, "val_loss": 0.25011, "val_accuracy": 0.929}

    run(EpochMetricsLogger(num_samples=24690), [logs], first_epoch=2)

    assert capsys.readouterr().out == (
        "epoch 3/10  loss 0.2134  accuracy 0.9381  val_loss 0.2501  val_accuracy 0.9290"
        "  time 2.00s  12,345 samples/s\n"
    )


def test_wrap_breaks_a_line_wider_than_the_terminal_between_values(clock, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "62")
    logs = {"loss": 0.21339, "accuracy": 0.93812, "val_loss": 0.25011, "val_accuracy": 0.929}

    run(EpochMetricsLogger(num_samples=24690, wrap=True), [logs], first_epoch=2)

    assert capsys.readouterr().out.splitlines() == [
        "epoch 3/10  loss 0.2134  accuracy 0.9381  val_loss 0.2501",
        "            val_accuracy 0.9290  time 2.00s  12,345 samples/s",
    ]


def test_reports_steps_per_second_without_num_samples(clock, capsys):
    run(EpochMetricsLogger(), [{"loss": 1.0}])

    assert capsys.readouterr().out == "epoch 1/10  loss 1.0000  time 2.00s  5 steps/s\n"


def test_puts_validation_metrics_last_keeping_log_order(clock):
    logger = EpochMetricsLogger(verbose=0)

    run(logger, [{"val_loss": 1.0, "loss": 2.0, "val_acc": 0.5, "acc": 0.25}])

    assert list(logger.history[0]) == [
        "epoch", "loss", "acc", "val_loss", "val_acc", "epoch_seconds", "steps_per_second"]


def test_formats_tiny_values_like_keras_progress_bar(clock, capsys):
    run(EpochMetricsLogger(), [{"loss": 0.00012345, "mae": 0.0, "mse": NAN}])

    assert "loss 1.2345e-04  mae 0.0000  mse nan  " in capsys.readouterr().out


def test_verbose_0_prints_nothing(clock, capsys):
    run(EpochMetricsLogger(verbose=0), [{"loss": 1.0}])

    assert capsys.readouterr().out == ""


def test_history_holds_rows_of_the_last_fit(clock):
    logger = EpochMetricsLogger(num_samples=10, verbose=0)
    run(logger, [{"loss": 3.0}])

    run(logger, [{"loss": 2.0}, {"loss": np.float32(1.5)}])

    assert logger.history == [
        {"epoch": 1, "loss": 2.0, "epoch_seconds": 2.0, "samples_per_second": 5.0},
        {"epoch": 2, "loss": 1.5, "epoch_seconds": 2.0, "samples_per_second": 5.0},
    ]
    assert type(logger.history[1]["loss"]) is float


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_writes_json_lines_with_nan_as_null(clock, tmp_path, suffix):
    path = tmp_path / f"metrics{suffix}"

    run(EpochMetricsLogger(str(path), verbose=0), [{"loss": 1.0}, {"loss": NAN, "val_loss": 2.0}])

    rows = [json.loads(line, parse_constant=pytest.fail) for line in path.read_text().splitlines()]
    assert rows == [
        {"epoch": 1, "loss": 1.0, "epoch_seconds": 2.0, "steps_per_second": 5.0},
        {"epoch": 2, "loss": None, "val_loss": 2.0, "epoch_seconds": 2.0, "steps_per_second": 5.0},
    ]


def test_writes_csv_with_header_nan_and_empty_missing_cells(clock, tmp_path):
    path = tmp_path / "metrics.csv"

    run(EpochMetricsLogger(str(path), verbose=0), [{"loss": 1.0, "val_loss": 2.0}, {"loss": NAN}])

    assert path.read_text().splitlines() == [
        "epoch,loss,val_loss,epoch_seconds,steps_per_second",
        "1,1.0,2.0,2.0,5.0",
        "2,NaN,,2.0,5.0",
    ]


def test_csv_adds_a_column_a_later_epoch_brings(clock, tmp_path):
    path = tmp_path / "metrics.csv"

    run(EpochMetricsLogger(str(path), verbose=0), [{"loss": 1.0}, {"loss": 0.5, "val_loss": 2.0}, {"loss": 0.25}])

    assert path.read_text().splitlines() == [
        "epoch,loss,val_loss,epoch_seconds,steps_per_second",
        "1,1.0,,2.0,5.0",
        "2,0.5,2.0,2.0,5.0",
        "3,0.25,,2.0,5.0",
    ]


def test_a_metric_missing_after_an_earlier_epoch_is_none(clock, tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    logger = EpochMetricsLogger(str(path))

    run(logger, [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5}])

    assert [json.loads(line)["val_loss"] for line in path.read_text().splitlines()] == [2.0, None]
    assert logger.history[1]["val_loss"] is None
    assert capsys.readouterr().out.splitlines()[1] == "epoch 2/10  loss 0.5000  time 2.00s  5 steps/s"


def test_per_class_metrics_are_numbers_or_lists(clock, tmp_path, capsys):
    path = tmp_path / "metrics.csv"
    logger = EpochMetricsLogger(str(path))

    run(logger, [{"f1": np.array([0.5], dtype="float32"), "per_class": np.array([0.25, np.nan])}])

    assert (logger.history[0]["f1"], logger.history[0]["per_class"][0]) == (0.5, 0.25)
    assert "f1 0.5000  per_class [0.2500, nan]" in capsys.readouterr().out
    with open(path, newline="") as file:
        assert next(csv.DictReader(file))["per_class"] == "[0.25, NaN]"


def test_json_lists_hold_null_for_nan(clock, tmp_path):
    path = tmp_path / "metrics.jsonl"

    run(EpochMetricsLogger(str(path), verbose=0), [{"per_class": np.array([0.25, np.inf])}])

    assert json.loads(path.read_text())["per_class"] == [0.25, None]


def test_each_line_is_on_disk_before_training_ends(clock, tmp_path):
    path = tmp_path / "metrics.jsonl"
    logger = EpochMetricsLogger(str(path), verbose=0)
    logger.set_params(PARAMS)
    logger.on_train_begin()
    logger.on_epoch_begin(0)

    logger.on_epoch_end(0, {"loss": 1.0})

    assert json.loads(path.read_text())["loss"] == 1.0
    logger.on_train_end()


@pytest.mark.parametrize("name", ["metrics.csv", "metrics.jsonl"])
def test_truncates_at_each_fit_by_default(clock, tmp_path, name):
    path = tmp_path / name
    logger = EpochMetricsLogger(str(path), verbose=0)
    run(logger, [{"loss": 3.0}, {"loss": 2.0}])

    run(logger, [{"loss": 1.0}])

    assert len(path.read_text().splitlines()) == (2 if name.endswith(".csv") else 1)


def test_append_adds_rows_under_the_existing_csv_header(clock, tmp_path):
    path = tmp_path / "metrics.csv"
    run(EpochMetricsLogger(str(path), verbose=0), [{"loss": 2.0, "val_loss": 3.0}])

    run(EpochMetricsLogger(str(path), verbose=0, append=True), [{"loss": 1.0}], first_epoch=1)

    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(row["epoch"], row["loss"], row["val_loss"]) for row in rows] == [
        ("1", "2.0", "3.0"), ("2", "1.0", "")]


def test_append_keeps_json_lines(clock, tmp_path):
    path = tmp_path / "metrics.jsonl"
    run(EpochMetricsLogger(str(path), verbose=0), [{"loss": 2.0}])

    run(EpochMetricsLogger(str(path), verbose=0, append=True), [{"loss": 1.0}], first_epoch=1)

    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [1, 2]


def test_config_json_round_trip():
    logger = EpochMetricsLogger("runs/metrics.csv", num_samples=100, verbose=0, append=True)

    config = json.loads(json.dumps(logger.get_config()))

    assert EpochMetricsLogger.from_config(config).get_config() == logger.get_config() == {
        "filename": "runs/metrics.csv", "num_samples": 100, "verbose": 0, "append": True, "wrap": False}


@pytest.mark.parametrize(("name", "torn"), [("metrics.jsonl", '{"epoch": 2, "loss": 0.7'), ("metrics.csv", "2,0.7")])
def test_append_drops_a_torn_last_line(clock, tmp_path, name, torn):
    path = tmp_path / name
    run(EpochMetricsLogger(str(path), verbose=0), [{"loss": 1.0}])
    with open(path, "a") as file:
        file.write(torn)  # A process killed while writing epoch 2.

    run(EpochMetricsLogger(str(path), verbose=0, append=True), [{"loss": 0.5}], first_epoch=1)

    assert path.read_text().splitlines()[-2:] == (
        ["1,1.0,2.0,5.0", "2,0.5,2.0,5.0"] if name.endswith(".csv") else [
            '{"epoch": 1, "loss": 1.0, "epoch_seconds": 2.0, "steps_per_second": 5.0}',
            '{"epoch": 2, "loss": 0.5, "epoch_seconds": 2.0, "steps_per_second": 5.0}'])


def test_a_second_logger_on_an_open_file_is_refused(clock, tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    first, second = EpochMetricsLogger(path, verbose=0), EpochMetricsLogger(path, verbose=0, append=True)
    first.on_train_begin()

    with pytest.raises(ValueError, match="is already written by another EpochMetricsLogger"):
        second.on_train_begin()
    first.close()
    run(second, [{"loss": 1.0}])  # Once the first is closed.
    assert json.loads(Path(path).read_text())["loss"] == 1.0


def test_numpy_scalar_arguments_are_accepted():
    logger = EpochMetricsLogger(num_samples=np.int64(100), verbose=np.int64(0), append=np.bool_(False))

    assert json.loads(json.dumps(logger.get_config())) == {
        "filename": None, "num_samples": 100, "verbose": 0, "append": False, "wrap": False}


def test_deepcopy_after_a_run_copies_no_open_file(clock, tmp_path):
    logger = EpochMetricsLogger(str(tmp_path / "metrics.jsonl"), verbose=0)
    run(logger, [{"loss": 1.0}])

    clone = copy.deepcopy(logger)

    assert clone.get_config() == logger.get_config()
    assert clone.history == logger.history and clone.history is not logger.history


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filename": "metrics.txt"},
         r"`filename` \('metrics.txt'\) must be a name ending in one of \('.jsonl', '.json', '.csv'\)"),
        ({"filename": 3}, r"`filename` \(3\) must be a string or None; pass `str\(path\)`"),
        ({"num_samples": 0}, r"`num_samples` \(0\) must be a positive integer or None"),
        ({"num_samples": 1.5}, r"`num_samples` \(1.5\) must be a positive integer or None"),
        ({"verbose": -1}, r"`verbose` \(-1\) must be a non-negative integer"),
        ({"append": "yes"}, r"`append` \('yes'\) must be a bool"),
        ({"wrap": "yes"}, r"`wrap` \('yes'\) must be a bool"),
        ({"num_samples": np.float64(1.5)}, r"`num_samples` \(np.float64\(1.5\)\) must be a positive integer or None"),
    ],
)
def test_bad_argument_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EpochMetricsLogger(**kwargs)


class BatchRecorder(keras.callbacks.Callback):
    """Records, per epoch, Keras' batch `loss` logs and each batch's own loss.

    A batch's own loss is computed from the weights at the start of the batch
    (the ones `train_step` uses), independently of Keras' metric trackers.
    """

    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.batch_logs, self.batch_losses = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.batch_logs.append([])
        self.batch_losses.append([])

    def on_train_batch_begin(self, batch, logs=None):
        kernel, bias = self.model.get_weights()
        rows = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
        error = self.x[rows].astype("float64") @ kernel + bias - self.y[rows]
        self.batch_losses[-1].append(float(np.mean(error**2)))

    def on_train_batch_end(self, batch, logs=None):
        self.batch_logs[-1].append(logs["loss"])


def test_each_epoch_value_covers_that_epoch_alone():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32") + 3.0
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    recorder = BatchRecorder(x, y, batch_size=8)
    logger = EpochMetricsLogger(verbose=0)

    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[recorder, logger])

    logged = logger.history[1]["loss"]
    epoch_1, epoch_2 = recorder.batch_losses
    # Keras' batch logs restart at epoch 2: its first one is that batch alone.
    assert recorder.batch_logs[1][0] == pytest.approx(epoch_2[0], rel=1e-4)
    assert logged == recorder.batch_logs[1][-1]
    assert logged == pytest.approx(np.mean(epoch_2), rel=1e-4)
    # A running mean over both epochs would be much higher: the loss halved.
    assert np.mean(epoch_1 + epoch_2) > 1.25 * logged


def test_fit_writes_one_csv_row_per_epoch(tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    path = tmp_path / "metrics.csv"

    model.fit(x[:16], x[:16, :1], validation_data=(x[16:], x[16:, :1]), batch_size=8, epochs=2,
              verbose=0, callbacks=[EpochMetricsLogger(str(path), verbose=0)])

    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == [
        "epoch", "loss", "mae", "val_loss", "val_mae", "epoch_seconds", "steps_per_second"]
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert all(float(row["steps_per_second"]) > 0 for row in rows)


def test_f1_score_and_validation_freq_in_a_real_fit(tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[keras.metrics.F1Score(name="f1")])
    csv_path, json_path = tmp_path / "metrics.csv", tmp_path / "metrics.jsonl"
    loggers = [EpochMetricsLogger(str(csv_path), verbose=0), EpochMetricsLogger(str(json_path), verbose=0)]

    model.fit(x[:16], y[:16], validation_data=(x[16:], y[16:]), validation_freq=2, batch_size=8, epochs=3,
              verbose=0, callbacks=loggers)

    with open(csv_path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["val_f1"] != "" for row in rows] == [False, True, False]
    assert all(0 <= float(row["f1"]) <= 1 for row in rows)
    rows = [json.loads(line) for line in json_path.read_text().splitlines()]
    assert ["val_f1" in row for row in rows] == [False, True, True] and rows[2]["val_f1"] is None
    assert isinstance(rows[0]["f1"], float)
