"""`compare_batch_sizes`: full batch vs SGD vs mini-batch on tiny digits."""

import csv
import json
import math

import pytest

from keras_minibatch import TrainConfig
from keras_minibatch.batch_sizes.comparison import compare_batch_sizes
from keras_minibatch.batch_sizes.config import FULL_BATCH, check_budget, parse_batch_sizes
from keras_minibatch.batch_sizes.report import COMPARISON_CSV, COMPARISON_JSON, CURVES_CSV, PLOTS, format_table
from keras_minibatch.checks import ConfigError
from keras_minibatch.run_folders.rundir import RunDirError

# 200 rows: 180 to fit (10% validation), so SGD makes 180 updates per epoch.
TINY = TrainConfig(dataset="digits", max_train_samples=200, hidden_units=(16,), steps_per_execution=4)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def by_epochs(tmp_path_factory):
    lines = []
    result = compare_batch_sizes(TINY, "full,1,32", tmp_path_factory.mktemp("epochs"), budget_epochs=2, budget_seconds=None, print_fn=lines.append)
    return result, lines


@pytest.fixture(scope="module")
def by_seconds(tmp_path_factory):
    lines = []
    result = compare_batch_sizes(TINY, [FULL_BATCH, 1], tmp_path_factory.mktemp("seconds"), budget_epochs=None, budget_seconds=1.0, print_fn=lines.append)
    return result, lines


def regime(result, label):
    return next(r for r in result.regimes if r.label == label)


def test_every_file_is_written(by_epochs):
    result, _ = by_epochs
    names = {path.name for path in result.workdir.iterdir()}
    assert {COMPARISON_CSV, CURVES_CSV, COMPARISON_JSON, "tensorboard", *PLOTS} <= names
    assert not [name for name in names if ".tmp" in name]
    for name in PLOTS:
        assert (result.workdir / name).read_bytes().startswith(PNG_SIGNATURE)


def test_full_batch_makes_one_update_per_epoch(by_epochs):
    result, _ = by_epochs
    full = regime(result, "full")
    assert (full.batch_size, full.updates_per_epoch, full.updates, full.epochs) == (result.num_fit_samples, 1, 2, 2.0)


@pytest.mark.parametrize("label, batch_size", [("1", 1), ("32", 32)])
def test_updates_follow_from_the_batch_size(by_epochs, label, batch_size):
    result, _ = by_epochs
    run = regime(result, label)
    assert run.updates_per_epoch == math.ceil(result.num_fit_samples / batch_size)
    assert run.updates == 2 * run.updates_per_epoch
    assert run.stopped_by == "epochs"


def test_one_full_batch_update_costs_more_than_one_mini_batch_update(by_epochs):
    result, _ = by_epochs
    assert regime(result, "full").seconds_per_update > regime(result, "32").seconds_per_update


def test_times_are_consistent(by_epochs):
    result, _ = by_epochs
    for run in result.regimes:
        assert run.seconds_per_update == pytest.approx(run.train_seconds / run.updates)
        assert run.seconds_per_epoch == pytest.approx(run.seconds_per_update * run.updates_per_epoch)


def test_every_regime_starts_from_the_same_weights(by_epochs):
    result, _ = by_epochs
    assert len({run.initial_weights_sha256 for run in result.regimes}) == 1
    starts = [run.curve[0] for run in result.regimes]
    assert {(point.updates, point.seconds) for point in starts} == {(0, 0.0)}
    assert len({point.val_loss for point in starts}) == 1


def test_curves_hold_every_epoch_end_and_points_in_between(by_epochs):
    result, _ = by_epochs
    for run in result.regimes:
        assert [p.epoch for p in run.curve if p.epoch == int(p.epoch)] == [0.0, 1.0, 2.0]
        assert [p.updates for p in run.curve] == sorted(p.updates for p in run.curve)
        assert run.curve[-1].updates == run.updates
    # SGD's 180 updates per epoch get points every 18 updates (every 4, as 4 run per call).
    assert len(regime(result, "1").curve) > 2 * 5


def test_comparison_csv_matches_the_result(by_epochs):
    result, _ = by_epochs
    with open(result.workdir / COMPARISON_CSV, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["batch_sizes_arg"] for row in rows] == ["full", "1", "32"]
    for row, run in zip(rows, result.regimes):
        assert int(row["batch_size"]) == run.batch_size
        assert int(row["updates_per_epoch"]) == run.updates_per_epoch
        assert int(row["updates"]) == run.updates
        assert float(row["seconds_per_update"]) == run.seconds_per_update
        assert float(row["final_val_loss"]) == run.curve[-1].val_loss
        assert float(row["test_accuracy"]) == run.test_accuracy


def test_curves_csv_and_json_match_the_result(by_epochs):
    result, _ = by_epochs
    with open(result.workdir / CURVES_CSV, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == sum(len(run.curve) for run in result.regimes)
    assert [float(row["val_loss"]) for row in rows] == [p.val_loss for run in result.regimes for p in run.curve]
    saved = json.loads((result.workdir / COMPARISON_JSON).read_text())
    assert saved["num_fit_samples"] == result.num_fit_samples
    assert [r["test_accuracy"] for r in saved["regimes"]] == [run.test_accuracy for run in result.regimes]
    assert saved["regimes"][0]["curve"][0]["val_loss"] == result.regimes[0].curve[0].val_loss


def _scalars(run_folder, tag):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    accumulator = event_accumulator.EventAccumulator(str(run_folder), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return [(event.step, float(tensor_util.make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]


def test_tensorboard_overlays_every_regimes_curve_against_updates_and_training_time(by_epochs):
    result, _ = by_epochs
    logdir = result.workdir / "tensorboard"
    assert sorted(path.name for path in logdir.iterdir()) == ["batch_1", "batch_32", "batch_full"]
    assert str(logdir) in json.loads((result.workdir / COMPARISON_JSON).read_text())["files"].values()
    for run in result.regimes:
        folder = logdir / f"batch_{run.label}"
        assert _scalars(folder, "val_loss_vs_updates") == [(point.updates, pytest.approx(point.val_loss)) for point in run.curve]
        steps = [step for step, _ in _scalars(folder, "val_accuracy_vs_training_ms")]
        assert len(steps) == len(run.curve) and steps == sorted(set(steps))  # strictly increasing: TensorBoard keeps every point
        assert all(abs(step - point.seconds * 1000) <= len(run.curve) for step, point in zip(steps, run.curve))
        assert _scalars(folder, "test_accuracy") == [(run.updates, pytest.approx(run.test_accuracy))]


def test_table_shows_the_numbers_and_is_printed(by_epochs):
    result, lines = by_epochs
    table = format_table(result)
    assert table in lines
    body = table.splitlines()[2:5]
    for line, run in zip(body, result.regimes):
        assert line.startswith(run.name)
        assert f"{run.updates_per_epoch:,}" in line.split()
        assert f"{run.test_accuracy:.4f}" in line.split()


def test_progress_is_printed_for_every_regime(by_epochs):
    _, lines = by_epochs
    for name in ("full batch", "SGD", "mini-batch"):
        assert any(line.strip().startswith(name) and "val_loss" in line for line in lines)


def test_seconds_budget_stops_every_regime_on_time(by_seconds):
    result, lines = by_seconds
    for run in result.regimes:
        assert run.stopped_by == "seconds"
        assert 1.0 <= run.train_seconds < 1.0 + 2.0  # Overrun: at most one call of 4 updates.
        assert run.curve[-1].seconds == pytest.approx(run.train_seconds, abs=0.5)
    assert len(regime(result, "1").curve) >= 5  # The time curve has points, not just the end.
    assert any(line.strip().startswith("SGD") for line in lines)


def test_a_used_workdir_is_refused(by_epochs):
    result, _ = by_epochs
    with pytest.raises(RunDirError, match="already holds a batch size comparison"):
        compare_batch_sizes(TINY, "32", result.workdir, budget_epochs=1, budget_seconds=None)


@pytest.mark.parametrize("text, expected", [
    ("full,1,32", ("full", 1, 32)),
    (" FULL , 64", ("full", 64)),
    ("8", (8,)),
    (["full", "1", 32], ("full", 1, 32)),
])
def test_parse_batch_sizes(text, expected):
    assert parse_batch_sizes(text) == expected


@pytest.mark.parametrize("text, why", [
    ("", "must be a comma-separated list"),
    ("full,0", "0 is below 1"),
    ("32,abc", "'abc' is neither"),
    ("1.5", "'1.5' is neither"),
    ("32,full,32", "32 is repeated"),
    ("1,,2", "'' is neither"),
    ([True], "must be a comma-separated list"),
])
def test_parse_batch_sizes_refuses(text, why):
    with pytest.raises(ConfigError, match=why) as caught:
        parse_batch_sizes(text)
    assert caught.value.field == "batch_sizes"


@pytest.mark.parametrize("epochs, seconds, field", [
    (None, None, "budget_epochs"),
    (0, None, "budget_epochs"),
    (1.5, None, "budget_epochs"),
    (None, 0, "budget_seconds"),
    (None, float("inf"), "budget_seconds"),
    (None, float("nan"), "budget_seconds"),
])
def test_check_budget_refuses(epochs, seconds, field):
    with pytest.raises(ConfigError) as caught:
        check_budget(epochs, seconds)
    assert caught.value.field == field


def test_auto_compiles_every_regime_alike(tmp_path, monkeypatch):
    # Each regime plans a different number of updates; `auto` must not give batch 1 XLA and batch 32 none.
    from keras_minibatch.batch_sizes import comparison

    chosen = {}

    class RecordingTrainer(comparison.Trainer):
        def __init__(self, config, **kwargs):
            super().__init__(config, **kwargs)
            chosen[kwargs["batch_size"]] = self.jit_compile

    monkeypatch.setattr(comparison, "Trainer", RecordingTrainer)
    assert TINY.jit_compile == "auto"
    compare_batch_sizes(TINY, "full,1,32", tmp_path / "compare", budget_epochs=1, budget_seconds=None)
    assert len(chosen) == 3 and set(chosen.values()) == {True}
