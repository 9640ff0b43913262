"""Plots: real PNG files whose drawn data match the numbers they were given."""

import math
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from keras_minibatch.plots import figures, search_plots, training_plots
from keras_minibatch.plots.plot_process import PlotProcess
from keras_minibatch.run_folders.rundir import RunDirError

REPO_ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HISTORY = {
    "loss": [1.2, 0.8, 0.5],
    "accuracy": [0.5, 0.7, 0.8],
    "val_loss": [1.0, 0.9, 0.7],
    "val_accuracy": [0.6, 0.65, 0.75],
}


def assert_is_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width, channels = matplotlib.image.imread(path).shape
    assert height > 100 and width > 100 and channels in (3, 4)


def lines_by_label(axes):
    return {line.get_label(): line for line in axes.get_lines()}


def trial_objectives_figure(trials, objective, *, direction=None):
    """Each trial's objective (dots, in trial order) and the best so far (a step line).

    Only these tests draw it: it exercises `search_plots.objective_direction` and
    `search_plots.best_so_far` on one search's trials, `None` marking a failed trial.
    """
    if not trials:
        raise ValueError("`trials` is empty; pass one mapping per finished trial.")
    direction = search_plots.objective_direction(objective, direction)
    values = []
    for index, trial in enumerate(trials):
        value = trial.get(objective)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))):
            raise ValueError(f"trial {index + 1} has {objective}={value!r}; expected a number or None. Keys: {sorted(trial)}.")
        values.append(None if value is None else float(value))
    numbers = list(range(1, len(values) + 1))
    scores = [math.nan if value is None else value for value in values]

    figure = figures.new_figure((max(5.0, 0.25 * len(values) + 3.0), 4.0))
    axes = figure.subplots()
    axes.plot(numbers, scores, linestyle="none", marker="o", label=objective)
    axes.plot(numbers, search_plots.best_so_far(values, direction), drawstyle="steps-post", label=f"best so far ({direction})")
    axes.set_xlabel("trial")
    axes.set_ylabel(objective)
    num_failed = values.count(None)
    axes.set_title(f"{objective} per trial" + (f" ({num_failed} without a value)" if num_failed else ""))
    figures.integer_ticks(axes.xaxis)
    axes.set_xlim(0.5, len(values) + 0.5)
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def test_learning_curves_png_is_written_and_opens_as_an_image(tmp_path):
    path = training_plots.plot_learning_curves(HISTORY, tmp_path / "learning_curves.png")
    assert path == tmp_path / "learning_curves.png"
    assert_is_png(path)
    assert [p.name for p in tmp_path.iterdir()] == ["learning_curves.png"]  # no temporary file left


def test_learning_curves_draw_the_history_per_1_based_epoch():
    figure = training_plots.learning_curves_figure(HISTORY)
    loss_axes, accuracy_axes = figure.axes
    for axes, name in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        assert axes.get_title() == name
        lines = lines_by_label(axes)
        assert set(lines) == {"train", "validation"}
        assert list(lines["train"].get_xdata()) == [1, 2, 3]
        assert list(lines["train"].get_ydata()) == HISTORY[name]
        assert list(lines["validation"].get_ydata()) == HISTORY[f"val_{name}"]


@pytest.mark.parametrize("num_epochs", [1, 2, 12, 200])
def test_learning_curves_epoch_ticks_are_integers(num_epochs):
    figure = training_plots.learning_curves_figure({"loss": [0.5] * num_epochs, "val_loss": [0.6] * num_epochs}, metrics=("loss",))
    figure.canvas.draw()
    ticks = [tick for tick in figure.axes[0].get_xticks() if 0.5 <= tick <= num_epochs + 0.5]
    assert ticks and all(float(tick).is_integer() for tick in ticks)


def test_learning_curves_without_validation_draw_train_only():
    figure = training_plots.learning_curves_figure({"loss": [0.3, 0.2]}, metrics=("loss",))
    assert set(lines_by_label(figure.axes[0])) == {"train"}


@pytest.mark.parametrize(
    "history, metrics, match",
    [
        ({"loss": [1.0]}, ("loss", "accuracy"), r"no 'accuracy' series; it has \['loss'\]"),
        ({"loss": [1.0, 0.5], "val_loss": [1.0]}, ("loss",), "one value per epoch"),
        ({"loss": []}, ("loss",), "one value per epoch"),
        ({"loss": [1.0]}, (), "`metrics` is empty"),
    ],
)
def test_learning_curves_reject_unusable_histories(history, metrics, match):
    with pytest.raises(ValueError, match=match):
        training_plots.learning_curves_figure(history, metrics=metrics)


def test_confusion_matrix_counts_a_hand_made_case():
    y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 2, 2, 0, 2]
    expected = np.array([[1, 1, 0], [0, 2, 1], [1, 0, 3]])
    np.testing.assert_array_equal(training_plots.confusion_matrix(y_true, y_pred, 3), expected)


def test_confusion_matrix_keeps_classes_never_seen():
    matrix = training_plots.confusion_matrix(np.array([0, 0]), np.array([0, 0]), 4)
    assert matrix.shape == (4, 4) and matrix.sum() == 2 and matrix[0, 0] == 2


def test_confusion_matrix_accepts_integral_float_labels():
    np.testing.assert_array_equal(training_plots.confusion_matrix(np.array([1.0, 0.0]), [1, 1], 2), [[0, 1], [0, 1]])


@pytest.mark.parametrize(
    "y_true, y_pred, num_classes, match",
    [
        ([0, 1], [0], 2, "`y_true` has 2 labels but `y_pred` has 1"),
        ([0, 3], [0, 1], 3, r"label 3, outside 0..2"),
        ([0, -1], [0, 1], 3, r"label -1, outside 0..2"),
        ([0.5, 1.0], [0, 1], 3, "integer class labels"),
        ([0, 1], [[0.9, 0.1], [0.2, 0.8]], 2, r"np.argmax\(probabilities, axis=-1\)"),
        ([0], [0], 0, r"`num_classes` \(0\) must be an integer >= 1"),
    ],
)
def test_confusion_matrix_rejects_bad_labels(y_true, y_pred, num_classes, match):
    with pytest.raises(ValueError, match=match):
        training_plots.confusion_matrix(y_true, y_pred, num_classes)


def test_confusion_matrix_png_annotates_every_count(tmp_path):
    y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 2, 2, 0, 2]
    path = training_plots.plot_confusion_matrix(y_true, y_pred, 3, tmp_path / "confusion_matrix.png", title="Test split")
    assert_is_png(path)

    figure = training_plots.confusion_matrix_figure(training_plots.confusion_matrix(y_true, y_pred, 3), title="Test split")
    axes = figure.axes[0]
    cells = {(round(text.get_position()[1]), round(text.get_position()[0])): int(text.get_text()) for text in axes.texts}
    assert cells == {(0, 0): 1, (0, 1): 1, (0, 2): 0, (1, 0): 0, (1, 1): 2, (1, 2): 1, (2, 0): 1, (2, 1): 0, (2, 2): 3}
    assert axes.get_ylabel() == "true label" and axes.get_xlabel() == "predicted label"
    assert axes.get_title() == "Test split\n6/9 correct (66.67%)"


@pytest.mark.parametrize(
    "values, direction, expected",
    [
        ([0.5, 0.4, 0.6], "min", [0.5, 0.4, 0.4]),
        ([0.5, 0.4, 0.6], "max", [0.5, 0.5, 0.6]),
        ([None, 0.7, math.nan, 0.9], "max", [math.nan, 0.7, 0.7, 0.9]),
    ],
)
def test_best_so_far_skips_failed_trials(values, direction, expected):
    np.testing.assert_array_equal(search_plots.best_so_far(values, direction), expected)


def test_trial_objectives_plot_each_trial_and_the_running_best(tmp_path):
    trials = [{"val_loss": 0.5}, {"val_loss": 0.7}, {"val_loss": None}, {"val_loss": 0.3}]
    assert_is_png(figures.save_figure(trial_objectives_figure(trials, "val_loss"), tmp_path / "trials.png"))

    axes = trial_objectives_figure(trials, "val_loss").axes[0]
    lines = lines_by_label(axes)
    assert list(lines["val_loss"].get_xdata()) == [1, 2, 3, 4]
    np.testing.assert_array_equal(lines["val_loss"].get_ydata(), [0.5, 0.7, math.nan, 0.3])
    assert list(lines["best so far (min)"].get_ydata()) == [0.5, 0.5, 0.5, 0.3]
    assert "1 without a value" in axes.get_title()
    figure = axes.get_figure()
    figure.canvas.draw()
    assert all(float(tick).is_integer() for tick in axes.get_xticks())


@pytest.mark.parametrize(
    "objective, direction",
    [("val_accuracy", "max"), ("accuracy", "max"), ("val_loss", "min"), ("loss", "min")],
)
def test_trial_objectives_infer_the_direction_from_the_name(objective, direction):
    axes = trial_objectives_figure([{objective: 0.1}], objective).axes[0]
    assert f"best so far ({direction})" in lines_by_label(axes)


@pytest.mark.parametrize(
    "trials, objective, direction, match",
    [
        ([], "val_loss", None, "`trials` is empty"),
        ([{"score": 0.1}], "score", None, "pass `direction='min'` or `direction='max'`"),
        ([{"val_loss": 0.1}], "val_loss", "lowest", r"`direction` \('lowest'\) must be 'min' or 'max'"),
        ([{"val_loss": "0.1"}], "val_loss", None, r"trial 1 has val_loss='0.1'; expected a number"),
    ],
)
def test_trial_objectives_reject_bad_arguments(trials, objective, direction, match):
    with pytest.raises(ValueError, match=match):
        trial_objectives_figure(trials, objective, direction=direction)


def test_strategy_comparison_draws_each_strategys_best_so_far_and_its_trials(tmp_path):
    objectives = {"grid": [0.5, 0.6, None], "random": [0.4, 0.7, 0.65, 0.8]}
    assert_is_png(search_plots.plot_strategy_comparison(objectives, "val_accuracy", tmp_path / "comparison.png", budget=5))

    axes = search_plots.strategy_comparison_figure(objectives, "val_accuracy", budget=5).axes[0]
    lines = lines_by_label(axes)
    assert list(lines["grid"].get_ydata()) == [0.5, 0.6, 0.6]
    assert list(lines["random"].get_xdata()) == [1, 2, 3, 4]
    assert list(lines["random"].get_ydata()) == [0.4, 0.7, 0.7, 0.8]
    assert lines["grid"].get_linestyle() != lines["random"].get_linestyle()  # equal curves stay visible
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["grid", "random"]
    assert axes.get_xlim() == (0.5, 5.5)


@pytest.mark.parametrize(
    "objectives, direction, match",
    [
        ({}, None, "`objectives` is empty"),
        ({"grid": []}, None, "strategy 'grid' has no trials"),
        ({"grid": [0.1, "high"]}, None, r"strategy 'grid' trial 2 has val_accuracy='high'"),
        ({"grid": [0.1]}, "up", r"`direction` \('up'\) must be 'min' or 'max'"),
    ],
)
def test_strategy_comparison_rejects_bad_arguments(objectives, direction, match):
    with pytest.raises(ValueError, match=match):
        search_plots.strategy_comparison_figure(objectives, "val_accuracy", direction=direction)


def test_saving_replaces_an_existing_file(tmp_path):
    path = tmp_path / "learning_curves.png"
    path.write_bytes(b"old")
    training_plots.plot_learning_curves(HISTORY, path)
    assert_is_png(path)


def test_saving_into_a_missing_folder_names_the_path(tmp_path):
    with pytest.raises(RunDirError, match="missing.*the folder does not exist"):
        training_plots.plot_learning_curves(HISTORY, tmp_path / "missing" / "learning_curves.png")


def test_saving_with_an_unknown_suffix_lists_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"use one of the suffixes .*\.png"):
        training_plots.plot_learning_curves(HISTORY, tmp_path / "curves.bmpx")
    assert not list(tmp_path.iterdir())


def test_plotting_needs_no_display_and_leaves_pyplot_alone(tmp_path):
    # A fresh interpreter without DISPLAY: importing pyplot or switching the backend would show here.
    probe = (
        "import sys\n"
        "from keras_minibatch.plots import training_plots\n"
        f"training_plots.plot_learning_curves({HISTORY!r}, {str(tmp_path / 'curves.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "HOME": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert_is_png(tmp_path / "curves.png")


def test_the_plot_process_draws_what_it_is_handed(tmp_path):
    with PlotProcess() as plots:
        plots.learning_curves(HISTORY, tmp_path / "learning_curves.png")
        plots.confusion_matrix(np.array([[3, 1], [0, 4]]), tmp_path / "confusion_matrix.png", title="Test split")
        plots.finish()
    assert_is_png(tmp_path / "learning_curves.png")
    assert_is_png(tmp_path / "confusion_matrix.png")


def test_a_figure_the_plot_process_cannot_write_is_one_run_dir_error(tmp_path):
    with PlotProcess() as plots:
        plots.learning_curves(HISTORY, tmp_path / "missing" / "learning_curves.png")
        with pytest.raises(RunDirError, match="the folder does not exist"):
            plots.finish()


def test_a_drawing_error_in_the_plot_process_is_raised_by_finish(tmp_path):
    with PlotProcess() as plots:
        plots.learning_curves({"loss": []}, tmp_path / "learning_curves.png")
        with pytest.raises(RuntimeError, match=r"drawing the run's plots failed \(ValueError: `history` has no 'accuracy' series"):
            plots.finish()


def test_without_a_second_process_the_figures_are_drawn_here(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    with PlotProcess() as plots:
        plots.learning_curves(HISTORY, tmp_path / "learning_curves.png")
        assert_is_png(tmp_path / "learning_curves.png")  # Drawn as it was handed over.
        plots.finish()


def test_the_plot_process_imports_this_package_whatever_the_current_folder_holds(tmp_path, monkeypatch):
    decoy = tmp_path / "elsewhere" / "keras_minibatch"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the wrong keras_minibatch')\n")
    monkeypatch.chdir(decoy.parent)
    with PlotProcess() as plots:
        plots.learning_curves(HISTORY, tmp_path / "learning_curves.png")
        plots.finish()
    assert_is_png(tmp_path / "learning_curves.png")
