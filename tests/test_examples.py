"""Every script in examples/ runs, at a tiny size, as the README shows it."""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
pytestmark = pytest.mark.integration


def load(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def test_train_with_callbacks(capsys):
    scores = load("train_with_callbacks.py")["main"](epochs=2)
    assert 0 <= scores["accuracy"] <= 1
    assert capsys.readouterr().out.count("epoch ") >= 2


def test_evaluate_saved_model_scores_a_cli_run(tmp_path):
    run = tmp_path / "run"
    trained = subprocess.run([sys.executable, "-m", "keras_minibatch", "train", "--dataset=digits", "--epochs=1", "--hidden_units=16", f"--workdir={run}"], capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    scores = load("evaluate_saved_model.py")["main"](str(run))
    assert scores["accuracy"] == pytest.approx(json.loads((run / "metrics.json").read_text())["test_accuracy"], abs=1e-6)


@pytest.mark.parametrize("script", ["random_search.py", "bayesian_search.py"])
def test_searches_from_python(tmp_path, script):
    best = load(script)["main"](max_trials=2, epochs=1, workdir=str(tmp_path / "search"))
    assert best
    assert (tmp_path / "search" / "best_hyperparameters.json").is_file()


def test_custom_callback_through_the_cli(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "keras_minibatch", "train", "--dataset=digits", "--epochs=2", "--hidden_units=16",
         f"--workdir={tmp_path / 'run'}", "--callbacks=my_callbacks:PrintLearningRate(every=1)"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(EXAMPLES)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("learning rate 0.001") == 2


def test_predict_drawn_digit_classifies_a_seven_drawn_on_white_paper(tmp_path, mnist_t10k_dir, capsys, monkeypatch):
    run = tmp_path / "run"
    trained = subprocess.run(
        [sys.executable, "-m", "keras_minibatch", "train", f"--dataset={mnist_t10k_dir}", "--epochs=4", "--max_train_samples=4000",
         "--hidden_units=128", f"--workdir={run}"],
        capture_output=True, text=True, timeout=300,
    )
    assert trained.returncode == 0, trained.stderr
    monkeypatch.chdir(tmp_path)
    assert load("predict_drawn_digit.py")["main"](str(run)) == 7
    assert (tmp_path / "my_digit.png").is_file()
    assert "my_digit.png: 7 with probability" in capsys.readouterr().out
