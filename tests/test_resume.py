"""Nothing lost: resume after a crash, Ctrl-C and SIGTERM, divergence, locks, corrupt state."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_minibatch import TrainConfig, train_and_evaluate
from keras_minibatch.training import xla_choice
from keras_minibatch.training.checkpointing import load_checkpoint
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.locking import FolderLock
from keras_minibatch.run_folders.rundir import CorruptCheckpointError, RunDirError
from keras_minibatch.training import checkpoint_writer, saved_run
from keras_minibatch.training.run import DivergenceError

TINY = dict(dataset="digits", max_train_samples=300, epochs=4, hidden_units=(16,), batch_size=16)


class InterruptAfterEpoch(keras.callbacks.Callback):
    """Simulates Ctrl-C once epoch `epoch` (0-based) has ended and been checkpointed."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def weights_of(path):
    return keras.models.load_model(path).get_weights()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("whole")
    return train_and_evaluate(TrainConfig(**TINY), workdir, verbose=0)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_resumed_run_is_bit_identical_to_the_uninterrupted_one(tmp_path, early_stopping):
    config = TrainConfig(**TINY, early_stopping=early_stopping, early_stopping_patience=10)
    whole = train_and_evaluate(config, tmp_path / "whole", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(config, tmp_path / "cut", verbose=0, extra_callbacks=[InterruptAfterEpoch(1)])
    assert load_checkpoint(tmp_path / "cut" / "checkpoint").epochs_done == 2
    with FolderLock(tmp_path / "cut") as lock:  # the interrupted run's lock went with it
        assert lock.held
    resumed = train_and_evaluate(config, tmp_path / "cut", resume=True, verbose=0)
    assert resumed.history == whole.history
    assert resumed.test_metrics == whole.test_metrics
    for a, b in zip(weights_of(tmp_path / "whole" / "model.keras"), weights_of(tmp_path / "cut" / "model.keras")):
        np.testing.assert_array_equal(a, b)
    log_epochs = [json.loads(line)["epoch"] for line in (tmp_path / "cut" / "epochs.jsonl").read_text().splitlines()]
    assert log_epochs == [1, 2, 3, 4]


def test_early_stopping_state_and_best_weights_survive_a_resume(tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 8}, early_stopping=True, early_stopping_monitor="val_loss", early_stopping_patience=2, early_stopping_min_delta=0.05)
    whole = train_and_evaluate(config, tmp_path / "whole", verbose=0)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(config, tmp_path / "cut", verbose=0, extra_callbacks=[InterruptAfterEpoch(2)])
    resumed = train_and_evaluate(config, tmp_path / "cut", resume=True, verbose=0)
    assert resumed.stop_reason == whole.stop_reason
    assert len(resumed.history["loss"]) == len(whole.history["loss"])
    for a, b in zip(whole.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_run_killed_after_early_stopping_fired_finishes_without_training_more(tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 8}, early_stopping=True, early_stopping_patience=1, early_stopping_min_delta=10.0, restore_best_weights=True)
    whole = train_and_evaluate(config, tmp_path / "run", verbose=0)
    assert whole.stop_reason and len(whole.history["loss"]) == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # The kill: after the stopping epoch's checkpoint, before the results were written.
    (tmp_path / "run" / "metrics.json").unlink()
    (tmp_path / "run" / "model.keras").unlink()
    resumed = train_and_evaluate(config, tmp_path / "run", resume=True, verbose=0)
    assert resumed.history == whole.history and resumed.stop_reason == whole.stop_reason
    assert resumed.test_metrics == metrics_of(metrics)
    for saved, kept in zip(weights_of(tmp_path / "run" / "model.keras"), whole.model.get_weights()):
        np.testing.assert_array_equal(saved, kept)


def metrics_of(saved):
    return {key: saved[key] for key in ("test_loss", "test_accuracy")}


def test_resume_refuses_a_different_configuration(tmp_path, uninterrupted):
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(TrainConfig(**TINY), tmp_path, verbose=0, extra_callbacks=[InterruptAfterEpoch(0)])
    with pytest.raises(RunDirError, match=r"different configuration \(learning_rate: 0.001 there, 0.01 now\)"):
        train_and_evaluate(TrainConfig(**TINY, learning_rate=0.01), tmp_path, resume=True, verbose=0)


def test_resume_can_train_further_than_planned(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(TrainConfig(**TINY), tmp_path, verbose=0, extra_callbacks=[InterruptAfterEpoch(1)])
    resumed = train_and_evaluate(TrainConfig(**{**TINY, "epochs": 6}), tmp_path, resume=True, verbose=0)
    assert len(resumed.history["loss"]) == 6


def test_resume_keeps_the_xla_choice_auto_made_even_when_epochs_grew(tmp_path, monkeypatch):
    # 4 epochs of 17 updates fall short of this threshold; 6 epochs would reach it.
    monkeypatch.setattr(xla_choice, "AUTO_XLA_MIN_UPDATES", 80)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(TrainConfig(**TINY), tmp_path, verbose=0, extra_callbacks=[InterruptAfterEpoch(1)])
    longer = TrainConfig(**{**TINY, "epochs": 6})
    assert xla_choice.resolve_jit_compile(longer, num_updates=6 * 17) is True
    resumed = train_and_evaluate(longer, tmp_path, resume=True, verbose=0)
    assert not hasattr(resumed.model, "fused_updates")  # No XLA program: the run's recorded choice.
    assert json.loads((tmp_path / "config.json").read_text())["config"]["jit_compile"] is False


def test_resume_refuses_another_xla_choice_than_the_run_made(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(TrainConfig(**TINY), tmp_path, verbose=0, extra_callbacks=[InterruptAfterEpoch(0)])
    with pytest.raises(RunDirError, match=r"different configuration \(jit_compile: False there, True now\)"):
        train_and_evaluate(TrainConfig(**TINY, jit_compile=True), tmp_path, resume=True, verbose=0)


def test_a_finished_run_has_nothing_to_resume(uninterrupted):
    with pytest.raises(RunDirError, match="finished run"):
        train_and_evaluate(TrainConfig(**TINY), uninterrupted.workdir, resume=True, verbose=0)


def slowed_writes(monkeypatch, seconds, *, epochs_done):
    """The checkpoint write after `epochs_done` epochs takes `seconds` longer: a busy disk, so it is still under way."""
    real_write = checkpoint_writer.write_checkpoint

    def slow_write(directory, snapshot):
        if snapshot.epochs_done == epochs_done:
            time.sleep(seconds)
        real_write(directory, snapshot)

    monkeypatch.setattr(checkpoint_writer, "write_checkpoint", slow_write)


def test_an_interrupted_run_finishes_its_last_checkpoint_write_before_returning(tmp_path, monkeypatch):
    slowed_writes(monkeypatch, 0.5, epochs_done=2)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(TrainConfig(**TINY), tmp_path, verbose=0, extra_callbacks=[InterruptAfterEpoch(1)])
    assert load_checkpoint(tmp_path / "checkpoint").epochs_done == 2


def test_a_failed_checkpoint_write_stops_the_run_with_its_error_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_bytes = rundir.write_bytes_atomic

    def full_after_two_epochs(path, data):
        if path.name.startswith("epoch-0003"):
            raise RunDirError(f"cannot write {str(path)!r}: the disk is full")
        real_bytes(path, data)

    monkeypatch.setattr(rundir, "write_bytes_atomic", full_after_two_epochs)
    with pytest.raises(RunDirError, match="epoch-0003.variables.npz.*the disk is full"):
        train_and_evaluate(TrainConfig(**{**TINY, "epochs": 6}), tmp_path, verbose=0)
    assert load_checkpoint(tmp_path / "checkpoint").epochs_done == 2
    assert not (tmp_path / "metrics.json").exists()


def test_the_results_are_written_after_the_last_checkpoint(tmp_path, monkeypatch):
    slowed_writes(monkeypatch, 1.0, epochs_done=TINY["epochs"])  # longer than scoring the test split takes
    events = []
    real_json, real_save_results = rundir.write_json_atomic, saved_run.save_results
    monkeypatch.setattr(rundir, "write_json_atomic", lambda path, data: (real_json(path, data), events.append(path.name)))
    monkeypatch.setattr(saved_run, "save_results", lambda *args, **kwargs: (events.append("results begin"), real_save_results(*args, **kwargs)))
    train_and_evaluate(TrainConfig(**TINY), tmp_path, verbose=0)
    results_begin = events.index("results begin")
    assert events[:results_begin].count("state.json") == TINY["epochs"]  # every checkpoint committed before
    assert "state.json" not in events[results_begin:] and events[-1] == "metrics.json"


class PoisonWeights(keras.callbacks.Callback):
    """Turns one weight into NaN during epoch 3 (0-based 2), as a blown-up update would."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 2 and batch == 3:
            kernel = self.model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


def test_divergence_stops_with_epoch_and_batch_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(DivergenceError, match=r"loss became nan at epoch 3, batch 5; the last good checkpoint \(epoch 2\)"):
        # One update per batch hook, so the poison lands in batch 5 (fused steps would run them in one call).
        train_and_evaluate(TrainConfig(**{**TINY, "epochs": 6, "steps_per_execution": 1}), tmp_path, verbose=0, extra_callbacks=[PoisonWeights()])
    assert not (tmp_path / "model.keras").exists()  # NaN weights never become the model
    assert not (tmp_path / "metrics.json").exists()
    assert load_checkpoint(tmp_path / "checkpoint").epochs_done == 2
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["loss"][2] is None  # NaN, kept for inspection as JSON null


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda folder: (folder / "state.json").write_text("{not json"), "state.json' is corrupt"),
        (lambda folder: next(folder.glob("*.variables.npz")).write_bytes(b"truncated"), "could not be loaded"),
        (lambda folder: next(folder.glob("*.variables.npz")).unlink(), "is missing"),
    ],
    ids=["state", "weights", "missing-weights"],
)
def test_corrupt_checkpoint_is_named_with_the_way_out(tmp_path, damage, message):
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(TrainConfig(**TINY), tmp_path, verbose=0, extra_callbacks=[InterruptAfterEpoch(1)])
    damage(tmp_path / "checkpoint")
    with pytest.raises(CorruptCheckpointError, match=message) as caught:
        train_and_evaluate(TrainConfig(**TINY), tmp_path, resume=True, verbose=0)
    assert "--overwrite" in str(caught.value)


# --- The real command line, killed from outside. ---------------------------------------------

# Enough epochs (a few ms each) that a signal sent after epoch 2 lands mid-training, not after the run.
CLI_FLAGS = ["--dataset=digits", "--epochs=200", "--hidden_units=32", "--max_train_samples=600"]


def start_cli(*args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "keras_minibatch", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_epochs(workdir: Path, epochs: int, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads((workdir / "checkpoint" / "state.json").read_text())["epochs_done"] >= epochs:
                return
        except (OSError, ValueError, KeyError):
            pass
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError("training did not reach the epoch in time")


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cli") / "whole"
    result = subprocess.run([sys.executable, "-m", "keras_minibatch", "train", *CLI_FLAGS, f"--workdir={workdir}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads((workdir / "history.json").read_text())


@pytest.mark.integration
def test_sigkill_then_resume_matches_the_uninterrupted_run(tmp_path, cli_reference):
    workdir = tmp_path / "run"
    process = start_cli("train", *CLI_FLAGS, f"--workdir={workdir}")
    wait_for_epochs(workdir, 3, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)  # also closes the pipes
    resumed = subprocess.run([sys.executable, "-m", "keras_minibatch", "train", *CLI_FLAGS, f"--workdir={workdir}", "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stdout
    assert json.loads((workdir / "history.json").read_text()) == cli_reference


# The command line, killed by its own checkpoint writer just before or just after it commits epoch 3.
KILLED_WHILE_WRITING = """
import os, signal, sys
from keras_minibatch.run_folders import rundir
write_json_atomic, moment = rundir.write_json_atomic, sys.argv[1]

def write_and_die_around_epoch_3(path, data):
    epoch_3 = path.name == "state.json" and data["epochs_done"] == 3
    if epoch_3 and moment == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    write_json_atomic(path, data)
    if epoch_3 and moment == "after":
        os.kill(os.getpid(), signal.SIGKILL)

rundir.write_json_atomic = write_and_die_around_epoch_3
from keras_minibatch.cli.main import run
sys.argv = ["keras-minibatch", *sys.argv[2:]]
sys.exit(run())
"""


@pytest.mark.integration
@pytest.mark.parametrize("moment", ["before", "after"])
def test_sigkill_in_the_checkpoint_writer_then_resume_matches_the_uninterrupted_run(tmp_path, cli_reference, moment):
    workdir = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_WRITING, moment, "train", *CLI_FLAGS, f"--workdir={workdir}"], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    checkpoint = workdir / "checkpoint"
    assert json.loads((checkpoint / "state.json").read_text())["epochs_done"] == (2 if moment == "before" else 3)
    assert (checkpoint / "epoch-0003.variables.npz").is_file()  # written; committed only "after"
    resumed = subprocess.run([sys.executable, "-m", "keras_minibatch", "train", *CLI_FLAGS, f"--workdir={workdir}", "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((workdir / "history.json").read_text()) == cli_reference


@pytest.mark.integration
@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_signal_stops_cleanly_and_prints_the_resume_command(tmp_path, cli_reference, signum, code, name):
    workdir = tmp_path / "run"
    process = start_cli("train", *CLI_FLAGS, f"--workdir={workdir}")
    wait_for_epochs(workdir, 2, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert f"interrupted ({name})" in err and "Traceback" not in err
    command = shlex.split(err.strip().splitlines()[-1])
    assert command[0] == "keras-minibatch" and "--resume" in command
    resumed = subprocess.run([sys.executable, "-m", "keras_minibatch", *command[1:]], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((workdir / "history.json").read_text()) == cli_reference


# --- Searches: corrupt state, one process per folder, Ctrl-C. -------------------------------

TUNE_FLAGS = ["tune", "--dataset=digits", "--max_train_samples=300", "--epochs=1", "--tuner=random", "--hidden_units=16"]


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("search") / "s"
    result = subprocess.run([sys.executable, "-m", "keras_minibatch", *TUNE_FLAGS, "--max_trials=2", f"--workdir={workdir}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return workdir


@pytest.mark.integration
@pytest.mark.parametrize("damaged", ["tuner/oracle.json", "tuner/trial_0/trial.json", "search_config.json"])
def test_corrupt_search_state_is_named_with_the_way_out(tmp_path, finished_search, damaged):
    import shutil

    workdir = tmp_path / "s"
    shutil.copytree(finished_search, workdir)
    (workdir / damaged).write_text('{"truncated": ')
    result = subprocess.run([sys.executable, "-m", "keras_minibatch", *TUNE_FLAGS, "--max_trials=3", f"--workdir={workdir}", "--resume"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert damaged.split("/")[-1] in result.stderr and "is corrupt" in result.stderr and "--overwrite" in result.stderr


@pytest.mark.integration
def test_a_second_process_on_a_busy_search_folder_is_refused(tmp_path, finished_search):
    import shutil

    workdir = tmp_path / "s"
    shutil.copytree(finished_search, workdir)
    sleeper = subprocess.Popen(  # holds the folder's lock, as a running search would
        [sys.executable, "-c", "import sys, time; from keras_minibatch.run_folders.locking import FolderLock; "
         "FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)", str(workdir)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert sleeper.stdout.readline().strip() == "held"
        result = subprocess.run([sys.executable, "-m", "keras_minibatch", *TUNE_FLAGS, "--max_trials=3", f"--workdir={workdir}", "--resume"], capture_output=True, text=True, timeout=120)
    finally:
        sleeper.kill()
        sleeper.wait()
        sleeper.stdout.close()
    assert result.returncode == 1
    assert f"in use by process {sleeper.pid}" in result.stderr and len(result.stderr.splitlines()) == 1
    assert len(json.loads((workdir / "trials.json").read_text())) == 2  # nothing ran twice


@pytest.mark.integration
def test_sigterm_during_a_search_prints_the_resume_command_and_resume_finishes(tmp_path):
    workdir = tmp_path / "s"
    process = start_cli(*TUNE_FLAGS, "--epochs=3", "--max_trials=4", f"--workdir={workdir}")
    deadline = time.monotonic() + 180
    while not list((workdir / "tuner").glob("trial_1")) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    command = shlex.split(err.strip().splitlines()[-1])
    assert "--resume" in command
    resumed = subprocess.run([sys.executable, "-m", "keras_minibatch", *command[1:]], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    trials = json.loads((workdir / "trials.json").read_text())
    assert len(trials) == 4 and all(row["status"] == "COMPLETED" for row in trials)
