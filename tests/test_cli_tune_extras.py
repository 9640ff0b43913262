"""`tune --compare`, `--seed_variance` and KerasTuner's distributed mode from the command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = ["--dataset=digits", "--max_train_samples=200", "--epochs=1", "--max_trials=2"]


DISTRIBUTED = {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}


def run_cli(*args, env_extra=None, timeout=300):
    env = {key: value for key, value in os.environ.items() if not key.startswith("KERASTUNER_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "keras_minibatch", *args], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=timeout, check=False)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["tune", "--seed_variance=1"], {}, "--seed_variance=1 must be 0 (off) or a number of seeds >= 2"),
        (["tune", "--seed_variance=-3"], {}, "--seed_variance=-3 must be 0 (off) or a number of seeds >= 2"),
        (["tune", "--compare", "--seed_variance=3"], {}, "--seed_variance retrains one search's winner; it cannot be combined with --compare"),
        (["tune", "--num_initial_points=0"], {}, "--num_initial_points=0 must be an integer >= 1"),
        (["tune"], DISTRIBUTED, "a distributed search (KERASTUNER_ORACLE_IP is set) needs --workdir"),
        (["tune", "--compare", "--workdir=x"], DISTRIBUTED, "--compare runs its searches one after another and cannot be distributed"),
    ],
)
def test_bad_tune_flags_are_refused_in_one_line(args, env, expected):
    result = run_cli(*args, env_extra=env, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert expected in result.stderr


def test_a_comparison_folder_is_refused_without_resume_or_overwrite(tmp_path):
    (tmp_path / "comparison_config.json").write_text("{}")
    result = run_cli("tune", "--compare", f"--workdir={tmp_path}", timeout=60)
    assert result.returncode == 1 and "already holds a strategy comparison; pass --resume to continue it" in result.stderr


@pytest.mark.integration
def test_compare_writes_its_table_csv_and_plot(tmp_path):
    result = run_cli("tune", "--compare", *TINY, "--fix=num_layers=1,dropout=0", f"--workdir={tmp_path / 'c'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "  trial       grid     random   bayesian" in result.stdout
    assert {"comparison.csv", "comparison.png", "comparison.json", "grid", "random", "bayesian"} <= {path.name for path in (tmp_path / "c").iterdir()}


@pytest.mark.integration
def test_seed_variance_follows_the_search(tmp_path):
    result = run_cli("tune", *TINY, "--seed_variance=2", f"--workdir={tmp_path / 's'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "seed variance: trial " in result.stdout and "mean ± std" in result.stdout
    assert json.loads((tmp_path / "s" / "seed_variance.json").read_text())["seeds"] == [1, 2]


@pytest.mark.parametrize("recorded, given, expected", [(True, None, True), (False, None, False), ("auto", None, "auto"), (True, "false", False)])
def test_a_search_recorded_before_auto_resumes_with_its_own_xla_choice(recorded, given, expected):
    from absl import flags
    from absl.testing import flagsaver

    from keras_minibatch import TrainConfig
    from keras_minibatch.cli import flags as cli_flags
    from keras_minibatch.cli.tune_command import _keep_recorded_xla_choice

    record = {"train_config": {"jit_compile": recorded}}  # search_config.json as check_search_dir returns it
    with flagsaver.flagsaver():
        if given is not None:
            flags.FLAGS["jit_compile"].parse(given)  # as if given on the command line
        assert _keep_recorded_xla_choice(TrainConfig(jit_compile=cli_flags.JIT_COMPILE.value), record).jit_compile == expected  # the flag given wins
        assert _keep_recorded_xla_choice(TrainConfig(jit_compile=cli_flags.JIT_COMPILE.value), None).jit_compile == cli_flags.JIT_COMPILE.value  # a new search
        assert _keep_recorded_xla_choice(TrainConfig(), {"train_config": ["damaged"]}).jit_compile == "auto"


def test_resuming_an_old_search_without_the_flag_passes_the_cli_checks(tmp_path):
    # The folder check and the fingerprint comparison run on the recorded choice, before TensorFlow.
    import json

    from keras_minibatch import TrainConfig
    from keras_minibatch.tuning import search_folder
    from keras_minibatch.tuning.search_config import SearchConfig

    old = TrainConfig(dataset="digits", jit_compile=True)
    fingerprint = search_folder.config_fingerprint(old, SearchConfig())
    assert fingerprint != search_folder.config_fingerprint(TrainConfig(dataset="digits"), SearchConfig())  # auto alone would be refused
    record = {"fingerprint": fingerprint, "search_config": SearchConfig().to_dict(), "train_config": old.to_dict()}
    from keras_minibatch.cli.tune_command import _keep_recorded_xla_choice

    adopted = _keep_recorded_xla_choice(TrainConfig(dataset="digits"), json.loads(json.dumps(record)))
    search_folder.check_same_search(record["fingerprint"], search_folder.config_fingerprint(adopted, SearchConfig()), tmp_path)
