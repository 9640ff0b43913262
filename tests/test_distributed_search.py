"""Distributed search on KerasTuner's chief/worker mode: one chief and two workers on 127.0.0.1."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras_tuner
import pytest
from keras_tuner.engine.trial import Trial

from keras_minibatch.config import ConfigError
from keras_minibatch.tuning.trial_recorder import TrialRecorder
from keras_minibatch.tuning.tuners import distributed_role
from keras_minibatch.tuning.search import load_tuner

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_TRAIN = {"dataset": "digits", "max_train_samples": 300, "epochs": 1, "hidden_units": [16], "batch_size": 32}
TINY_SPACE = {"tuner": "random", "max_trials": 4, "num_layers_range": [1, 3], "units_choices": [8, 16], "batch_size_choices": [32, 64]}
DEADLINE_SECONDS = 240

# What `keras-minibatch tune` does once its flags are checked: build the configs, call `search`.
_RUNNER = textwrap.dedent(
    """
    import json, sys
    from keras_minibatch import SearchConfig, TrainConfig, search

    result = search(TrainConfig(**json.loads(sys.argv[2])), SearchConfig.from_dict(json.loads(sys.argv[3])), sys.argv[1])
    widths = [sorted(name for name in row["hyperparameters"] if name.startswith("units_")) for row in result.trials]
    print("RESULT", json.dumps({
        "role": result.role, "trial_ids": [row["trial_id"] for row in result.trials],
        "widths_match_depth": all(len(names) == row["hyperparameters"]["num_layers"] for names, row in zip(widths, result.trials)),
    }))
    """
)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("env", "role"),
    [
        ({}, "local"),
        ({"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}, "chief"),
        ({"KERASTUNER_TUNER_ID": "tuner0", "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000"}, "worker"),
    ],
)
def test_role_comes_from_kerastuners_environment(monkeypatch, env, role):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert distributed_role() == role


def test_incomplete_distributed_environment_is_refused_naming_the_missing_variable(monkeypatch):
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT", raising=False)
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    with pytest.raises(ConfigError, match="KERASTUNER_ORACLE_PORT"):
        distributed_role()


def test_trial_rows_keep_only_active_widths_after_a_grpc_round_trip(tmp_path):
    hp = keras_tuner.HyperParameters()
    hp.Int("num_layers", 1, 3, default=3)  # registered at depth 3, so every width gets a default
    for index in range(1, 4):
        with hp.conditional_scope("num_layers", list(range(index, 4))) if index > 1 else contextlib.nullcontext():
            hp.Choice(f"units_{index}", [8, 16])
    hp.values = {"num_layers": 1, "units_1": 16}
    sent = Trial(hp, trial_id="0", status="RUNNING")
    received = Trial.from_proto(sent.to_proto())  # what a worker's `oracle.get_trial` returns
    assert "units_3" in received.hyperparameters.values  # KerasTuner fills in inactive defaults
    recorder = TrialRecorder(tmp_path, tensorboard_dir=tmp_path, objective="val_accuracy", max_trials=1, print_fn=None, role="worker")
    assert recorder.row(received)["hyperparameters"] == {"num_layers": 1, "units_1": 16}


@pytest.mark.integration
def test_chief_and_two_workers_finish_a_search_running_each_trial_once(tmp_path):
    workdir = tmp_path / "search"
    runner = tmp_path / "runner.py"
    runner.write_text(_RUNNER)
    port = _free_loopback_port()
    processes = {}
    with contextlib.ExitStack() as logs:
        try:
            for tuner_id in ("chief", "tuner0", "tuner1"):
                env = {
                    **os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                    "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port),
                }
                log = logs.enter_context(open(tmp_path / f"{tuner_id}.log", "w"))
                processes[tuner_id] = subprocess.Popen(
                    [sys.executable, str(runner), str(workdir), json.dumps(TINY_TRAIN), json.dumps(TINY_SPACE)],
                    stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
                )
            deadline = time.monotonic() + DEADLINE_SECONDS
            for tuner_id in ("tuner0", "tuner1", "chief"):  # the chief ends after its workers
                processes[tuner_id].wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            for process in processes.values():  # only the children this test started
                if process.poll() is None:
                    process.kill()
                    process.wait()
    output = {tuner_id: (tmp_path / f"{tuner_id}.log").read_text() for tuner_id in processes}
    for tuner_id, process in processes.items():
        assert process.returncode == 0, f"{tuner_id} exited {process.returncode}:\n{output[tuner_id][-3000:]}"
    results = {tuner_id: json.loads(output[tuner_id].split("RESULT ", 1)[1]) for tuner_id in processes}
    assert {tuner_id: result["role"] for tuner_id, result in results.items()} == {"chief": "chief", "tuner0": "worker", "tuner1": "worker"}

    # Every trial ran exactly once, on one of the workers.
    ran = results["tuner0"]["trial_ids"] + results["tuner1"]["trial_ids"]
    assert sorted(ran) == ["0", "1", "2", "3"]
    assert all(result["widths_match_depth"] for result in results.values())  # no inactive layer widths, on any side
    assert sorted(path.name for path in (workdir / "tuner").glob("trial_*")) == ["trial_0", "trial_1", "trial_2", "trial_3"]
    assert all((workdir / "tensorboard" / trial_id / "execution0" / "validation").is_dir() for trial_id in ran)

    # The chief, holding the oracle, wrote the table and the summary alone.
    rows = json.loads((workdir / "trials.json").read_text())
    assert [(row["trial_id"], row["status"]) for row in rows] == [(str(n), "COMPLETED") for n in range(4)]
    assert results["chief"]["trial_ids"] == ["0", "1", "2", "3"]
    assert sorted(line.split("  ")[0] for line in output["chief"].splitlines() if line.startswith("trial ")) == [f"trial {n}/4" for n in range(1, 5)]
    best = json.loads((workdir / "best_hyperparameters.json").read_text())
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert best["trial_id"] == metrics["best_trial_id"] and metrics["num_completed"] == 4
    assert (workdir / "model.keras").is_file() and "test:  accuracy" in output["chief"]
    assert all("test:" not in output[worker] and "rank  trial" not in output[worker] for worker in ("tuner0", "tuner1"))
    assert not [line for text in output.values() for line in text.splitlines() if line.strip().isdigit()]  # KerasTuner's stray print

    # KerasTuner's own reload finds every trial, with or without a worker's `tuner0.json` beside the chief's.
    assert sorted(load_tuner(workdir).oracle.trials) == ["0", "1", "2", "3"]
    for worker_file in (workdir / "tuner").glob("tuner*.json"):
        worker_file.unlink()
    assert sorted(load_tuner(workdir).oracle.trials) == ["0", "1", "2", "3"]


def _tune_process(workdir, port, tuner_id, *extra, log):
    env = {
        **os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
        "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port),
    }
    args = ["tune", "--dataset=digits", "--max_train_samples=200", "--hidden_units=8", "--epochs=1", "--max_trials=2", f"--workdir={workdir}", *extra]
    return subprocess.Popen([sys.executable, "-m", "keras_minibatch", *args], stdout=log, stderr=subprocess.STDOUT, env=env, text=True)


@pytest.mark.integration
@pytest.mark.parametrize("mismatch", [("--epochs=2",), ("--max_train_samples=150",), ("--tuner=bayesian",)])
def test_a_worker_of_another_search_is_refused_before_its_first_trial(tmp_path, mismatch):
    workdir, port = tmp_path / "search", _free_loopback_port()
    with open(tmp_path / "chief.log", "w") as chief_log, open(tmp_path / "worker.log", "w") as worker_log:
        chief = _tune_process(workdir, port, "chief", log=chief_log)
        try:
            worker = _tune_process(workdir, port, "tuner0", *mismatch, log=worker_log)
            worker.wait(timeout=DEADLINE_SECONDS)
        finally:
            chief.kill()
            chief.wait()
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    output = (tmp_path / "worker.log").read_text()
    assert worker.returncode == 1, output
    errors = [line for line in output.splitlines() if line.startswith("keras-minibatch: error: ")]
    assert len(errors) == 1 and "this worker does not run the chief's search" in errors[0], output
    assert "Traceback" not in output and not list((workdir / "tuner").glob("trial_*"))  # no trial of another search


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"KERASTUNER_ORACLE_PORT": "abc"}, "KERASTUNER_ORACLE_PORT=abc must be a port number from 1 to 65535"),
        ({"KERASTUNER_ORACLE_PORT": "99999"}, "KERASTUNER_ORACLE_PORT=99999 must be a port number from 1 to 65535"),
        ({"KERASTUNER_ORACLE_IP": ""}, "KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_PORT set without KERASTUNER_ORACLE_IP: a distributed search needs all three (or none for a local search)"),
    ],
)
def test_a_malformed_distributed_environment_is_one_line_before_anything_changes(tmp_path, env, expected):
    full = {**os.environ, "KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000", **env}
    result = subprocess.run([sys.executable, "-m", "keras_minibatch", "tune", "--dataset=digits", f"--workdir={tmp_path / 's'}"],
                            capture_output=True, text=True, env=full, timeout=60)
    assert result.returncode == 2 and result.stderr.strip() == f"keras-minibatch: error: {expected}"
    assert not (tmp_path / "s").exists()
