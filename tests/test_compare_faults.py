"""`compare` under faults, through the real CLI: tiny budgets, duplicate regimes, a second process, Ctrl-C."""

import csv
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

SMALL = ("compare", "--dataset=digits", "--max_train_samples=300", "--hidden_units=8")


def start(*args, cwd=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "keras_minibatch", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rows_of(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def test_a_tiny_seconds_budget_finishes(tmp_path):
    process = start(*SMALL, "--batch_sizes=32", "--budget_seconds=1e-9", f"--workdir={tmp_path / 'c'}")
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    assert len(rows_of(tmp_path / "c" / "comparison.csv")) == 1


def test_batch_sizes_that_are_the_same_regime_train_once(tmp_path):
    process = start(*SMALL, "--batch_sizes=full,100000,270,32", "--budget_epochs=1", f"--workdir={tmp_path / 'c'}")
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    assert "batch 100000 is the same regime as full on 270 training rows (batch 270); trained once" in out
    assert "batch 270 is the same regime as full" in out
    assert [row["batch_size"] for row in rows_of(tmp_path / "c" / "comparison.csv")] == ["270", "32"]


def _wait_for(process, text, timeout=120):
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} never printed: {''.join(seen)[-2000:]}")


def test_ctrl_c_in_the_second_regime_keeps_the_first_and_says_what_to_do(tmp_path):
    workdir = tmp_path / "c"
    # 10 s per regime: the first finishes, the second is interrupted 2 s into its budget.
    process = start(*SMALL, "--batch_sizes=full,1", "--budget_seconds=10", f"--workdir={workdir}")
    try:
        _wait_for(process, "SGD (batch 1): training for")
        time.sleep(2)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert [row["regime"] for row in rows_of(workdir / "comparison.csv")] == ["full batch"]
    assert "keeps the regimes that finished (comparison.csv); compare has no --resume: rerun with --overwrite" in err
    assert "--resume\n" not in err and len(err.strip().splitlines()) == 1


def test_two_compares_on_one_folder_do_not_both_run(tmp_path):
    workdir = tmp_path / "c"
    first = start(*SMALL, "--batch_sizes=1", "--budget_seconds=60", f"--workdir={workdir}")
    try:
        _wait_for(first, "SGD (batch 1): training for")
        second = start(*SMALL, "--batch_sizes=32", "--budget_epochs=1", f"--workdir={workdir}", "--overwrite")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 1 and f"is in use by process {first.pid}" in err, err
        assert first.poll() is None
    finally:
        first.kill()
        first.communicate()
